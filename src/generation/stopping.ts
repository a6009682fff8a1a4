import type { Drainer } from '../serving/drain.js';
import { LongLivedClosing } from '../serving/long-lived.js';
import { removeSocketFile } from '../sockets/unix-socket.js';
import type { Listener } from '../sockets/net.js';
import { exitAfterDrain, EXIT_GRACE_MS } from '../shutdown/exit-after-drain.js';
import type { ShutdownReport } from '../shutdown/shutdown.js';
import type { GenerationContext } from './context.js';
import type { StopReason } from '../lifecycle/lifecycle.js';

/**
 * Carrying out a stop: the stop delay (still serving while readiness says
 * "going away"), the drain through the shutdown registry, and the exit with
 * its status once nothing of the protocol is left to wait for.
 */
export class Stopping {
  /** The exit status, once a managed stop finished and is waiting for the successor's SIGTERM. */
  private exitDue: number | undefined;
  /** How the drain went, for `finish`: the registry's report and the connections destroyed. */
  private drained: { report: ShutdownReport; forced: number } | undefined;
  /** Past the stop, an app's errors are its own again (unless it crashed). */
  onFinished: (crashed: boolean) => void = () => {};

  constructor(
    private readonly g: GenerationContext,
    private readonly drainers: Drainer[],
  ) {}

  /** A stop with a stop delay: readiness says "going away" while we go on serving (the lifecycle keeps the delay's deadline). */
  leave(signal: NodeJS.Signals | undefined): void {
    const { g } = this;
    const delay = g.options.stopDelay;
    g.log.info(`Leaving: pid ${g.host.pid}${signal ? ` got ${signal} and` : ''} serves ${delay} ms more while readiness says going away, then drains`, {
      event: 'leaving',
      signal,
      stopDelay: delay,
    });
    g.status?.stopping();
    g.shutdown.markLeaving();
    g.events.emit('leaving', { signal, stopDelay: delay });
  }

  async drain(reason: StopReason, signal: NodeJS.Signals | undefined): Promise<void> {
    const { g } = this;
    if (reason !== 'handover') {
      const why = reason === 'crash' ? ' after an uncaught error' : signal ? ` on ${signal}` : '';
      g.log.info(`Stopping pid ${g.host.pid}${why}`, { event: 'stopping', reason, signal });
      g.status?.stopping();
    }
    g.events.emit('stopping', { reason, signal });
    // Stop accepting at once; the registry waits for the drain in its drain phase.
    // A stop during the warm-up aborts it: drained once its channel is gone too.
    g.warming?.abort.abort();
    const { options } = g;
    const shutdownTimeout = options.shutdownTimeout ?? g.shutdown.timeout;
    const longLived = new LongLivedClosing({ ...options, shutdownTimeout }, g.log);
    const drained = Promise.all([...this.drainers.map((d) => d.drain(options.idleGrace, longLived.pace)), g.warming?.over]);
    longLived.begin(this.drainers);
    let forced = 0;
    const unregister = g.shutdown.register(() => drained, {
      name: `servers (${g.where || 'not listening'})`,
      phase: 'drain',
      force: () => {
        longLived.end();
        for (const drainer of this.drainers) forced += drainer.forceClose();
      },
    });
    const report = await g.shutdown.shutdown({ reason, timeout: options.shutdownTimeout });
    longLived.end();
    unregister();
    // After a handover the successor serves on these paths and wrote its pid,
    // and under a supervisor both are the supervisor's: leave them.
    if (reason !== 'handover' && g.starter?.kind !== 'supervisor') {
      removeSocketFiles(g, g.bound);
      g.status?.stopped();
    }
    if (forced > 0) {
      const deadline = report.durationMs >= shutdownTimeout ? `after ${shutdownTimeout} ms` : 'on a forced stop';
      g.log.warn(`destroyed ${forced} connection(s) still open ${deadline}`, { event: 'connections-destroyed', count: forced });
    }
    this.drained = { report, forced };
    g.dispatch({ type: 'drained' });
  }

  /** The drain is over: the exit status, the events, and (with `exit`) the exit. */
  finish(crashed: boolean): void {
    const { g } = this;
    const reason = g.lifecycle().reason!;
    const { report, forced } = this.drained!;
    this.onFinished(crashed);
    const clean = !report.forced && report.failed.length === 0 && forced === 0;
    // A crash exits 1 however cleanly it drained, during a stop or a handover too: the process failed.
    const status = clean && !crashed ? 0 : 1;
    const managed = g.options.exit && reason !== 'stop';
    if (!clean) {
      const what = [report.forced || forced ? 'was forced' : '', report.failed.length ? `had failed closers (${report.failed.map((f) => f.name).join(', ')})` : '']
        .filter(Boolean)
        .join(' and ');
      g.log.warn(`the stop ${what}${managed ? ': exit status 1' : ''}`, { event: 'unclean-stop', forced: report.forced || forced > 0, failed: report.failed.map((f) => f.name) });
    }
    g.log.info(`Exiting pid ${g.host.pid}`, { event: 'exiting', reason, status });
    g.events.emit('stopped', { reason, forced });
    if (!managed) return;
    if (status !== 0) g.host.setExitCode(status);
    this.exitDue = status;
    this.exitWhenDone();
  }

  /**
   * Exit even if something else (a timer, a pool) holds the event loop open,
   * and say so; not before a successor's SIGTERM is in (Graceful calls this
   * again once it is).
   */
  exitWhenDone(): void {
    const { g } = this;
    const status = this.exitDue;
    if (status === undefined || g.lifecycle().childSigtermDue) return;
    this.exitDue = undefined;
    exitAfterDrain(g.host, status, () =>
      g.log.warn(`pid ${g.host.pid} still busy ${EXIT_GRACE_MS} ms after draining (a timer, socket or pool left open): exiting with status ${status}`, {
        event: 'exit-forced',
        status,
      }),
    );
  }
}

/** Removes the unix socket files of `listeners` (ones this generation line owns). */
export function removeSocketFiles(g: GenerationContext, listeners: Listener[]): void {
  for (const { socketFile } of listeners) {
    try {
      if (socketFile) removeSocketFile(socketFile);
    } catch (err) {
      g.log.warn(`could not remove ${socketFile!.path}: ${(err as Error).message}`, { event: 'socket-file-failed', path: socketFile!.path, err });
    }
  }
}
