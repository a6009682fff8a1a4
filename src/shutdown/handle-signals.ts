import { stopDelayFromEnv } from '../platform/duration.js';
import type { GraceError } from '../platform/errors.js';
import { readInherited, type Starter } from '../platform/listen-env.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import { checkSignals } from '../platform/signal-names.js';
import { openChannel, type StarterChannel } from '../platform/starter-channel.js';
import { initialLifecycle, type Lifecycle, type StopReason } from '../lifecycle/lifecycle.js';
import { LifecycleRunner, type OwnerAction } from '../lifecycle/runner.js';
import { exitAfterDrain } from './exit-after-drain.js';
import type { Shutdown, ShutdownReport } from './shutdown.js';

/*
 * `Shutdown.handleSignals()`: the stop signals shut a registry down, for a
 * process with no server (a queue consumer, a cron-like job). It runs the
 * same lifecycle as a generation serving sockets (lifecycle/lifecycle.ts),
 * with the registry's shutdown as its drain. Under `grace run` without
 * --listen (no inherited socket, a supervisor waiting on the ready channel)
 * it is also how such a worker takes part:
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
  const serverless = new ServerlessProcess(registry, host, logger, options);
  serverless.start(signals);
  return () => serverless.uninstall();
}

/** A process with no server, moved by the lifecycle table: its drain is the registry's shutdown. */
class ServerlessProcess {
  private readonly runner: LifecycleRunner<void>;
  private readonly channel: StarterChannel | undefined;
  private readonly goneBefore: string | undefined;
  private readonly removers: Array<() => void> = [];
  private drained: ShutdownReport | undefined;
  /** The exit status, once shut down and waiting for the supervisor's SIGTERM after "retire". */
  private exitDue: number | undefined;

  constructor(
    private readonly registry: Shutdown,
    private readonly host: ProcessHost,
    private readonly logger: Log,
    private readonly options: HandleSignalsOptions,
  ) {
    const started = supervisorOf(host);
    this.goneBefore = started.goneBefore;
    const stopDelay = started.supervisor ? stopDelayFromEnv(host.env) : 0;
    // Supervised only with the channel: a second opener in this process (it has one) is not.
    this.channel = started.supervisor && openChannel(started.supervisor, logger, { retire: () => this.runner.dispatch({ type: 'retire' }), gone: (why) => this.gone(why) });
    const supervised = this.channel !== undefined;
    const initial = initialLifecycle({ supervised, stopDelay: supervised ? stopDelay : 0, restartOff: 'a process with no server has no sockets to hand over' });
    this.runner = new LifecycleRunner(initial, () => logger, {
      carryOut: (action) => this.carryOut(action),
      moved: (from, to) => this.moved(from, to),
    });
  }

  /** Takes the signals, and says "ready" (under grace run, once `options.ready` resolves). */
  start(signals: readonly NodeJS.Signals[]): void {
    const { registry, runner, channel } = this;
    // The app shutting the registry down itself is a stop with no delay: its closers are already running.
    const onShutdown = () => runner.dispatch({ type: 'stop', delay: false });
    registry.on('shutdown', onShutdown);
    this.removers.push(() => registry.off('shutdown', onShutdown));
    if (this.goneBefore) this.gone(this.goneBefore);
    for (const signal of signals) {
      this.removers.push(
        this.host.onSignal(signal, () => {
          // A "retire" written before this signal decides what it means: hear it first.
          channel?.readNow();
          runner.dispatch({ type: 'signal', signal, stopSignal: true });
        }),
      );
    }
    // Anywhere but under grace run, ready at once; `options.ready` is not awaited.
    if (!runner.lifecycle.supervised) {
      runner.dispatch({ type: 'started' });
      return;
    }
    (this.options.ready ?? Promise.resolve()).then(
      () => runner.dispatch({ type: 'started' }),
      (err: unknown) => {
        this.logger.error(`not ready: ${(err as Error)?.message ?? err}`, { event: 'ready-failed', err }, { stack: true });
        // A failed start is a crash to the table: no delay, exit status 1.
        runner.dispatch({ type: 'crash' });
      },
    );
  }

  /** The signals (and the registry's own shutdown) are no longer ours. */
  uninstall(): void {
    for (const remove of this.removers.splice(0)) remove();
  }

  private gone(why: string): void {
    this.logger.warn(`${why}: shutting down pid ${this.host.pid}`, { event: 'starter-gone' });
    this.runner.dispatch({ type: 'starter-gone' });
  }

  private carryOut(action: OwnerAction): void {
    const { host, logger, registry } = this;
    switch (action.do) {
      case 'announce':
        this.channel?.ready();
        return;
      case 'leave':
        logger.info(`${action.signal}: pid ${host.pid} works on for ${this.runner.lifecycle.stopDelay} ms (GRACE_STOP_DELAY), then shuts down`, {
          event: 'leaving',
          signal: action.signal,
          pid: host.pid,
        });
        registry.markLeaving();
        return;
      case 'drain': {
        const why = shutdownReason(action.reason, action.signal);
        // A stop the app began by shutting the registry down is the app's to tell.
        if (action.reason !== 'stop') logger.info(`${why}: shutting down pid ${host.pid}`, { event: 'stopping', signal: action.signal, pid: host.pid });
        void registry.shutdown({ reason: why, timeout: this.options.timeout }).then((report) => {
          this.drained = report;
          this.runner.dispatch({ type: 'drained' });
        });
        return;
      }
      case 'force':
        logger.warn(`${action.signal} during shutdown: forcing it`, { event: 'force', signal: action.signal });
        registry.force();
        return;
      case 'default-action':
        logger.info(`${action.signal}: pid ${host.pid} has shut down; terminating`, { event: 'default-action', signal: action.signal });
        this.uninstall();
        host.kill(host.pid, action.signal);
        return;
      case 'finish':
        this.finish(action.crashed);
        return;
      default:
        return; // restarts: a process with no server has none to make
    }
  }

  private finish(crashed: boolean): void {
    const report = this.drained!;
    // A failed start exits 1 however cleanly it shut down.
    const status = crashed || report.forced || report.failed.length > 0 ? 1 : 0;
    // The app that shut the registry down itself decides when to exit, as after gracehttp's stop().
    if (this.runner.lifecycle.reason === 'stop') return;
    this.logger.info(`shut down${status ? ' with failures' : ''}: exiting pid ${this.host.pid} with status ${status}`, { event: 'exit', status, pid: this.host.pid });
    if (this.options.exit === false) return;
    this.exitDue = status;
    this.exitWhenDone();
  }

  private moved(from: Lifecycle, to: Lifecycle): void {
    if (from.childSigtermDue && !to.childSigtermDue) this.exitWhenDone();
    if (to.state === 'stopped' && !to.childSigtermDue) this.uninstall();
  }

  // Not before the supervisor's SIGTERM after "retire" is in: our handler must still be there to take it.
  private exitWhenDone(): void {
    if (this.exitDue === undefined || this.runner.lifecycle.childSigtermDue) return;
    exitAfterDrain(this.host, this.exitDue);
    this.exitDue = undefined;
  }
}

/** Under `grace run` with no inherited socket: the supervisor waiting for our "ready", or why it is gone already. */
function supervisorOf(host: ProcessHost): { supervisor?: Starter; goneBefore?: string } {
  try {
    const env = readInherited(host, 'started');
    return env.starter?.kind === 'supervisor' && env.fds.length === 0 ? { supervisor: env.starter } : {};
  } catch (err) {
    // The supervisor died before we were ready: stop, as when it dies later.
    if ((err as GraceError).code === 'ERR_GRACE_STARTER_GONE') return { goneBefore: (err as Error).message };
    return {}; // malformed: gracehttp.serve, if used, says why
  }
}

/** The registry's reason for a shutdown: the signal, or what else began it. */
function shutdownReason(reason: StopReason, signal: NodeJS.Signals | undefined): string {
  if (signal) return signal;
  if (reason === 'handover') return 'retired';
  if (reason === 'crash') return 'ready failed';
  if (reason === 'stop') return 'shutdown';
  return 'supervisor gone';
}
