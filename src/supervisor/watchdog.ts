import { GraceError } from '../platform/errors.js';

/*
 * `grace run --watchdog MS`: a worker whose event loop is stuck (a busy
 * loop, a synchronous call that never returns) still holds its share of the
 * accept queue and answers nobody. Every MS/4 the supervisor writes "ping"
 * on each ready worker's channel; the worker's ready channel answers "pong"
 * from its event loop (platform/starter-channel.ts). A worker with a ping
 * unanswered for MS is reported `hung`, and replaced as a worker over
 * --max-memory is: a new one first, then the hung one retired (SIGTERM,
 * which a stuck loop never handles, then SIGKILL at the stop timeout).
 *
 * The rule is the age of the oldest unanswered ping, not the time since the
 * last answer: a loop blocked for 80% of MS, starting just before a ping,
 * answers that ping within MS, though its last answer before it is older
 * than MS. And it is judged with each channel read to its end first
 * (`Launch.readNow`): a timer runs before the event loop's poll phase, so a
 * pong that arrived before the tick would not have been read yet, and a busy
 * machine (the tick a few ms late) would count it as silence. Every pong in
 * the channel when the tick looks is counted, whichever phase it runs in.
 *
 * A tick that comes late (the supervisor itself was stopped, or its loop
 * blocked) says nothing about the workers: their silence is counted from
 * that tick, not before it.
 */

/** The shortest --watchdog: below it, a GC pause or a slow synchronous start would count as a hang. */
export const MIN_WATCHDOG_MS = 1000;

/** Pings waiting for an answer, at most: a silent worker is judged by its oldest one, so more would say nothing new. */
const MAX_UNANSWERED = 16;

export function checkWatchdog(ms: number): number {
  if (ms < MIN_WATCHDOG_MS) throw new GraceError('ERR_GRACE_USAGE', `--watchdog must be at least ${MIN_WATCHDOG_MS} ms, got ${ms}`);
  return ms;
}

/** Time for the watchdog: the real one, or a test's. */
export interface WatchdogClock {
  now(): number;
  /** Calls `tick` every `ms` until the returned function is called; never holds the process open. */
  every(ms: number, tick: () => void): () => void;
}

const realClock: WatchdogClock = {
  now: () => performance.now(),
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** What the watchdog needs of a worker: its launch's heartbeat (Launch.ping, Launch.readNow, Launch.pongs). */
export interface Heartbeating {
  launch: { ping(): void; readNow(): void; readonly pongs: number };
}

/** One worker's pings not yet answered, oldest first. */
class Unanswered {
  private readonly sentAt: number[] = [];

  constructor(private pongs: number) {}

  /** Its pongs so far: each answers the oldest ping still waiting. */
  answered(pongs: number): void {
    this.sentAt.splice(0, pongs - this.pongs);
    this.pongs = pongs;
  }

  sent(at: number): boolean {
    if (this.sentAt.length >= MAX_UNANSWERED) return false;
    this.sentAt.push(at);
    return true;
  }

  /** How long the oldest unanswered ping has waited at `now`, counting from `since` at the earliest. */
  silence(now: number, since: number): number {
    const oldest = this.sentAt[0];
    return oldest === undefined ? 0 : now - Math.max(oldest, since);
  }
}

export interface Watchdog {
  stop(): void;
}

export function watchWorkers<W extends Heartbeating>(options: {
  timeout: number;
  serving: () => W[];
  hung: (worker: W, silentMs: number) => void;
  clock?: WatchdogClock;
}): Watchdog {
  const clock = options.clock ?? realClock;
  const every = Math.floor(options.timeout / 4);
  const waiting = new WeakMap<W['launch'], Unanswered>();
  let lastTick = clock.now();
  let counting = lastTick;
  const stop = clock.every(every, () => {
    const now = clock.now();
    if (now - lastTick > 2 * every) counting = now;
    lastTick = now;
    for (const worker of options.serving()) {
      // Every pong already in the channel counts, read or not by the loop yet.
      worker.launch.readNow();
      let pings = waiting.get(worker.launch);
      if (!pings) waiting.set(worker.launch, (pings = new Unanswered(worker.launch.pongs)));
      pings.answered(worker.launch.pongs);
      const silent = pings.silence(now, counting);
      if (silent >= options.timeout) options.hung(worker, Math.round(silent));
      else if (pings.sent(clock.now())) worker.launch.ping();
    }
  });
  return { stop };
}
