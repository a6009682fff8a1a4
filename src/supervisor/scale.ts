import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import { isCount, MAX_WORKERS } from './core/settings.js';

/*
 * Changing how many workers `grace run` keeps, at run time, as Unicorn does:
 * SIGTTIN adds one, SIGTTOU removes one (never below 1 or above
 * MAX_WORKERS). `grace scale N` (cli/scale-command.ts) sends them one at a time,
 * following the pid file's `size`: a signal carries no number, and two of
 * the same signal sent at once may arrive as one. The table decides what a
 * new size means (core/scale.ts): a slot added launches at once, a slot
 * removed drains its worker, which is never killed before the stop timeout.
 */

/** SIGTTIN and SIGTTOU ask `scale` for one worker more or fewer than `size()`; returns what removes the handlers. */
export function handleScaleSignals(host: ProcessHost, size: () => number, scale: (workers: number) => void, logger: Log): Array<() => void> {
  const by = (signal: NodeJS.Signals, delta: 1 | -1) => () => {
    const from = size();
    const to = from + delta;
    if (!isCount(to, MAX_WORKERS)) {
      logger.warn(`${signal}: already at ${from} worker${from === 1 ? '' : 's'} (from 1 to ${MAX_WORKERS}); not scaling`, { event: 'scale-refused', signal, workers: from });
      return;
    }
    logger.info(`${signal}: scaling from ${from} to ${to} workers`, { event: 'scale', signal, from, to });
    scale(to);
  };
  return [host.onSignal('SIGTTIN', by('SIGTTIN', 1)), host.onSignal('SIGTTOU', by('SIGTTOU', -1))];
}
