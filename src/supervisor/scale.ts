import { GraceError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import type { WorkerPool } from './worker-pool.js';
import { MAX_WORKERS } from './worker-table.js';

/*
 * Changing how many workers `grace run` keeps, at run time, as Unicorn does:
 * SIGTTIN adds one, SIGTTOU removes one (never below 1 or above
 * MAX_WORKERS). `grace scale N` (cli/scale-command.ts) sends them one at a time,
 * following the pid file's `size`: a signal carries no number, and two of
 * the same signal sent at once may arrive as one. The table decides what a
 * new size means (worker-table.ts): a slot added launches at once, a slot
 * removed drains its worker, which is never killed before the stop timeout.
 */

/** Checks a worker count: a whole number from 1 to MAX_WORKERS. */
export function checkWorkers(name: string, workers: number): number {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new GraceError('ERR_GRACE_USAGE', `${name} must be a whole number from 1 to ${MAX_WORKERS}, got ${workers}`);
  }
  return workers;
}

/** SIGTTIN and SIGTTOU scale `pool` by one; returns what removes the handlers. */
export function handleScaleSignals(host: ProcessHost, pool: WorkerPool, logger: Log): Array<() => void> {
  const by = (signal: NodeJS.Signals, delta: 1 | -1) => () => {
    const to = pool.size + delta;
    if (to < 1 || to > MAX_WORKERS) {
      logger.warn(`${signal}: already at ${pool.size} worker${pool.size === 1 ? '' : 's'} (from 1 to ${MAX_WORKERS}); not scaling`, { event: 'scale-refused', signal, workers: pool.size });
      return;
    }
    logger.info(`${signal}: scaling from ${pool.size} to ${to} workers`, { event: 'scale', signal, from: pool.size, to });
    pool.scale(to);
  };
  return [host.onSignal('SIGTTIN', by('SIGTTIN', 1)), host.onSignal('SIGTTOU', by('SIGTTOU', -1))];
}
