import type { GenerationContext } from './context.js';
import { restartSignalRole } from './restart-off.js';

/**
 * Signals and crashes in, lifecycle events out. Before a signal is taken,
 * the channels are read to their end (`hearPending`): a successor's "ready"
 * and the supervisor's "retire" are written before their SIGTERM, so by
 * construction the word is heard first, whatever batch libuv read the
 * signal in (platform/channel-words.ts).
 */
export class Signals {
  private readonly removers: Array<() => void> = [];
  private removeCrashHandler: (() => void) | undefined;

  constructor(
    private readonly g: GenerationContext,
    private readonly restart: () => void,
    private readonly childPid: () => number | undefined,
    private readonly hearPending: () => void,
  ) {}

  install(): void {
    const { g } = this;
    const { restartSignal, stopSignals } = g.options;
    // A registry that handled the stop signals on its own hands them to us.
    g.shutdown.releaseSignals();
    // Under a file watcher the restart signal is the watcher's "stop, I will restart you".
    const role = restartSignalRole(g.host, g.launchedBy, restartSignal);
    const restartable = role === 'restart' && restartSignal !== false;
    const stops = new Set(stopSignals);
    if (role === 'stop' && restartSignal !== false) stops.add(restartSignal);
    // A new generation says it is ready with SIGTERM too: with restarts on,
    // SIGTERM is always ours to tell apart.
    const handled = new Set(stops);
    if (restartable) handled.add('SIGTERM');
    for (const signal of handled) {
      const onSignal = () => {
        this.hearPending();
        g.dispatch({ type: 'signal', signal, stopSignal: stops.has(signal) });
      };
      this.removers.push(g.host.onSignal(signal, onSignal));
    }
    if (restartable) this.removers.push(g.host.onSignal(restartSignal, this.restart));
    if (g.options.handleCrashes) this.removeCrashHandler = g.host.onUncaught((error, origin) => this.onCrash(error, origin));
  }

  /** Signals are no longer ours (stopped, or the default action is taken). */
  uninstall(): void {
    for (const remove of this.removers.splice(0)) remove();
  }

  /** Past the stop, an app's errors are its own again. */
  uninstallCrashHandler(): void {
    this.removeCrashHandler?.();
    this.removeCrashHandler = undefined;
  }

  /**
   * With `handleCrashes`: an error nobody caught. Other clients' requests are
   * still in flight and the closers have not run, so stop gracefully rather
   * than die; but the process is suspect, so no stop delay, and exit 1.
   */
  private onCrash(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void {
    const { g } = this;
    const what = origin === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection';
    const message = error instanceof Error ? error.message : String(error);
    const { state } = g.lifecycle();
    const then =
      state === 'draining' || state === 'stopped'
        ? 'while stopping; the stop goes on, then exits with status 1'
        : state === 'restarting'
          ? `while pid ${this.childPid() ?? '(not spawned yet)'} starts: serving until it is ready, then handing over and exiting with status 1`
          : 'stopping gracefully, then exiting with status 1';
    g.log.error(`${what}: ${message}; ${then}`, { event: 'crash', origin, err: error }, { stack: true });
    g.dispatch({ type: 'crash' });
  }
}
