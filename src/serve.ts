import { EventEmitter } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import { ConnectionDrainer, type Drainer } from './drain.js';
import { GraceError } from './errors.js';
import { installHealth } from './health.js';
import { directCommand, launchedBy, watcherSetting, wrapperWarning, type LaunchedBy } from './launched-by.js';
import { initialLifecycle, transition, type Action, type Lifecycle, type LifecycleEvent, type StopReason } from './lifecycle.js';
import type { Starter } from './listen-env.js';
import { defaultListenSpec, describeSpec, ONLY_INHERITED, type ListenSpec } from './listen-spec.js';
import { resolveLogger, type Log } from './logger.js';
import { processNet, type Listener, type Net } from './net.js';
import { resolveOptions, type ResolvedOptions, type ServeOptions, type ServeSeams } from './options.js';
import { canPassSockets, realProcess, type ProcessHost } from './process-host.js';
import { openStarterChannel, type StarterChannel } from './ready-pipe.js';
import { nonUtf8Warning } from './non-utf8.js';
import { RestartAttempt } from './restart.js';
import { Shutdown, type ShutdownReport } from './shutdown.js';
import { StatusReporter } from './status.js';
import { removeSocketFile } from './unix-socket.js';
import type { ResolvedWarmUp } from './warm-up.js';

export type { StopReason } from './lifecycle.js';

// With `exit: true`, how long after draining a still-busy event loop is waited for.
const EXIT_GRACE_MS = 1000;

/** One server and where it listens. */
export interface ServeTarget {
  server: Server;
  listen: ListenSpec;
  /**
   * How this server drains, in place of grace's HTTP drain. Set by
   * `gracegrpc.target`; an app serving http, https, http2 or net servers
   * leaves it out.
   */
  drainer?: Drainer;
}

/** Lifecycle events of a {@link Graceful}, with their payloads. */
export interface GracefulEvents {
  /**
   * Every server listens (on inherited or fresh sockets): after the ready
   * hook. Like `ready`, it happens inside start() and is emitted just after
   * start() resolves, so a listener attached right after `await start()` hears it.
   */
  listening: [{ pid: number; addresses: Array<AddressInfo | string> }];
  /** Serving; the previous generation, if any, was told to go. Emitted just after start() resolves. */
  ready: [{ pid: number; parentPid: number | undefined }];
  /** A next generation was spawned. */
  restart: [{ pid: number }];
  /** A restart request was refused (one already in flight, or not serving). */
  'restart-refused': [GraceError];
  /** The next generation failed to become ready; this one keeps serving. */
  'restart-failed': [GraceError];
  /** The next generation is ready and serving; this one drains. */
  handover: [{ pid: number }];
  /** A stop began with a stop delay: still serving, readiness says going away. */
  leaving: [{ signal: NodeJS.Signals | undefined; stopDelay: number }];
  /** Draining started. */
  stopping: [{ reason: StopReason; signal: NodeJS.Signals | undefined }];
  /** Draining finished; `forced` connections were destroyed at the deadline. */
  stopped: [{ reason: StopReason; forced: number }];
}

/**
 * A running generation: its servers, its signal handling and its restarts.
 * Made by {@link start}; {@link serve} is `start` then `done`. Its state
 * changes only through the lifecycle table (`lifecycle.ts`).
 */
export class Graceful extends EventEmitter<GracefulEvents> {
  /** Resolves once this process has finished serving (after a handover or a stop has drained). */
  readonly done: Promise<void>;
  /** The shutdown registry this generation drains through (given in options, or its own). */
  readonly shutdown: Shutdown;
  private readonly options: ResolvedOptions;
  private logger: Log;
  private readonly host: ProcessHost;
  private readonly net: Net;
  private readonly drainers: Drainer[];
  private readonly bound: Listener[] = [];
  private readonly removeSignalHandlers: Array<() => void> = [];
  private lifecycle: Lifecycle;
  private starter: Starter | undefined;
  /** The ready channel to whoever started us, read for "retire" and for its EOF (ready-pipe.ts). */
  private channel: StarterChannel | undefined;
  /** A file watcher or a wrapper that started us (generation 1 only); see launched-by.ts. */
  private launch: LaunchedBy = { kind: 'direct' };
  private generation = 1;
  /** Where we serve, as a log label; read once listening (a closed server has no address). */
  private where = '';
  private status: StatusReporter | undefined;
  private attempt: RestartAttempt | undefined;
  /** What `restart()` callers wait for: the attempt's pid, or its refusal. */
  private pendingRestart: Promise<number> | undefined;
  private resolveDone!: () => void;
  private stopDelayTimer: NodeJS.Timeout | undefined;
  private removeCrashHandler: (() => void) | undefined;
  /** While warming up: a stop aborts the warm-up, and its drain waits until the warm-up's channel is gone. */
  private warming: { abort: AbortController; over: Promise<unknown> } | undefined;
  /** Set once a managed stop finished: arms the exit timer when nothing is left to wait for. */
  private exitWhenDone: (() => void) | undefined;

  /** @internal Use {@link start} or {@link serve}. */
  constructor(
    private readonly targets: Array<{ server: Server; listen: ListenSpec | undefined; drainer?: Drainer }>,
    options: ServeOptions,
    seams: ServeSeams = {},
  ) {
    super();
    this.host = seams.host ?? realProcess;
    this.options = resolveOptions(options, this.host.env);
    this.logger = resolveLogger(options.logger, this.host.env).with({ pid: this.host.pid });
    this.net = seams.net ?? processNet();
    // Before the drainers: their listener goes in front of the health one.
    installHealth(targets.map((t) => t.server), this.options.health, () => this.isReady(), this.logger);
    this.drainers = targets.map((t) => t.drainer ?? new ConnectionDrainer(t.server));
    this.shutdown = options.shutdown ?? new Shutdown({ logger: options.logger });
    this.lifecycle = initialLifecycle(false, this.options.stopDelay > 0);
    // A registry shared with the app may be shut down by the app: stop serving
    // then too, with no delay (its closers are already running).
    this.shutdown.on('shutdown', () => this.dispatch({ type: 'stop', delay: false }));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /**
   * Whether a load balancer should send this instance traffic: true while
   * serving (also while a restart starts, and while draining after a
   * handover, since the successor serves the same sockets); false while
   * starting and from the first moment of a stop.
   */
  isReady(): boolean {
    const { state, reason } = this.lifecycle;
    return state === 'serving' || state === 'restarting' || (reason === 'handover' && state !== 'stopped');
  }

  /** Where each server listens, in order: an address, or a unix socket path. */
  addresses(): Array<AddressInfo | string> {
    // A unix server reports the temporary name it bound (or null, once adopted).
    return this.bound.map((l) => (l.spec.kind === 'unix' ? l.spec.path : (l.server.address() as AddressInfo)));
  }

  /**
   * @internal Reads the inherited sockets, runs the ready hook, then adopts or
   * binds every socket and tells whoever started us: nothing is accepted
   * before the ready hook resolved.
   */
  async start(): Promise<void> {
    if (!canPassSockets(this.host)) {
      this.logger.warn(`hot restart is not available on ${this.host.platform}; serving with graceful stop only`, { event: 'no-hot-restart', platform: this.host.platform });
    }
    this.claimProcess();
    try {
      const env = this.net.inherit();
      if (env.ignored) this.logger.warn(`ignoring ${env.ignored}`, { event: 'env-ignored' });
      // serve(server) with no spec: decided here, as it depends on what was inherited.
      const listens = this.targets.map((t) => t.listen ?? defaultListenSpec(env.fds.length, this.host.env));
      this.starter = env.starter;
      this.generation = env.generation;
      this.lifecycle = initialLifecycle(this.starter?.kind === 'supervisor', this.options.stopDelay > 0);
      this.logger = this.logger.with({ generation: this.generation });
      if (this.starter) {
        this.channel = openStarterChannel(this.host, this.starter, this.logger, {
          retire: () => this.dispatch({ type: 'retire' }),
          gone: (why) => {
            this.logger.warn(`${why}: stopping pid ${this.host.pid}`, { event: 'starter-gone', starter: this.starter!.pid });
            this.dispatch({ type: 'starter-gone' });
          },
        });
      }
      const sayLaunch = this.readLaunch();
      if (this.starter?.kind !== 'supervisor') {
        this.status = new StatusReporter(this.host, this.logger, {
          pidFile: this.options.pidFile,
          signal: this.options.restartSignal === false || this.launch.kind === 'watcher' ? null : this.options.restartSignal,
          mainPidMoves: true,
        });
      }
      this.installSignalHandlers();
      if (this.options.handleCrashes) this.removeCrashHandler = this.host.onUncaught((error, origin) => this.onCrash(error, origin));
      this.logger.info(`Starting pid ${this.host.pid} (generation ${this.generation})`, { event: 'starting', inherited: env.fds.length });
      sayLaunch();
      try {
        await this.options.ready?.();
      } catch (cause) {
        throw new GraceError('ERR_GRACE_READY', `the ready hook failed: ${(cause as Error)?.message ?? cause}`, { cause });
      }
      if (this.options.warmUp) await this.warmUp(this.options.warmUp);
      if (this.lifecycle.state !== 'starting') return; // stopped while the ready hook or the warm-up ran
      for (const [i, { server }] of this.targets.entries()) {
        const listen = listens[i]!;
        this.bound.push(listen === ONLY_INHERITED ? await this.net.listenOnlyInherited(server) : await this.net.listen(server, listen, { pidFile: this.options.pidFile }));
        // A stop between two listens has drained already: accept nothing after it.
        if (this.lifecycle.state !== 'starting') return this.closeListening();
      }
      this.checkUnclaimed();
    } catch (err) {
      this.abortStart();
      throw err;
    }
    this.where = this.describeAddresses();
    this.logger.info(`Serving ${this.where} with pid ${this.host.pid}`, { event: 'serving', addresses: this.addresses() });
    this.emitAfterStart('listening', { pid: this.host.pid, addresses: this.addresses() });
    if (this.dispatch({ type: 'started' }).some((a) => a.do === 'announce')) await this.announce();
  }

  private async warmUp(options: ResolvedWarmUp): Promise<void> {
    const { warmUp } = await import('./warm-up.js');
    if (this.lifecycle.state !== 'starting') return; // stopped while the ready hook ran
    const abort = new AbortController();
    const warming = warmUp(this.targets, options, { logger: this.logger, host: this.host, signal: abort.signal });
    this.warming = { abort, over: warming.catch(() => {}) };
    try {
      await warming;
    } finally {
      this.warming = undefined;
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
    if (this.launch.kind === 'watcher') {
      return this.refuse(new GraceError('ERR_GRACE_RESTART_FAILED', `hot restart is off under ${this.launch.name}: it restarts the app itself`));
    }
    if (!canPassSockets(this.host)) {
      return this.refuse(new GraceError('ERR_GRACE_RESTART_FAILED', `hot restart is not available on ${this.host.platform}`));
    }
    if (this.host.pid === 1 && !this.lifecycle.supervised) {
      // Our exit would end the container: run under `grace run` (or an init) instead.
      return this.refuse(
        new GraceError('ERR_GRACE_RESTART_FAILED', 'hot restart is not available as pid 1: the old generation exiting would end the container; run under `grace run` or `docker run --init`'),
      );
    }
    this.pendingRestart = undefined;
    this.dispatch({ type: 'restart' });
    return this.pendingRestart ?? Promise.reject(new GraceError('ERR_GRACE_NOT_SERVING', `pid ${this.host.pid} is not serving`));
  }

  /**
   * Stops gracefully (after the stop delay, if one is set), drains, and
   * resolves when done. Idempotent: every call returns the same promise.
   */
  stop(): Promise<void> {
    this.dispatch({ type: 'stop', delay: true });
    return this.done;
  }

  /**
   * Applies one event to the lifecycle and carries out its actions, but for
   * those that need the caller: 'announce' (start() awaits it) and
   * 'report-failure' (the failed attempt knows why). Returns every action.
   */
  private dispatch(event: LifecycleEvent): Action[] {
    const { next, actions } = transition(this.lifecycle, event);
    if (next !== this.lifecycle || actions.length) {
      this.logger.debug(`${event.type}${event.type === 'signal' ? ` ${event.signal}` : ''}: ${this.lifecycle.state} -> ${next.state}${actions.length ? ` (${actions.map((a) => a.do).join(', ')})` : ''}`, {
        event: 'transition',
        on: event.type,
        from: this.lifecycle.state,
        to: next.state,
        actions: actions.map((a) => a.do),
      });
    }
    const successorSignalled = this.lifecycle.childSigtermDue && !next.childSigtermDue;
    this.lifecycle = next;
    for (const action of actions) this.carryOut(action);
    if (successorSignalled) {
      // Its SIGTERM is in: nothing of the protocol is left to wait for.
      this.attempt?.release();
      this.exitWhenDone?.();
    }
    // Once stopped and no successor's SIGTERM is due, signals are no longer ours.
    if (next.state === 'stopped' && !next.childSigtermDue) this.uninstallSignalHandlers();
    return actions;
  }

  private carryOut(action: Action): void {
    switch (action.do) {
      case 'spawn':
        return this.spawn();
      case 'ask-supervisor':
        return this.askSupervisor();
      case 'refuse':
        this.pendingRestart = this.refuse(this.refusal(action.why, action.code));
        return;
      case 'abandon-child':
        this.attempt?.abandon(`stopping before pid ${this.attempt.pid ?? '(not spawned)'} was ready`);
        return;
      case 'leave':
        return this.leave(action.signal);
      case 'drain':
        void this.drain(action.reason, action.signal);
        return;
      case 'force':
        this.logger.warn(`${action.signal} during shutdown: closing remaining connections now`, { event: 'force', signal: action.signal });
        this.shutdown.force();
        return;
      case 'default-action':
        this.logger.info(`${action.signal} is not a stop signal here: terminating pid ${this.host.pid}`, { event: 'default-action', signal: action.signal });
        this.uninstallSignalHandlers();
        this.host.kill(this.host.pid, action.signal);
        return;
      case 'finish':
      case 'announce':
      case 'report-failure':
        return; // carried out by the caller: drain(), start(), spawn()
    }
  }

  // Only one serve per process: inherited sockets and signals are the
  // process's. The process's Net is shared by every copy of the package.
  private claimProcess(): void {
    if (this.net.owner && this.net.owner !== this) {
      throw new GraceError(
        'ERR_GRACE_OPTIONS',
        'gracehttp is already serving in this process: pass every server to one call, serve([{ server, listen }, …])',
      );
    }
    this.net.owner = this;
    void this.done.then(() => this.releaseProcess());
  }

  private releaseProcess(): void {
    if (this.net.owner === this) this.net.owner = undefined;
  }

  // Start-up failed: close what we opened. Only paths this process bound are
  // removed; an inherited path is still served by the previous generation.
  private abortStart(): void {
    this.channel?.close();
    this.uninstallSignalHandlers();
    this.removeCrashHandler?.();
    this.closeListening();
    this.removeSocketFiles(this.bound.filter((l) => !l.inherited));
    this.releaseProcess();
  }

  private closeListening(): void {
    for (const { server } of this.bound) if (server.listening) server.close();
  }

  // Under a supervisor, every socket it holds is there for the app to serve:
  // one left over means the app and `--listen` disagree, and it is not ready.
  private checkUnclaimed(): void {
    const unclaimed = this.net.closeUnclaimed();
    const names = unclaimed.map(({ fd, name }) => `fd ${fd}${name === undefined ? '' : ` (${name})`}`);
    if (unclaimed.length && this.starter?.kind === 'supervisor') {
      throw new GraceError('ERR_GRACE_INHERITED_FD', `grace run holds ${names.join(', ')}, but this app does not listen on it: make --listen match what the app serves`);
    }
    for (const name of names) this.logger.warn(`closed inherited ${name}: nothing listens on it in this generation`, { event: 'inherited-closed', fd: name });
  }

  /** We serve: the pid file and systemd name us, then whoever started us hears "ready". */
  private async announce(): Promise<void> {
    // Before the old generation is told to go, so a deploy script never sees
    // the pid file name a process that is exiting, and systemd's main pid
    // moves to us before the old one exits.
    await this.status?.serving(this.generation, this.host.pid);
    this.channel?.ready();
    this.emitAfterStart('ready', { pid: this.host.pid, parentPid: this.starter?.kind === 'parent' ? this.starter.pid : undefined });
  }

  // 'listening' and 'ready' happen before start() hands the app its handle:
  // emitted synchronously, no listener could ever hear them. After the
  // microtasks that resolve start() and run the app's code after its await.
  private emitAfterStart<E extends 'listening' | 'ready'>(event: E, ...args: GracefulEvents[E]): void {
    setImmediate(() => (this.emit as (e: E, ...a: GracefulEvents[E]) => boolean)(event, ...args));
  }

  private spawn(): void {
    const lossy = nonUtf8Warning(this.host.pid, this.host.env, 'the new generation');
    if (lossy) this.logger.warn(lossy, { event: 'non-utf8' });
    const attempt = new RestartAttempt(this.host, this.net, {
      readyTimeout: this.options.readyTimeout,
      beforeRestart: this.options.beforeRestart,
      generation: this.generation + 1,
      onSpawned: (pid) => {
        this.logger.info(`Starting new generation pid ${pid} from pid ${this.host.pid}`, { event: 'restart', child: pid });
        this.emit('restart', { pid });
      },
    });
    this.attempt = attempt;
    this.status?.restarting(this.generation, this.host.pid);
    this.pendingRestart = attempt.ready;
    attempt.ready.then(
      (pid) => {
        // The successor stays referenced until its SIGTERM is in: an old
        // generation whose loop emptied first could still be exiting when the
        // signal lands, after its handlers are gone, and die of it.
        if (!this.dispatch({ type: 'child-ready' }).some((a) => a.do === 'drain')) {
          attempt.release();
          // Ready in the same turn as a stop began: the stop wins, the child goes too.
          this.logger.info(`stopping new generation pid ${pid}: this one is stopping`, { event: 'child-stopped', child: pid });
          this.host.kill(pid, 'SIGTERM');
          return;
        }
        this.logger.info(`Graceful handoff of ${this.where} with new pid ${pid} and old pid ${this.host.pid}`, { event: 'handover', child: pid, addresses: this.addresses() });
        this.emit('handover', { pid });
      },
      (err: GraceError) => {
        if (this.attempt === attempt) this.attempt = undefined;
        if (!this.dispatch({ type: 'restart-failed' }).some((a) => a.do === 'report-failure')) {
          this.logger.info(`new generation abandoned: ${err.message}`, { event: 'child-abandoned', err });
          return;
        }
        if (this.lifecycle.state !== 'serving') {
          // It crashed while the restart ran: the stop it put off has begun.
          this.logger.error(`restart failed: ${err.message}; pid ${this.host.pid} had crashed, so it stops`, { event: 'restart-failed', err });
        } else {
          this.logger.error(`restart failed: ${err.message}; still serving with pid ${this.host.pid}`, { event: 'restart-failed', err });
          this.status?.failed(this.generation, this.host.pid, err.message);
        }
        this.emit('restart-failed', err);
      },
    );
  }

  // Under `grace run` the supervisor starts generations; pass the request on,
  // but only to the supervisor that is still our parent (never a recycled pid).
  private askSupervisor(): void {
    const supervisor = this.starter!.pid;
    const ppid = this.host.ppid();
    if (ppid !== supervisor) {
      this.pendingRestart = this.refuse(new GraceError('ERR_GRACE_RESTART_FAILED', `supervisor pid ${supervisor} is no longer our parent (parent is pid ${ppid})`));
      return;
    }
    this.logger.info(`supervised: asking supervisor pid ${supervisor} to restart`, { event: 'ask-supervisor', supervisor });
    try {
      this.host.kill(supervisor, 'SIGUSR2');
      this.pendingRestart = Promise.resolve(supervisor);
    } catch (cause) {
      this.pendingRestart = Promise.reject(new GraceError('ERR_GRACE_RESTART_FAILED', `cannot signal supervisor pid ${supervisor}`, { cause }));
    }
  }

  private refusal(why: 'in progress' | 'not ready' | 'shutting down', code: GraceError['code']): GraceError {
    if (why === 'in progress') {
      const pid = this.attempt?.pid === undefined ? '' : ` (new pid ${this.attempt.pid})`;
      return new GraceError(code, `a restart is already in progress${pid}`);
    }
    return new GraceError(code, `pid ${this.host.pid} is ${why === 'not ready' ? 'not ready yet' : 'shutting down'}`);
  }

  private refuse(error: GraceError): Promise<never> {
    this.logger.warn(`restart refused: ${error.message}`, { event: 'restart-refused', err: error });
    this.emit('restart-refused', error);
    return Promise.reject(error);
  }

  /**
   * Who started us, when nobody in grace did (generation 1, not under `grace
   * run`): a file watcher turns hot restarts off, a wrapper earns a warning.
   * Returns what to log, once, after the "Starting" line.
   */
  private readLaunch(): () => void {
    const { restartSignal, devWatcher } = this.options;
    if (this.starter) return () => {};
    const { setting, source, invalidEnv } = watcherSetting(devWatcher, this.host.env);
    const facts = { env: this.host.env, execArgv: this.host.execArgv, ppid: this.host.ppid(), readProcess: this.host.readProcess };
    this.launch = launchedBy(facts, setting);
    const launch = this.launch;
    return () => {
      if (invalidEnv) this.logger.warn(`ignoring ${invalidEnv}`, { event: 'env-ignored' });
      if (restartSignal === false || !canPassSockets(this.host)) return;
      if (launch.kind === 'watcher') {
        const why = launch.how === 'forced' ? ` (${source})` : '';
        this.logger.info(`running under ${launch.name}${why}: ${restartSignal} stops gracefully instead of restarting (the watcher restarts the app)`, { event: 'watcher', watcher: launch.name });
      } else if (launch.kind === 'wrapper') {
        const direct = directCommand(this.host.execArgv, this.host.argv, this.host.cwd());
        this.logger.warn(wrapperWarning(launch, { pid: this.host.pid, signal: restartSignal, direct }), { event: 'wrapper', wrapper: launch.name });
      }
    };
  }

  private installSignalHandlers(): void {
    const { restartSignal, stopSignals } = this.options;
    // A registry that handled the stop signals on its own hands them to us.
    this.shutdown.releaseSignals();
    // Under a file watcher the restart signal is the watcher's "stop, I will restart you".
    const watched = this.launch.kind === 'watcher';
    const restartable = restartSignal !== false && canPassSockets(this.host) && !watched;
    const stops = new Set(stopSignals);
    if (watched && restartSignal !== false) stops.add(restartSignal);
    // A new generation says it is ready with SIGTERM too: with restarts on,
    // SIGTERM is always ours to tell apart.
    const handled = new Set(stops);
    if (restartable) handled.add('SIGTERM');
    for (const signal of handled) {
      const onSignal = () => this.host.afterIo(() => this.dispatch({ type: 'signal', signal, stopSignal: stops.has(signal) }));
      this.removeSignalHandlers.push(this.host.onSignal(signal, onSignal));
    }
    if (restartable) {
      this.removeSignalHandlers.push(this.host.onSignal(restartSignal, () => void this.restart().catch(() => {})));
    }
  }

  private uninstallSignalHandlers(): void {
    for (const remove of this.removeSignalHandlers.splice(0)) remove();
  }

  /** A stop with a stop delay: readiness says "going away" while we go on serving. */
  private leave(signal: NodeJS.Signals | undefined): void {
    const delay = this.options.stopDelay;
    this.logger.info(`Leaving: pid ${this.host.pid}${signal ? ` got ${signal} and` : ''} serves ${delay} ms more while readiness says going away, then drains`, {
      event: 'leaving',
      signal,
      stopDelay: delay,
    });
    this.status?.stopping();
    this.shutdown.markLeaving();
    this.emit('leaving', { signal, stopDelay: delay });
    this.stopDelayTimer = setTimeout(() => this.dispatch({ type: 'delay-over' }), delay);
  }

  private async drain(reason: StopReason, signal: NodeJS.Signals | undefined): Promise<void> {
    clearTimeout(this.stopDelayTimer);
    if (reason !== 'handover') {
      const why = reason === 'crash' ? ' after an uncaught error' : signal ? ` on ${signal}` : '';
      this.logger.info(`Stopping pid ${this.host.pid}${why}`, { event: 'stopping', reason, signal });
      this.status?.stopping();
    }
    this.emit('stopping', { reason, signal });
    // Stop accepting at once; the registry waits for the drain in its drain phase.
    // A stop during the warm-up aborts it: drained once its channel is gone too.
    this.warming?.abort.abort();
    const drained = Promise.all([...this.drainers.map((d) => d.drain(this.options.idleGrace)), this.warming?.over]);
    let forced = 0;
    const unregister = this.shutdown.register(() => drained, {
      name: `servers (${this.where || 'not listening'})`,
      phase: 'drain',
      force: () => {
        for (const drainer of this.drainers) forced += drainer.forceClose();
      },
    });
    const report = await this.shutdown.shutdown({ reason, timeout: this.options.shutdownTimeout });
    unregister();
    // After a handover the successor serves on these paths and wrote its pid,
    // and under a supervisor both are the supervisor's: leave them.
    if (reason !== 'handover' && this.starter?.kind !== 'supervisor') {
      this.removeSocketFiles();
      this.status?.stopped();
    }
    if (forced > 0) {
      const timeout = this.options.shutdownTimeout ?? this.shutdown.timeout;
      const deadline = report.durationMs >= timeout ? `after ${timeout} ms` : 'on a forced stop';
      this.logger.warn(`destroyed ${forced} connection(s) still open ${deadline}`, { event: 'connections-destroyed', count: forced });
    }
    const done = this.dispatch({ type: 'drained' }).find((a) => a.do === 'finish');
    this.finish(reason, report, forced, done?.crashed ?? false);
  }

  /**
   * With `handleCrashes`: an error nobody caught. Other clients' requests are
   * still in flight and the closers have not run, so stop gracefully rather
   * than die; but the process is suspect, so no stop delay, and exit 1.
   */
  private onCrash(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void {
    const what = origin === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection';
    const message = error instanceof Error ? error.message : String(error);
    const { state } = this.lifecycle;
    const then =
      state === 'draining' || state === 'stopped'
        ? 'while stopping; the stop goes on, then exits with status 1'
        : state === 'restarting'
          ? `while pid ${this.attempt?.pid ?? '(not spawned yet)'} starts: serving until it is ready, then handing over and exiting with status 1`
          : 'stopping gracefully, then exiting with status 1';
    this.logger.error(`${what}: ${message}; ${then}`, { event: 'crash', origin, err: error }, { stack: true });
    this.dispatch({ type: 'crash' });
  }

  private finish(reason: StopReason, report: ShutdownReport, forced: number, crashed: boolean): void {
    // Past the stop, an app's errors are its own again.
    if (!crashed) this.removeCrashHandler?.();
    const clean = !report.forced && report.failed.length === 0 && forced === 0;
    // A crash exits 1 however cleanly it drained, during a stop or a handover too: the process failed.
    const status = clean && !crashed ? 0 : 1;
    const managed = this.options.exit && reason !== 'stop';
    if (!clean) {
      const what = [report.forced || forced ? 'was forced' : '', report.failed.length ? `had failed closers (${report.failed.map((f) => f.name).join(', ')})` : '']
        .filter(Boolean)
        .join(' and ');
      this.logger.warn(`the stop ${what}${managed ? ': exit status 1' : ''}`, { event: 'unclean-stop', forced: report.forced || forced > 0, failed: report.failed.map((f) => f.name) });
    }
    this.logger.info(`Exiting pid ${this.host.pid}`, { event: 'exiting', reason, status });
    this.emit('stopped', { reason, forced });
    this.resolveDone();
    if (!managed) return;
    if (status !== 0) this.host.setExitCode(status);
    // Exit even if something else (a timer, a pool) holds the event loop open,
    // and say so; not before a successor's SIGTERM is in (see spawn()).
    this.exitWhenDone = () => {
      if (this.lifecycle.childSigtermDue) return;
      this.exitWhenDone = undefined;
      setTimeout(() => {
        this.logger.warn(`pid ${this.host.pid} still busy ${EXIT_GRACE_MS} ms after draining (a timer, socket or pool left open): exiting with status ${status}`, { event: 'exit-forced', status });
        this.host.exit(status);
      }, EXIT_GRACE_MS).unref();
    };
    this.exitWhenDone();
  }

  private removeSocketFiles(listeners: Listener[] = this.bound): void {
    for (const { socketFile } of listeners) {
      try {
        if (socketFile) removeSocketFile(socketFile);
      } catch (err) {
        this.logger.warn(`could not remove ${socketFile!.path}: ${(err as Error).message}`, { event: 'socket-file-failed', path: socketFile!.path, err });
      }
    }
  }

  private describeAddresses(): string {
    return this.bound
      .map((l) => {
        const address = l.server.address();
        if (address && typeof address === 'object') {
          return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
        }
        return describeSpec(l.spec);
      })
      .join(', ');
  }
}

type ServeArgs = [server: Server, listen?: ListenSpec, options?: ServeOptions] | [targets: ServeTarget[], options?: ServeOptions];

/**
 * Serves until this generation is done, then resolves. Listens (adopting
 * inherited sockets), handles the restart and stop signals, and drains.
 * Rejects if listening or the ready hook fails.
 *
 * With no listen spec (`serve(server)`), it adopts the inherited socket when
 * there is exactly one (systemd, `grace run`), whatever its address, else
 * listens on `PORT` from the environment, else rejects with ERR_GRACE_LISTEN_SPEC.
 *
 * @example await gracehttp.serve(server, { port: 8080 })
 * @example await gracehttp.serve(server) // under `grace run --listen :8080`, or PORT=8080
 * @example await gracehttp.serve([{ server: api, listen: 8080 }, { server: admin, listen: '/run/admin.sock' }])
 */
export async function serve(...args: ServeArgs): Promise<void> {
  const graceful = await start(...args);
  await graceful.done;
}

/** Like {@link serve}, but resolves once serving with the {@link Graceful} handle (events, restart, stop, done). */
export function start(...args: ServeArgs): Promise<Graceful> {
  return startWith({}, ...args);
}

/** `start` against stand-ins for the process; internal (`gracehttp` does not export it). */
export async function startWith(seams: ServeSeams, ...args: ServeArgs): Promise<Graceful> {
  const [targets, options] = normalize(args);
  const graceful = new Graceful(targets, options, seams);
  await graceful.start();
  return graceful;
}

function normalize(args: ServeArgs): [Array<{ server: Server; listen: ListenSpec | undefined; drainer?: Drainer }>, ServeOptions] {
  if (Array.isArray(args[0])) {
    const targets = args[0];
    if (targets.length === 0) throw new GraceError('ERR_GRACE_OPTIONS', 'serve() needs at least one { server, listen }');
    if (targets.some((t) => t.listen === undefined)) {
      throw new GraceError('ERR_GRACE_LISTEN_SPEC', 'serve([{ server, listen }, …]) needs a listen spec for each server; only serve(server) has a default');
    }
    return [targets, (args[1] as ServeOptions | undefined) ?? {}];
  }
  const [server, listen, options] = args as [Server, ListenSpec | undefined, ServeOptions | undefined];
  return [[{ server, listen }], options ?? {}];
}
