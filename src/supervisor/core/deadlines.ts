import type { WorkerAction } from './events.js';
import type { Slot, WorkerTable } from './table.js';

/*
 * Time as an input. Every deadline `grace run` keeps is the table's: it arms
 * one by name (`arm {key, ms}`), disarms it when what it waited for happened
 * (`disarm {key}`), and hears it come as an event (`timer {key}`). One small
 * adapter turns them into timers (platform/deadline-timers.ts); the tests
 * run a fake clock instead. The table lists what it armed (`armed`), so a
 * timer that comes after its deadline was disarmed (the state moved on in
 * the same turn) finds nothing armed and changes nothing (step.ts).
 *
 * | key          | armed when                       | disarmed when                 | when it comes                                   |
 * | ------------ | -------------------------------- | ----------------------------- | ----------------------------------------------- |
 * | backoff:SLOT | a slot is left with nothing      | a reload or a stop starts it  | the slot starts again (crash.ts)                |
 * | ready:ID     | a launch                         | ready, abandoned, reaped      | the launch gives up: `time-out` (crash.ts)      |
 * | retire:ID    | a worker is retired              | it exited                     | SIGKILL: `kill` (stop.ts)                        |
 * | stop         | a stop                           | the exit                      | SIGKILL to all: `kill-all` (stop.ts)            |
 * | watchdog     | the start, then every MS/4       | a stop                        | read the pongs, judge, ping (health.ts)         |
 * | memory       | the start, then every interval   | a stop                        | sample RSS (health.ts)                          |
 * | wrapper      | the start, then every 500 ms     | a stop                        | look at the wrapper (stop.ts)                   |
 * | refill       | the starts over, with --standby  | a start, a stop               | boot spares up to K (spares.ts)                 |
 * | stable:SLOT  | a ready worker, restarts counted | it crashed                    | its restarts start over (crash-loop.ts)         |
 * | watch        | a file changed, each time anew   | a stop                        | a rolling reload, or one queued (watch.ts)      |
 */

export type DeadlineKey =
  | `backoff:${number}`
  | `ready:${number}`
  | `retire:${number}`
  | `stable:${number}`
  | 'stop'
  | 'watchdog'
  | 'memory'
  | 'wrapper'
  | 'refill'
  | 'watch';

/** A slot waiting out its backoff. */
export const backoffKey = (index: number): DeadlineKey => `backoff:${index}`;
/** A launch's time to say "ready". */
export const readyKey = (id: number): DeadlineKey => `ready:${id}`;
/** A retired worker's time to exit. */
export const retireKey = (id: number): DeadlineKey => `retire:${id}`;
/** A slot's ready worker, up long enough for its restarts to start over (--min-uptime). */
export const stableKey = (index: number): DeadlineKey => `stable:${index}`;

export function arm(t: WorkerTable, key: DeadlineKey, ms: number, actions: WorkerAction[]): void {
  t.armed[key] = ms;
  actions.push({ do: 'arm', key, ms });
}

/** Disarms `key` if it is armed (else there is nothing to say). */
export function disarm(t: WorkerTable, key: DeadlineKey, actions: WorkerAction[]): void {
  if (t.armed[key] === undefined) return;
  delete t.armed[key];
  actions.push({ do: 'disarm', key });
}

/** At the exit: nothing is left to wait for. */
export function disarmAll(t: WorkerTable, actions: WorkerAction[]): void {
  for (const key of Object.keys(t.armed) as DeadlineKey[]) disarm(t, key, actions);
}

export function isArmed(t: WorkerTable, key: DeadlineKey): boolean {
  return t.armed[key] !== undefined;
}

/** Waiting out a backoff: a restart is armed. */
export function waiting(t: WorkerTable, s: Slot): boolean {
  return isArmed(t, backoffKey(s.index));
}

/** A key's name and the slot or launch it is for (`backoff:3` → backoff, 3). */
export function parseKey(key: DeadlineKey): { name: string; n: number } {
  const [name, n] = key.split(':');
  return { name: name!, n: Number(n) };
}
