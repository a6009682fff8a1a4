/*
 * `grace run --watchdog MS`: a worker whose event loop is stuck (a busy
 * loop, a synchronous call that never returns) still holds its share of the
 * accept queue and answers nobody. Every MS/4 the supervisor writes "ping"
 * on each ready worker's channel; the worker's ready channel answers "pong"
 * from its event loop (platform/starter-channel.ts). A worker with a ping
 * unanswered for MS is hung, and replaced as a worker over --max-memory is:
 * a new one first, then the hung one retired (SIGTERM, which a stuck loop
 * never handles, then SIGKILL at the stop timeout).
 *
 * The rule is the age of the oldest unanswered ping, not the time since the
 * last answer: a loop blocked for 80% of MS, starting just before a ping,
 * answers that ping within MS, though its last answer before it is older
 * than MS. And it is judged with each channel read to its end first (the
 * shell's `Launch.readNow` before it answers `read-heartbeats`): a timer runs
 * before the event loop's poll phase, so a pong that arrived before the tick
 * would not have been read yet, and a busy machine (the tick a few ms late)
 * would count it as silence. Every pong in the channel when the tick looks
 * is counted, whichever phase it runs in.
 *
 * A tick that comes late (the supervisor itself was stopped, or its loop
 * blocked) says nothing about the workers: their silence is counted from
 * that tick, not before it.
 */

/** Pings waiting for an answer, at most: a silent worker is judged by its oldest one, so more would say nothing new. */
const MAX_UNANSWERED = 16;

/** One worker's pings not yet answered, oldest first, and its pongs so far (each answers the oldest ping still waiting). */
interface Unanswered {
  pongs: number;
  sentAt: readonly number[];
}

export interface Heartbeats {
  /** When the last tick looked (monotonic ms); undefined before the first. */
  lastTick: number | undefined;
  /** Silence counts from here at the earliest: the last tick that came late. */
  counting: number;
  /** By launch id: the ready workers the last tick saw. */
  workers: Readonly<Record<number, Unanswered>>;
}

export const noHeartbeats: Heartbeats = { lastTick: undefined, counting: 0, workers: {} };

/** How often the watchdog pings: a quarter of its timeout. */
export function pingEvery(timeout: number): number {
  return Math.floor(timeout / 4);
}

/**
 * One tick at `at`: each worker `seen` had answered `pongs` pings so far.
 * Returns the next state, the workers hung (with how long their oldest ping
 * waited) and those to ping now.
 */
export function judge(
  state: Heartbeats,
  at: number,
  timeout: number,
  seen: ReadonlyArray<{ id: number; pongs: number }>,
): { next: Heartbeats; hung: Array<{ id: number; silentMs: number }>; ping: number[] } {
  const late = state.lastTick === undefined || at - state.lastTick > 2 * pingEvery(timeout);
  const counting = late ? at : state.counting;
  const workers: Record<number, Unanswered> = {};
  const hung: Array<{ id: number; silentMs: number }> = [];
  const ping: number[] = [];
  for (const { id, pongs } of seen) {
    const was = state.workers[id] ?? { pongs, sentAt: [] };
    const sentAt = was.sentAt.slice(pongs - was.pongs);
    const oldest = sentAt[0];
    const silent = oldest === undefined ? 0 : at - Math.max(oldest, counting);
    if (silent >= timeout) hung.push({ id, silentMs: Math.round(silent) });
    else if (sentAt.length < MAX_UNANSWERED) {
      sentAt.push(at);
      ping.push(id);
    }
    workers[id] = { pongs, sentAt };
  }
  return { next: { lastTick: at, counting, workers }, hung, ping };
}
