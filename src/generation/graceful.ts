import { EventEmitter } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import { claimCurrentGeneration, releaseCurrentGeneration } from '../platform/current-generation.js';
import { GraceError } from '../platform/errors.js';
import { resolveLogger } from '../platform/logger.js';
import { realProcess } from '../platform/process-host.js';
import { ConnectionDrainer, type Drainer } from '../serving/drain.js';
import { installHealth } from '../serving/health.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import { processNet } from '../sockets/net.js';
import { Shutdown } from '../shutdown/shutdown.js';
import { initialLifecycle, type Lifecycle } from '../lifecycle/lifecycle.js';
import { LifecycleRunner, type OwnerAction } from '../lifecycle/runner.js';
import { addresses, emitAfterStart, type ActionResult, type GenerationContext, type GracefulEvents } from './context.js';
import { resolveOptions, type ServeOptions, type ServeSeams } from './options.js';
import { platformOff } from './restart-off.js';
import { Restarts } from './restarts.js';
import { Signals } from './signals.js';
import { startUp } from './start-up.js';
import { Stopping } from './stopping.js';

/**
 * A running generation: its servers, its signal handling and its restarts.
 * Made by `start`; `serve` is `start` then `done`. A facade: it owns the
 * lifecycle (lifecycle/lifecycle.ts, moved by lifecycle/runner.ts), and
 * hands each action to the part that carries it out — start-up, signals,
 * restarts, stopping.
 */
export class Graceful extends EventEmitter<GracefulEvents> {
  /** Resolves once this process has finished serving (after a handover or a stop has drained). */
  readonly done: Promise<void>;
  /** The shutdown registry this generation drains through (given in options, or its own). */
  readonly shutdown: Shutdown;
  private readonly runner: LifecycleRunner<ActionResult>;
  private readonly g: GenerationContext;
  private readonly signals: Signals;
  private readonly restarts: Restarts;
  private readonly stopping: Stopping;
  private resolveDone!: () => void;

  /** @internal Use `start` or `serve`. */
  constructor(
    private readonly targets: Array<{ server: Server; listen: ListenSpec | undefined; drainer?: Drainer }>,
    options: ServeOptions,
    seams: ServeSeams = {},
  ) {
    super();
    const host = seams.host ?? realProcess;
    const resolved = resolveOptions(options, host.env);
    this.shutdown = options.shutdown ?? new Shutdown({ logger: options.logger });
    this.g = {
      host,
      options: resolved,
      net: seams.net ?? processNet(),
      shutdown: this.shutdown,
      events: this,
      log: resolveLogger(options.logger, host.env).with({ pid: host.pid }),
      starter: undefined,
      generation: 1,
      launchedBy: { kind: 'direct' },
      status: undefined,
      channel: undefined,
      warming: undefined,
      bound: [],
      where: '',
      lifecycle: () => this.runner.lifecycle,
      dispatch: (event) => this.runner.dispatch(event),
    };
    // Before the drainers: their listener goes in front of the health one.
    installHealth(targets.map((t) => t.server), resolved.health, () => this.isReady(), this.g.log);
    const drainers = targets.map((t) => t.drainer ?? new ConnectionDrainer(t.server));
    this.restarts = new Restarts(this.g);
    this.signals = new Signals(
      this.g,
      () => void this.restart().catch(() => {}),
      () => this.restarts.childPid,
      () => {
        this.restarts.readChildNow();
        this.g.channel?.readNow();
      },
    );
    this.stopping = new Stopping(this.g, drainers);
    this.stopping.onFinished = (crashed) => {
      if (!crashed) this.signals.uninstallCrashHandler();
    };
    this.runner = new LifecycleRunner(initialLifecycle({ stopDelay: resolved.stopDelay, restartOff: platformOff(host), standby: resolved.standby }), () => this.g.log, {
      carryOut: (action) => ({ action, ...this.carryOut(action) }),
      moved: (from, to) => this.moved(from, to),
    });
    // A registry shared with the app may be shut down by the app: stop serving
    // then too, with no delay (its closers are already running).
    this.shutdown.on('shutdown', () => this.runner.dispatch({ type: 'stop', delay: false }));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /**
   * Whether a load balancer should send this instance traffic: true while
   * serving (also while a restart starts, and while draining after a
   * handover, since the successor serves the same sockets); false while
   * starting and from the first moment of a stop.
   */
  isReady(): boolean {
    const { state, reason } = this.runner.lifecycle;
    return state === 'serving' || state === 'restarting' || (reason === 'handover' && state !== 'stopped');
  }

  /** Where each server listens, in order: an address, or a unix socket path. */
  addresses(): Array<AddressInfo | string> {
    return addresses(this.g);
  }

  /**
   * @internal Reads the inherited sockets, runs the ready hook, then adopts or
   * binds every socket and tells whoever started us: nothing is accepted
   * before the ready hook resolved.
   */
  async start(): Promise<void> {
    const { g } = this;
    const off = platformOff(g.host);
    if (off) g.log.warn(`${off}; serving with graceful stop only`, { event: 'no-hot-restart', platform: g.host.platform });
    // Only one serve per process: inherited sockets and signals are the process's.
    if (!claimCurrentGeneration(this)) {
      throw new GraceError('ERR_GRACE_OPTIONS', 'gracehttp is already serving in this process: pass every server to one call, serve([{ server, listen }, …])');
    }
    void this.done.then(() => releaseCurrentGeneration(this));
    let outcome: 'serving' | 'stopped';
    try {
      outcome = await startUp(g, this.targets, {
        installSignals: () => this.signals.install(),
        uninstallSignals: () => {
          this.signals.uninstall();
          this.signals.uninstallCrashHandler();
        },
      });
    } catch (err) {
      releaseCurrentGeneration(this);
      throw err;
    }
    if (outcome === 'serving') {
      for (const result of this.runner.dispatch({ type: 'started' })) await result.announced;
    }
  }

  /**
   * Starts the next generation, as the restart signal does. Resolves with its pid
   * once it is ready and this one has begun draining; rejects (and keeps
   * serving) if it fails, or at once if a restart is already in flight. Under
   * `grace run` it passes the request to the supervisor and resolves with the
   * supervisor's pid at once; the supervisor reports the outcome.
   */
  restart(): Promise<number> {
    const outcome = this.runner.dispatch({ type: 'restart' }).find((r) => r.restart)?.restart;
    return outcome ?? Promise.reject(new GraceError('ERR_GRACE_NOT_SERVING', `pid ${this.g.host.pid} is not serving`));
  }

  /**
   * Stops gracefully (after the stop delay, if one is set), drains, and
   * resolves when done. Idempotent: every call returns the same promise.
   */
  stop(): Promise<void> {
    this.runner.dispatch({ type: 'stop', delay: true });
    return this.done;
  }

  // What follows from a move itself, once its actions are carried out.
  private moved(from: Lifecycle, to: Lifecycle): void {
    if (to.state !== 'starting' && to.state !== 'serving' && to.state !== 'restarting') this.restarts.dropStandby();
    if (from.childSigtermDue && !to.childSigtermDue) {
      this.restarts.successorSignalled();
      this.stopping.exitWhenDone();
    }
    // Once stopped and no successor's SIGTERM is due, signals are no longer ours.
    if (to.state === 'stopped' && !to.childSigtermDue) this.signals.uninstall();
  }

  private carryOut(action: OwnerAction): Omit<ActionResult, 'action'> {
    const { g } = this;
    switch (action.do) {
      case 'announce':
        return { announced: this.announce() };
      case 'spawn':
        return { restart: this.restarts.spawn() };
      case 'boot-standby':
        this.restarts.bootStandby();
        return {};
      case 'ask-supervisor':
        return { restart: this.restarts.askSupervisor() };
      case 'refuse':
        return { restart: this.restarts.refuseFor(action) };
      case 'report-failure':
        this.restarts.reportFailure(action.error);
        return {};
      case 'note-abandoned':
        this.restarts.noteAbandoned(action.error);
        return {};
      case 'abandon-child':
        this.restarts.abandonChild();
        return {};
      case 'leave':
        this.stopping.leave(action.signal);
        return {};
      case 'drain':
        void this.stopping.drain(action.reason, action.signal);
        return {};
      case 'force':
        g.log.warn(`${action.signal} during shutdown: closing remaining connections now`, { event: 'force', signal: action.signal });
        this.shutdown.force();
        return {};
      case 'default-action':
        g.log.info(`${action.signal} is not a stop signal here: terminating pid ${g.host.pid}`, { event: 'default-action', signal: action.signal });
        this.signals.uninstall();
        g.host.kill(g.host.pid, action.signal);
        return {};
      case 'finish':
        this.stopping.finish(action.crashed);
        this.resolveDone();
        return {};
    }
  }

  /** We serve: the pid file and systemd name us, then whoever started us hears "ready". */
  private async announce(): Promise<void> {
    const { g } = this;
    // Before the old generation is told to go, so a deploy script never sees
    // the pid file name a process that is exiting, and systemd's main pid
    // moves to us before the old one exits.
    await g.status?.serving(g.generation, g.host.pid);
    g.channel?.ready();
    emitAfterStart(g, 'ready', { pid: g.host.pid, parentPid: g.starter?.kind === 'parent' ? g.starter.pid : undefined });
  }
}
