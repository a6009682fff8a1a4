import { EventEmitter } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import { ConnectionDrainer } from './drain.js';
import { GraceError } from './errors.js';
import { describeSpec, type ListenSpec } from './listen-spec.js';
import { resolveLogger, type Logger } from './logger.js';
import { processNet, type Listener, type Net } from './net.js';
import { resolveOptions, type ResolvedOptions, type ServeOptions } from './options.js';
import { canPassSockets, realProcess, type ProcessHost } from './process-host.js';
import { RestartAttempt } from './restart.js';
import { Shutdown } from './shutdown.js';
import { within } from './within.js';
import { removeSocketFile } from './unix-socket.js';
import { processStartTime, removePidFile, writePidFile, type PidFileState } from './pid-file.js';
import { closeSync, writeSync } from 'node:fs';
import { systemdNotifier, type Notify } from './notify.js';

// The child's SIGTERM arrives right after its "ready"; allow for a busy loop.
const CHILD_SIGTERM_WINDOW_MS = 2000;
// Its "ready" was written before its SIGTERM: if it is not here by then, it never comes.
const READY_AFTER_SIGTERM_MS = 250;
// A child that has not spoken yet gets this long to show it speaks the pipe protocol.
const FIRST_WORD_WAIT_MS = 1000;

/** One server and where it listens. */
export interface ServeTarget {
  server: Server;
  listen: ListenSpec;
}

/** Why this generation stopped serving. */
export type StopReason = 'handover' | 'signal' | 'stop';

/** Lifecycle events of a {@link Graceful}, with their payloads. */
export interface GracefulEvents {
  /** Every server listens (on inherited or fresh sockets). */
  listening: [{ pid: number; addresses: Array<AddressInfo | string> }];
  /** The ready hook resolved; the previous generation, if any, was told to go. */
  ready: [{ pid: number; parentPid: number | undefined }];
  /** A next generation was spawned. */
  restart: [{ pid: number }];
  /** A restart request was refused (one already in flight, or not serving). */
  'restart-refused': [GraceError];
  /** The next generation failed to become ready; this one keeps serving. */
  'restart-failed': [GraceError];
  /** The next generation is ready and serving; this one drains. */
  handover: [{ pid: number }];
  /** Draining started. */
  stopping: [{ reason: StopReason; signal: NodeJS.Signals | undefined }];
  /** Draining finished; `forced` connections were destroyed at the deadline. */
  stopped: [{ reason: StopReason; forced: number }];
}

/**
 * A running generation: its servers, its signal handling and its restarts.
 * Made by {@link start}; {@link serve} is `start` then `done`.
 */
export class Graceful extends EventEmitter<GracefulEvents> {
  /** Resolves once this process has finished serving (after a handover or a stop has drained). */
  readonly done: Promise<void>;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly host: ProcessHost;
  private readonly net: Net;
  private readonly drainers: ConnectionDrainer[];
  private readonly bound: Listener[] = [];
  private readonly removeSignalHandlers: Array<() => void> = [];
  private notify: Notify = async () => {};
  private state: 'starting' | 'serving' | 'stopping' | 'stopped' = 'starting';
  private attempt: RestartAttempt | undefined;
  private lastFailedAttempt: RestartAttempt | undefined;
  /** Until when a SIGTERM is the handed-over child's, not a second stop signal. */
  private childSigtermDue = 0;
  private stopping: Promise<void> | undefined;
  private resolveDone!: () => void;
  /** The shutdown registry this generation drains through (given in options, or its own). */
  readonly shutdown: Shutdown;

  /** @internal Use {@link start} or {@link serve}. */
  constructor(
    private readonly targets: ServeTarget[],
    options: ServeOptions,
  ) {
    super();
    this.options = resolveOptions(options);
    this.logger = resolveLogger(options.logger);
    this.host = options.host ?? realProcess;
    this.net = options.net ?? processNet();
    this.drainers = targets.map((t) => new ConnectionDrainer(t.server));
    this.shutdown = options.shutdown ?? new Shutdown({ logger: options.logger });
    // A registry shared with the app may be shut down by the app: stop serving then too.
    this.shutdown.on('shutdown', () => {
      if (this.state === 'serving' || this.state === 'starting') void this.beginStop('stop', undefined);
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Where each server listens, in order: an address, or a unix socket path. */
  addresses(): Array<AddressInfo | string> {
    // A unix server reports the temporary name it bound (or null, once adopted).
    return this.bound.map((l) => (l.spec.kind === 'unix' ? l.spec.path : (l.server.address() as AddressInfo)));
  }

  /** @internal Listens, runs the ready hook, then tells the previous generation to go. */
  async start(): Promise<void> {
    if (!canPassSockets(this.host)) {
      this.logger.warn(`hot restart is not available on ${this.host.platform}; serving with graceful stop only`);
    }
    if (this.net.owner && this.net.owner !== this) {
      throw new GraceError(
        'ERR_GRACE_OPTIONS',
        'gracehttp is already serving in this process: pass every server to one call, serve([{ server, listen }, …])',
      );
    }
    this.net.owner = this;
    this.done.then(() => {
      if (this.net.owner === this) this.net.owner = undefined;
    });
    try {
      const { readyFd } = this.net.inherit();
      // Tell the previous generation early that we speak the pipe protocol.
      if (readyFd !== undefined) this.say(readyFd, 'hello', false);
      for (const target of this.targets) this.bound.push(await this.net.listen(target.server, target.listen));
    } catch (err) {
      this.closeServers();
      this.net.owner = undefined;
      throw err;
    }
    this.installSignalHandlers();
    this.logger.info(`Serving ${this.describeAddresses()} with pid ${this.host.pid}`);
    this.emit('listening', { pid: this.host.pid, addresses: this.addresses() });
    try {
      await this.options.ready?.();
    } catch (cause) {
      this.uninstallSignalHandlers();
      this.closeServers();
      this.net.owner = undefined;
      throw new GraceError('ERR_GRACE_READY', `the ready hook failed: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    for (const { fd, name } of this.net.closeUnclaimed()) {
      this.logger.warn(`closed inherited fd ${fd}${name === undefined ? '' : ` (${name})`}: nothing listens on it in this generation`);
    }
    if (this.state !== 'starting') return; // stopped while the ready hook ran
    this.state = 'serving';
    // The pid file names us before the old generation is told to go, so a
    // deploy script never sees it name a process that is exiting.
    this.writePidFile('serving');
    const { parentPid, readyFd, supervisorPid } = this.net.inherit();
    if (supervisorPid !== undefined) {
      if (readyFd !== undefined) this.say(readyFd, 'ready', true);
    } else {
      // Under systemd (Type=notify, NotifyAccess=all) the main pid moves to us
      // before the old generation exits, so the service never looks dead.
      this.notify = systemdNotifier(this.host, this.logger);
      await this.notify(`MAINPID=${this.host.pid}`, 'READY=1');
      // "ready" on the pipe first, so the parent knows the SIGTERM is ours.
      if (readyFd !== undefined) this.say(readyFd, 'ready', true);
      this.signalParent(parentPid);
    }
    this.emit('ready', { pid: this.host.pid, parentPid });
  }

  /**
   * Starts the next generation, as the restart signal does. Resolves with its pid
   * once it is ready and this one has begun draining; rejects (and keeps
   * serving) if it fails, or at once if a restart is already in flight. Under
   * `grace run` it passes the request to the supervisor and resolves with the
   * supervisor's pid at once; the supervisor reports the outcome.
   */
  restart(): Promise<number> {
    const refusal = this.refuseRestart();
    if (refusal) {
      this.logger.warn(`restart refused: ${refusal.message}`);
      this.emit('restart-refused', refusal);
      return Promise.reject(refusal);
    }
    const supervisorPid = this.net.inherit().supervisorPid;
    if (supervisorPid !== undefined) return this.askSupervisor(supervisorPid);
    const generation = this.net.inherit().generation;
    const attempt = new RestartAttempt(this.host, this.net, { ...this.options, generation: generation + 1 }, this.logger);
    this.attempt = attempt;
    attempt.result.then(
      (pid) => this.emit('handover', { pid }),
      (err: GraceError) => {
        if (this.attempt === attempt) this.attempt = undefined;
        this.lastFailedAttempt = attempt;
        if (this.state === 'serving') {
          this.writePidFile('failed', err.message);
          void this.notify('READY=1');
        }
        this.emit('restart-failed', err);
      },
    );
    this.writePidFile('restarting');
    void this.notify('RELOADING=1');
    void attempt.readyMessage.then(() => this.handover(attempt));
    void attempt.begin().then(() => {
      if (attempt.pid !== undefined && this.attempt === attempt) this.emit('restart', { pid: attempt.pid });
    });
    return attempt.result;
  }

  /** Stops accepting, drains, and resolves when done. Idempotent: every call returns the same promise. */
  stop(): Promise<void> {
    return this.beginStop('stop', undefined);
  }

  // Under `grace run` the supervisor starts generations; pass the request on.
  private askSupervisor(supervisorPid: number): Promise<number> {
    this.logger.info(`supervised: asking supervisor pid ${supervisorPid} to restart`);
    try {
      this.host.kill(supervisorPid, 'SIGUSR2');
    } catch (cause) {
      return Promise.reject(new GraceError('ERR_GRACE_RESTART_FAILED', `cannot signal supervisor pid ${supervisorPid}`, { cause }));
    }
    return Promise.resolve(supervisorPid);
  }

  private writePidFile(state: PidFileState['state'], message?: string): void {
    const path = this.options.pidFile;
    if (!path || this.net.inherit().supervisorPid !== undefined) return;
    try {
      writePidFile(path, {
        pid: this.host.pid,
        start: processStartTime(this.host.pid),
        generation: this.net.inherit().generation,
        serving: this.host.pid,
        signal: this.options.restartSignal === false ? null : this.options.restartSignal,
        state,
        ...(message === undefined ? {} : { message }),
        at: Date.now(),
      });
    } catch (err) {
      this.logger.warn(`could not write pid file ${path}: ${(err as Error).message}`);
    }
  }

  private refuseRestart(): GraceError | undefined {
    if (!canPassSockets(this.host)) {
      return new GraceError('ERR_GRACE_RESTART_FAILED', `hot restart is not available on ${this.host.platform}`);
    }
    if (this.attempt) {
      const pid = this.attempt.pid === undefined ? '' : ` (new pid ${this.attempt.pid})`;
      return new GraceError('ERR_GRACE_RESTART_IN_PROGRESS', `a restart is already in progress${pid}`);
    }
    if (this.host.pid === 1) {
      // Our exit would end the container: run under `grace run` (or an init) instead.
      return new GraceError('ERR_GRACE_RESTART_FAILED', 'hot restart is not available as pid 1: the old generation exiting would end the container; run under `grace run` or `docker run --init`');
    }
    if (this.state === 'starting') return new GraceError('ERR_GRACE_NOT_SERVING', `pid ${this.host.pid} is not ready yet`);
    if (this.state !== 'serving') return new GraceError('ERR_GRACE_NOT_SERVING', `pid ${this.host.pid} is shutting down`);
    return undefined;
  }

  private installSignalHandlers(): void {
    const { restartSignal, stopSignals } = this.options;
    const restartable = restartSignal !== false && canPassSockets(this.host);
    const stops = new Set(stopSignals);
    // The next generation says it is ready with SIGTERM, so restarts need it handled.
    if (restartable) stops.add('SIGTERM');
    for (const signal of stops) {
      this.removeSignalHandlers.push(this.host.onSignal(signal, () => this.onStopSignal(signal)));
    }
    if (restartable) {
      this.removeSignalHandlers.push(this.host.onSignal(restartSignal, () => void this.restart().catch(() => {})));
    }
  }

  private uninstallSignalHandlers(): void {
    for (const remove of this.removeSignalHandlers.splice(0)) remove();
  }

  /** The new generation is ready: it serves now, and we drain. False if it is too late for that. */
  private handover(attempt: RestartAttempt): boolean {
    if (this.attempt !== attempt || this.stopping) return false;
    const pid = attempt.handover();
    if (pid === undefined) return false;
    this.logger.info(`Graceful handoff of ${this.describeAddresses()} with new pid ${pid} and old pid ${this.host.pid}`);
    // Its SIGTERM follows its "ready"; that one is not a second stop signal.
    if (attempt.speaksPipe) this.childSigtermDue = performance.now() + CHILD_SIGTERM_WINDOW_MS;
    void this.beginStop('handover', undefined);
    return true;
  }

  private onStopSignal(signal: NodeJS.Signals): void {
    if (this.stopping) {
      if (signal === 'SIGTERM' && performance.now() < this.childSigtermDue) {
        this.childSigtermDue = 0; // the new generation's, expected
        return;
      }
      this.logger.warn(`${signal} during shutdown: closing remaining connections now`);
      this.shutdown.force();
      return;
    }
    // A new generation starting, or one we just killed (its SIGTERM may still
    // be on the way): the SIGTERM may be its ready signal, or an operator's.
    const attempt = this.attempt ?? (this.lastFailedAttempt?.mayStillSignal() ? this.lastFailedAttempt : undefined);
    if (signal === 'SIGTERM' && attempt) {
      void this.ownerOfSigterm(attempt).then((owner) => {
        if (owner === 'other') {
          if (this.options.stopSignals.includes(signal)) void this.beginStop('signal', signal);
        } else if (!this.handover(attempt) && !attempt.handedOver) {
          this.logger.warn(`ignoring SIGTERM: the ready signal of new generation pid ${attempt.pid}, given up on; send it again to stop`);
        }
        this.childSigtermDue = 0;
      });
      return;
    }
    if (this.options.stopSignals.includes(signal)) void this.beginStop('signal', signal);
  }

  /**
   * Whose SIGTERM arrived while a new generation was starting: the child's
   * (it said "ready" on its pipe first, or it is an older grace that never
   * speaks there) or somebody else's (it speaks, and did not say "ready").
   */
  private async ownerOfSigterm(attempt: RestartAttempt): Promise<'child' | 'other'> {
    if (!attempt.speaksPipe) await within(attempt.firstWord, FIRST_WORD_WAIT_MS);
    if (!attempt.speaksPipe) return 'child';
    return (await within(attempt.readyMessage, READY_AFTER_SIGTERM_MS)) ? 'child' : 'other';
  }

  private beginStop(reason: StopReason, signal: NodeJS.Signals | undefined): Promise<void> {
    this.stopping ??= this.drainAndClose(reason, signal);
    return this.stopping;
  }

  private async drainAndClose(reason: StopReason, signal: NodeJS.Signals | undefined): Promise<void> {
    this.state = 'stopping';
    if (reason !== 'handover') this.attempt?.giveUp(`stopping on ${signal ?? 'stop()'} before it was ready`, undefined, true);
    if (reason !== 'handover') {
      this.logger.info(`Stopping pid ${this.host.pid}${signal ? ` on ${signal}` : ''}`);
      void this.notify('STOPPING=1');
    }
    this.emit('stopping', { reason, signal });
    // Stop accepting at once; the registry waits for the drain in its drain phase.
    const drained = Promise.all(this.drainers.map((d) => d.drain(this.options.idleGrace)));
    let forced = 0;
    const unregister = this.shutdown.register(() => drained, {
      name: `servers (${this.describeAddresses()})`,
      phase: 'drain',
      force: () => {
        for (const drainer of this.drainers) forced += drainer.forceClose();
      },
    });
    const report = await this.shutdown.shutdown({ reason, timeout: this.options.shutdownTimeout });
    unregister();
    // After a handover the successor serves on these paths and wrote its pid,
    // and under a supervisor both are the supervisor's: leave them.
    if (reason !== 'handover' && this.net.inherit().supervisorPid === undefined) {
      this.removeSocketFiles();
      if (this.options.pidFile) removePidFile(this.options.pidFile, this.host.pid);
    }
    this.state = 'stopped';
    this.uninstallSignalHandlers();
    if (forced > 0) {
      const timeout = this.options.shutdownTimeout ?? this.shutdown.timeout;
      const deadline = report.durationMs >= timeout ? `after ${timeout} ms` : 'on a forced stop';
      this.logger.warn(`destroyed ${forced} connection(s) still open ${deadline}`);
    }
    this.logger.info(`Exiting pid ${this.host.pid}`);
    this.emit('stopped', { reason, forced });
    this.resolveDone();
    if (this.options.exit && reason !== 'stop') {
      // Exit even if something else (a timer, a pool) holds the event loop open.
      setTimeout(() => this.host.exit(0), 1000).unref();
    }
  }

  /** A word to whoever started us (previous generation or supervisor) on the ready pipe. */
  private say(readyFd: number, word: 'hello' | 'ready', last: boolean): void {
    try {
      writeSync(readyFd, `${word}\n`);
      if (last) closeSync(readyFd);
    } catch (err) {
      // EPIPE: it is gone. The ppid check before SIGTERM covers the rest.
      if (word === 'ready') this.logger.warn(`could not say ready on fd ${readyFd}: ${(err as Error).message}`);
    }
  }

  private signalParent(parentPid: number | undefined): void {
    if (parentPid === undefined) return;
    const ppid = this.host.ppid();
    // Our parent may have died: never signal PID 1, a subreaper or a recycled pid.
    if (ppid !== parentPid) {
      this.logger.warn(`not signalling pid ${parentPid}: it is no longer our parent (parent is pid ${ppid})`);
      return;
    }
    if (parentPid === 1) {
      this.logger.warn('not signalling pid 1: it is an init, not a previous generation');
      return;
    }
    try {
      this.host.kill(parentPid, 'SIGTERM');
    } catch (err) {
      this.logger.warn(`could not signal old pid ${parentPid}: ${(err as Error).message}`);
    }
  }

  // Start-up failed: close what we opened. Only paths this process bound are
  // removed; an inherited path is still served by the previous generation.
  private closeServers(): void {
    for (const { server } of this.bound) if (server.listening) server.close();
    this.removeSocketFiles(this.bound.filter((l) => !l.inherited));
  }

  private removeSocketFiles(listeners: Listener[] = this.bound): void {
    for (const { socketFile } of listeners) {
      try {
        if (socketFile) removeSocketFile(socketFile);
      } catch (err) {
        this.logger.warn(`could not remove ${socketFile!.path}: ${(err as Error).message}`);
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

type ServeArgs = [server: Server, listen: ListenSpec, options?: ServeOptions] | [targets: ServeTarget[], options?: ServeOptions];

/**
 * Serves until this generation is done, then resolves. Listens (adopting
 * inherited sockets), handles the restart and stop signals, and drains.
 * Rejects if listening or the ready hook fails.
 *
 * @example await gracehttp.serve(server, { port: 8080 })
 * @example await gracehttp.serve([{ server: api, listen: 8080 }, { server: admin, listen: '/run/admin.sock' }])
 */
export async function serve(...args: ServeArgs): Promise<void> {
  const graceful = await start(...args);
  await graceful.done;
}

/** Like {@link serve}, but resolves once serving with the {@link Graceful} handle (events, restart, stop, done). */
export async function start(...args: ServeArgs): Promise<Graceful> {
  const [targets, options] = normalize(args);
  const graceful = new Graceful(targets, options);
  await graceful.start();
  return graceful;
}

function normalize(args: ServeArgs): [ServeTarget[], ServeOptions] {
  if (Array.isArray(args[0])) {
    const targets = args[0];
    if (targets.length === 0) throw new GraceError('ERR_GRACE_OPTIONS', 'serve() needs at least one { server, listen }');
    return [targets, (args[1] as ServeOptions | undefined) ?? {}];
  }
  const [server, listen, options] = args as [Server, ListenSpec, ServeOptions | undefined];
  if (listen === undefined) throw new GraceError('ERR_GRACE_LISTEN_SPEC', 'serve(server, listen) needs where to listen, e.g. { port: 8080 }');
  return [[{ server, listen }], options ?? {}];
}
