import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { GraceError } from './errors.js';
import { holdSockets, type HeldSockets } from './held-sockets.js';
import { describeExit, Launch, type ExitStatus } from './launcher.js';
import { childListenEnv } from './listen-env.js';
import type { ListenSpec } from './listen-spec.js';
import { resolveLogger, type Log, type Logger } from './logger.js';
import { realProcess, type ProcessHost } from './process-host.js';
import { StatusReporter } from './status.js';

/*
 * Supervisor mode (`grace run`): a small long-lived process that holds the
 * listening sockets and runs the app as its child with the same LISTEN_FDS
 * protocol. A reload starts a new app generation and retires the old one once
 * the new one is ready; the supervisor's pid never changes, so systemd,
 * Docker and Kubernetes see one steady main process.
 */

export interface SupervisorOptions {
  /** The app: command and arguments. */
  command: string[];
  /** Sockets to bind (besides any passed by systemd). */
  listen: ListenSpec[];
  /** How long a new generation may take to become ready. Default 30 000. */
  readyTimeout?: number;
  /** How long a retiring or stopping app may take to exit before SIGKILL. Default 60 000. */
  stopTimeout?: number;
  pidFile?: string;
  logger?: Logger | false;
  /** @internal */
  host?: ProcessHost;
}

interface Generation {
  launch: Launch;
  pid: number;
  number: number;
  startedAt: number;
  exited: Promise<ExitStatus>;
}

export interface SupervisorEvents {
  ready: [{ generation: number; pid: number }];
  'reload-failed': [GraceError];
  crashed: [{ pid: number; code: number | null; signal: NodeJS.Signals | null }];
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
// An app that stayed up this long had not been crash-looping: start backoff over.
const STABLE_AFTER_MS = 10_000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly host: ProcessHost;
  private readonly logger: Log;
  private readonly status: StatusReporter;
  private readonly readyTimeout: number;
  private readonly stopTimeout: number;
  private sockets: HeldSockets | undefined;
  private current: Generation | undefined;
  private pending: Generation | undefined;
  private generation = 0;
  private backoff = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private lastExit: ExitStatus = { code: 0, signal: null };
  private finish!: (code: number) => void;
  private readonly removeHandlers: Array<() => void> = [];

  constructor(private readonly options: SupervisorOptions) {
    super();
    if (options.command.length === 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs a command after --');
    this.host = options.host ?? realProcess;
    this.logger = resolveLogger(options.logger);
    this.status = new StatusReporter(this.host, this.logger, { pidFile: options.pidFile, signal: 'SIGUSR2', mainPidMoves: false });
    this.readyTimeout = options.readyTimeout ?? 30_000;
    this.stopTimeout = options.stopTimeout ?? 60_000;
  }

  /** Runs until a final stop; resolves with the exit status to exit with (the app's). */
  async run(): Promise<number> {
    this.sockets = await holdSockets(this.options.listen, this.host, { pidFile: this.options.pidFile });
    if (this.sockets.fds.length === 0) {
      this.sockets.close();
      throw new GraceError('ERR_GRACE_USAGE', 'grace run has nothing to listen on: give --listen SPEC, or start it with systemd socket activation');
    }
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    for (const signal of ['SIGUSR2', 'SIGHUP'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => void this.reload(signal)));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => this.stop(signal)));
    this.logger.info(`supervisor pid ${this.host.pid} holding ${this.sockets.names.join(', ')}; running: ${this.options.command.join(' ')}`);
    void this.startCurrent();
    return done;
  }

  /** Starts a new generation and retires the current one once the new one is ready. */
  async reload(signal: NodeJS.Signals = 'SIGUSR2'): Promise<void> {
    if (this.stopping) return;
    if (this.pending) {
      this.logger.warn(`${signal}: reload refused, generation ${this.pending.number} (pid ${this.pending.pid}) is still starting`);
      return;
    }
    if (!this.current) {
      this.logger.warn(`${signal}: no app is running; it is being restarted already`);
      return;
    }
    this.logger.info(`${signal}: reloading; pid ${this.current.pid} serves until the new generation is ready`);
    this.status.restarting(this.current.number, this.current.pid);
    try {
      const next = await this.untilReady(this.launchGeneration());
      const old = this.current;
      this.current = next;
      this.announce(next);
      this.retire(old);
    } catch (err) {
      if (this.stopping) return; // the stop killed it
      const error = err as GraceError;
      this.emit('reload-failed', error);
      if (!this.current) {
        // The serving app died while the new one was starting: start another.
        this.logger.error(`reload failed: ${error.message}; no app is running`);
        this.scheduleRestart();
        return;
      }
      this.logger.error(`reload failed: ${error.message}; pid ${this.current.pid} still serving`);
      this.status.failed(this.current.number, this.current.pid, error.message);
    }
  }

  /** Graceful stop: forwards the signal to the app and exits with its status. A second signal is forwarded too. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.stopping) {
      this.logger.warn(`${signal} again: forwarding it to the app`);
      this.signalApps(signal);
      return;
    }
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.logger.info(`${signal}: stopping pid ${this.current?.pid ?? '(none)'}`);
    this.status.stopping();
    this.pending?.launch.abandon(`${signal}: stopping before it was ready`);
    this.signalApps(signal);
    const current = this.current;
    const killer = setTimeout(() => this.signalApps('SIGKILL'), this.stopTimeout);
    void (current ? current.exited : Promise.resolve(this.lastExit)).then((status) => {
      clearTimeout(killer);
      this.exit(exitStatus(status));
    });
  }

  private exit(status: number): void {
    for (const remove of this.removeHandlers.splice(0)) remove();
    this.sockets?.close();
    this.status.stopped();
    this.logger.info(`supervisor pid ${this.host.pid} exiting`);
    this.finish(status);
  }

  private signalApps(signal: NodeJS.Signals): void {
    for (const generation of [this.current, this.pending]) {
      const child = generation?.launch.child;
      if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
  }

  private async startCurrent(): Promise<void> {
    if (this.pending || this.current) return; // a reload got there first
    let generation: Generation | undefined;
    try {
      generation = this.launchGeneration();
      this.current = await this.untilReady(generation);
      this.announce(generation);
    } catch (err) {
      if (this.stopping) return;
      this.logger.error(`${(err as Error).message}`);
      if (generation?.number === 1 && this.exitIfUnrunnable(generation.launch)) return;
      this.scheduleRestart();
    }
  }

  /**
   * A command that cannot even be started (not found, not executable) will not
   * start on a retry either: like a shell, exit at once with 127 or 126. Only
   * the first generation: once the app has run, its command going missing is
   * a deploy in progress, and the restart backoff waits for it.
   */
  private exitIfUnrunnable(launch: Launch): boolean {
    const status = launch.spawnError === 'ENOENT' ? 127 : launch.spawnError === 'EACCES' ? 126 : undefined;
    if (status === undefined) return false;
    const why = status === 127 ? 'not found' : 'not executable (permission denied)';
    this.logger.error(`cannot run ${JSON.stringify(this.options.command[0])}: ${why}; exiting with status ${status}`);
    this.stopping = true;
    this.exit(status);
    return true;
  }

  private announce(generation: Generation): void {
    clearTimeout(this.restartTimer);
    void this.status.serving(generation.number, generation.pid, `generation ${generation.number}, app pid ${generation.pid}`);
    this.logger.info(`generation ${generation.number} (pid ${generation.pid}) is ready`);
    this.emit('ready', { generation: generation.number, pid: generation.pid });
    void generation.exited.then((status) => {
      if (this.current !== generation || this.stopping) return;
      // The serving app died on its own: restart it. Its sockets stay with us,
      // so connections wait in the accept queue rather than being refused.
      this.current = undefined;
      this.lastExit = status;
      this.logger.error(`app pid ${generation.pid} exited with ${describeExit(status)} while serving`);
      this.emit('crashed', { pid: generation.pid, ...status });
      // A reload in flight will put its generation in place (or fail and restart).
      if (this.pending) return;
      this.status.restarting(generation.number, 0);
      if (performance.now() - generation.startedAt > STABLE_AFTER_MS) this.backoff = 0;
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    this.backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.backoff * 2));
    this.logger.info(`restarting the app in ${this.backoff} ms`);
    this.restartTimer = setTimeout(() => void this.startCurrent(), this.backoff);
  }

  /** Launches a generation; it is `pending` until it is ready or has failed. */
  private launchGeneration(): Generation {
    const sockets = this.sockets!;
    const number = ++this.generation;
    const env = childListenEnv(this.host.env, sockets.names, number, { kind: 'supervisor', pid: this.host.pid });
    // The supervisor is systemd's main process; the app must not claim that.
    delete env.NOTIFY_SOCKET;
    const [file, ...args] = this.options.command;
    const launch = new Launch({
      file: file!,
      args,
      env,
      fds: sockets.fds,
      // Its own process group: a Ctrl-C at the terminal reaches the supervisor,
      // which passes it on once, rather than both (a second signal would force).
      detached: true,
      readyTimeout: this.readyTimeout,
      label: `generation ${number}`,
    });
    const generation: Generation = { launch, pid: launch.pid ?? 0, number, startedAt: performance.now(), exited: launch.exited };
    this.pending = generation;
    return generation;
  }

  /** Resolves once it said "ready"; rejects once a failed one is reaped. */
  private async untilReady(generation: Generation): Promise<Generation> {
    const { launch } = generation;
    try {
      await launch.outcome;
    } finally {
      if (this.pending === generation) this.pending = undefined;
    }
    return generation;
  }

  private retire(old: Generation | undefined): void {
    if (!old) return;
    this.logger.info(`retiring generation ${old.number} (pid ${old.pid})`);
    old.launch.retire();
    const killer = setTimeout(() => {
      this.logger.warn(`generation ${old.number} (pid ${old.pid}) did not exit within ${this.stopTimeout} ms; killing it`);
      old.launch.child?.kill('SIGKILL');
    }, this.stopTimeout);
    void old.exited.then(() => clearTimeout(killer));
  }
}

/** The shell's convention: the exit code, or 128 + the signal's number. */
function exitStatus({ code, signal }: ExitStatus): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 0;
}
