import { GraceError } from '../platform/errors.js';
import type { WorkerProcess } from './worker-pool.js';

/*
 * `grace run --watchdog MS`: a worker whose event loop is stuck (a busy
 * loop, a synchronous call that never returns) still holds its share of the
 * accept queue and answers nobody. Every MS/4 the supervisor writes "ping"
 * on each ready worker's channel; the worker's ready channel answers "pong"
 * from its event loop (platform/starter-channel.ts). A worker silent for
 * MS (counting from its "ready") is reported `hung`, and replaced as a
 * worker over --max-memory is: a new one first, then the hung one retired
 * (SIGTERM, which a stuck loop never handles, then SIGKILL at the stop
 * timeout).
 *
 * A tick that comes late (the supervisor itself was stopped, or its loop
 * blocked) says nothing about the workers: their silence is counted from
 * that tick, not before it.
 */

/** The shortest --watchdog: below it, a GC pause or a slow synchronous start would count as a hang. */
export const MIN_WATCHDOG_MS = 1000;

export function checkWatchdog(ms: number): number {
  if (ms < MIN_WATCHDOG_MS) throw new GraceError('ERR_GRACE_USAGE', `--watchdog must be at least ${MIN_WATCHDOG_MS} ms, got ${ms}`);
  return ms;
}

export interface Watchdog {
  stop(): void;
}

export function watchWorkers(options: { timeout: number; serving: () => WorkerProcess[]; hung: (worker: WorkerProcess, silentMs: number) => void }): Watchdog {
  const every = Math.floor(options.timeout / 4);
  let lastTick = performance.now();
  let counting = lastTick;
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - lastTick > 2 * every) counting = now;
    lastTick = now;
    for (const worker of options.serving()) {
      const silent = now - Math.max(worker.launch.lastAnswer, counting);
      if (silent > options.timeout) options.hung(worker, Math.round(silent));
      else worker.launch.ping();
    }
  }, every);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
