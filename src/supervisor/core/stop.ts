import { constants } from 'node:os';
import type { ExitStatus } from '../../protocol/launcher.js';
import { arm, backoffKey, disarm, readyKey } from './deadlines.js';
import type { UncleanSlot, WorkerAction } from './events.js';
import { FOLLOW_INTERVAL_MS } from './settings.js';
import type { WorkerTable } from './table.js';

/*
 * Stopping, and the deadlines that kill: a stop (SIGINT, SIGTERM, the
 * wrapper that started us gone, a command that cannot run) abandons the
 * starts, gives the ready workers its signal and arms one deadline (the stop
 * delay plus --stop-timeout) after which whatever is left gets SIGKILL. A
 * retired worker has the stop timeout to exit, stop or no stop. The exit
 * comes in the step the last process is gone (step.ts), with the status.
 */

export function stop(t: WorkerTable, signal: NodeJS.Signals, quiet: boolean, actions: WorkerAction[], status?: number): void {
  if (t.phase === 'stopping') {
    // A second stop signal forces: every process gets it.
    actions.push({ do: 'forward', signal });
    if (status !== undefined) t.stop!.status = status;
    return;
  }
  t.phase = 'stopping';
  t.stop = { signal, ...(status !== undefined && { status }) };
  t.reload = undefined;
  actions.push({ do: 'stopping', signal, quiet });
  for (const key of ['watchdog', 'memory', 'wrapper', 'refill', 'watch'] as const) disarm(t, key, actions);
  if (t.settings.standby > 0) actions.push({ do: 'drop-spares' });
  const ids: number[] = [];
  for (const s of t.slots) {
    disarm(t, backoffKey(s.index), actions);
    // Still pending until reaped: a word of "ready" in this same turn makes it one of those stopped.
    if (s.pending) {
      actions.push({ do: 'abandon', index: s.index, id: s.pending.id, reason: 'stopping before it was ready' });
      disarm(t, readyKey(s.pending.id), actions);
    }
    if (s.current) ids.push(s.current.id);
  }
  actions.push({ do: 'stop-workers', ids, signal });
  // The workers serve through their stop delay before the drain's deadline starts.
  arm(t, 'stop', t.settings.stopTimeout + (t.settings.stopDelay ?? 0), actions);
}

/** `stop` came: whatever is left is killed. */
export function stopLate(t: WorkerTable, ms: number, actions: WorkerAction[]): void {
  if (t.stop) actions.push({ do: 'kill-all', ms, signal: t.stop.signal });
}

/** `retire:ID` came and it has not exited: SIGKILL. */
export function retireLate(t: WorkerTable, id: number, ms: number, actions: WorkerAction[]): void {
  const s = t.slots.find((slot) => slot.retiring.some((r) => r.id === id));
  if (s) actions.push({ do: 'kill', index: s.index, id, ms });
}

/** Started by a wrapper (npm, yarn, pnpm, the tsx CLI): look at it every FOLLOW_INTERVAL_MS. */
export function followWrapper(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.settings.followWrapper && t.phase !== 'stopping') arm(t, 'wrapper', FOLLOW_INTERVAL_MS, actions);
}

export function wrapperTick(t: WorkerTable, actions: WorkerAction[]): void {
  followWrapper(t, actions);
  actions.push({ do: 'check-wrapper' });
}

/** The wrapper is gone: stop as on SIGTERM (a stop already under way is its stop signal, passed on before it went). */
export function wrapperGone(t: WorkerTable, why: string, actions: WorkerAction[]): void {
  if (t.phase === 'stopping') return;
  actions.push({ do: 'wrapper-gone', why });
  stop(t, 'SIGTERM', true, actions);
}

/**
 * How the stop went: 0 when every slot's last worker was ready and exited 0;
 * else the first unclean slot's status (shell convention). A slot whose last
 * start failed (a crash loop), or that never had a ready worker, is unclean:
 * the app's status (3 for an app that exits 3), or 1 where that was 0 or
 * there was none. A stop the table decided the status of (a command that
 * cannot run) exits with that.
 */
export function exitAction(t: WorkerTable): Extract<WorkerAction, { do: 'exit' }> {
  if (t.stop?.status !== undefined) return { do: 'exit', status: t.stop.status, unclean: [] };
  const unclean: UncleanSlot[] = [];
  for (const slot of t.slots) {
    const exit: ExitStatus = slot.lastExit ?? { code: 0, signal: null };
    const failedStart = !slot.served || slot.lastExit?.beforeReady === true;
    const status = shellStatus(exit) || (failedStart ? 1 : 0);
    if (status !== 0) unclean.push({ index: slot.index, exit, status, failedStart, served: slot.served, lastExit: slot.lastExit });
  }
  return { do: 'exit', status: unclean[0]?.status ?? 0, unclean };
}

/** The shell's convention: the exit code, or 128 + the signal's number. */
export function shellStatus({ code, signal }: ExitStatus): number {
  if (signal) return 128 + (SIGNALS[signal] ?? 0);
  return code ?? 0;
}

const SIGNALS = constants.signals as Record<string, number>;
