import type { GraceError } from '../platform/errors.js';
import { parseDuration } from '../platform/duration.js';
import { readListenEnv } from '../platform/listen-env.js';
import { pidExists } from '../platform/proc.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import { checkSignals } from '../platform/signal-names.js';
import { openChannel } from '../platform/starter-channel.js';
import { exitAfterDrain } from './exit-after-drain.js';
import type { Shutdown } from './shutdown.js';

/*
 * `Shutdown.handleSignals()`: the stop signals shut a registry down, for a
 * process with no server (a queue consumer, a cron-like job). Under
 * `grace run` without --listen (no inherited socket, a supervisor waiting
 * on the ready channel) it is also how such a worker takes part:
 * - it says "ready" at once, or once `options.ready` resolves (a rejection
 *   is a failed start: the registry shuts down and the process exits 1);
 * - it answers the watchdog's heartbeats (platform/starter-channel.ts);
 * - on a stop signal it waits out GRACE_STOP_DELAY (`grace run
 *   --stop-delay`) first, with `isShuttingDown()` already true, unless the
 *   supervisor said "retire" (a reload: a successor already runs);
 * - when the supervisor is gone (EOF on the channel) it shuts down at once.
 * A worker with inherited sockets is ready when `gracehttp.serve` has
 * adopted them, not here.
 */

export interface HandleSignalsOptions {
  /** Default SIGINT and SIGTERM. */
  signals?: readonly NodeJS.Signals[];
  /** Exit once shut down (status 0, or 1 if forced or a closer failed). Default true. */
  exit?: boolean;
  /** The shutdown's deadline, ms. Default: the registry's. */
  timeout?: number;
  /** Under `grace run` without --listen: say "ready" once this resolves. Default: at once. */
  ready?: Promise<unknown>;
}

export function handleSignals(registry: Shutdown, host: ProcessHost, logger: Log, options: HandleSignalsOptions): () => void {
  const signals: readonly NodeJS.Signals[] = options.signals === undefined ? ['SIGINT', 'SIGTERM'] : checkSignals('handleSignals() signals', options.signals);
  let leaving: NodeJS.Timeout | undefined;
  let stopping = false;
  // One stop, whatever asks first (a signal, the end of the stop delay, the supervisor's death, a failed ready).
  const stop = (reason: string, status?: number) => {
    if (stopping) return;
    stopping = true;
    clearTimeout(leaving);
    void registry.shutdown({ reason, timeout: options.timeout }).then((report) => {
      const code = status ?? (report.forced || report.failed.length > 0 ? 1 : 0);
      logger.info(`shut down${code ? ' with failures' : ''}: exiting pid ${host.pid} with status ${code}`, { event: 'exit', status: code, pid: host.pid });
      if (options.exit !== false) exitAfterDrain(host, code);
    });
  };
  const supervised = joinSupervisor(host, logger, {
    gone: (why) => {
      logger.warn(`${why}: shutting down pid ${host.pid}`, { event: 'starter-gone' });
      stop('supervisor gone');
    },
  });
  const removers = signals.map((signal) =>
    host.onSignal(signal, () => {
      // A "retire" written before this signal decides what it means: hear it first.
      supervised?.readNow();
      if (registry.signal.aborted || leaving) {
        logger.warn(`${signal} during shutdown: forcing it`, { event: 'force', signal });
        if (leaving) {
          clearTimeout(leaving);
          stop(signal);
        }
        registry.force();
        return;
      }
      logger.info(`${signal}: shutting down pid ${host.pid}`, { event: 'stopping', signal, pid: host.pid });
      const delay = supervised?.retired() ? 0 : (supervised?.stopDelay ?? 0);
      if (delay === 0) return stop(signal);
      registry.markLeaving();
      leaving = setTimeout(() => stop(signal), delay);
    }),
  );
  if (supervised) {
    (options.ready ?? Promise.resolve()).then(
      () => supervised.ready(),
      (err: unknown) => {
        logger.error(`not ready: ${(err as Error)?.message ?? err}`, { event: 'ready-failed', err }, { stack: true });
        stop('ready failed', 1);
      },
    );
  }
  return () => {
    for (const r of removers.splice(0)) r();
  };
}

/** Under `grace run` with no inherited socket: the ready channel, and the stop delay the supervisor passes. */
function joinSupervisor(host: ProcessHost, logger: Log, on: { gone: (why: string) => void }) {
  let env;
  try {
    env = readListenEnv(host.protocolEnv, { pid: host.pid, ppid: host.ppid(), isAlive: pidExists });
  } catch (err) {
    // The supervisor died before we were ready: stop, as when it dies later.
    if ((err as GraceError).code === 'ERR_GRACE_STARTER_GONE') on.gone((err as Error).message);
    return undefined; // malformed: gracehttp.serve, if used, says why
  }
  if (env.starter?.kind !== 'supervisor' || env.fds.length > 0) return undefined;
  let retired = false;
  const channel = openChannel(env.starter, logger, { retire: () => (retired = true), gone: on.gone });
  if (!channel) return undefined;
  const raw = host.env.GRACE_STOP_DELAY;
  return {
    ready: () => channel.ready(),
    readNow: () => channel.readNow(),
    retired: () => retired,
    stopDelay: raw ? parseDuration('GRACE_STOP_DELAY', raw, 'ERR_GRACE_OPTIONS') : 0,
  };
}
