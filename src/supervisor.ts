import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { GraceError } from './errors.js';
import { holdSockets, type HeldSockets } from './held-sockets.js';
import { childListenEnv, LISTEN_FDS_START } from './listen-env.js';
import type { ListenSpec } from './listen-spec.js';
import { resolveLogger, type Logger } from './logger.js';
import { systemdNotifier, type Notify } from './notify.js';
import { processStartTime, removePidFile, writePidFile, type PidFileState } from './pid-file.js';
import { realProcess, type ProcessHost } from './process-host.js';

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
  child: ChildProcess;
  number: number;
  startedAt: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
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
  private readonly logger: Logger;
  private readonly notify: Notify;
  private readonly readyTimeout: number;
  private readonly stopTimeout: number;
  private sockets: HeldSockets | undefined;
  private current: Generation | undefined;
  private pending: Generation | undefined;
  private generation = 0;
  private backoff = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private lastExit: { code: number | null; signal: NodeJS.Signals | null } = { code: 0, signal: null };
  private finish!: (code: number) => void;
  private readonly removeHandlers: Array<() => void> = [];

  constructor(private readonly options: SupervisorOptions) {
    super();
    if (options.command.length === 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs a command after --');
    this.host = options.host ?? realProcess;
    this.logger = resolveLogger(options.logger);
    this.notify = systemdNotifier(this.host, this.logger);
    this.readyTimeout = options.readyTimeout ?? 30_000;
    this.stopTimeout = options.stopTimeout ?? 60_000;
  }

  /** Runs until a final stop; resolves with the exit status to exit with (the app's). */
  async run(): Promise<number> {
    this.sockets = await holdSockets(this.options.listen, this.host);
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
      this.logger.warn(`${signal}: reload refused, generation ${this.pending.number} (pid ${this.pending.child.pid}) is still starting`);
      return;
    }
    if (!this.current) {
      this.logger.warn(`${signal}: no app is running; it is being restarted already`);
      return;
    }
    this.logger.info(`${signal}: reloading; pid ${this.current.child.pid} serves until the new generation is ready`);
    void this.notify('RELOADING=1');
    this.writePidFile('restarting');
    try {
      const next = await this.startGeneration();
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
      this.logger.error(`reload failed: ${error.message}; pid ${this.current.child.pid} still serving`);
      this.writePidFile('failed', error.message);
      void this.notify('READY=1');
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
    this.logger.info(`${signal}: stopping pid ${this.current?.child.pid ?? '(none)'}`);
    void this.notify('STOPPING=1');
    if (this.pending) this.pending.child.kill('SIGKILL');
    this.signalApps(signal);
    const current = this.current;
    const killer = setTimeout(() => this.signalApps('SIGKILL'), this.stopTimeout);
    void (current ? current.exited : Promise.resolve(this.lastExit)).then((status) => {
      clearTimeout(killer);
      for (const remove of this.removeHandlers.splice(0)) remove();
      this.sockets?.close();
      if (this.options.pidFile) removePidFile(this.options.pidFile, this.host.pid);
      this.logger.info(`supervisor pid ${this.host.pid} exiting`);
      this.finish(exitStatus(status));
    });
  }

  private signalApps(signal: NodeJS.Signals): void {
    for (const generation of [this.current, this.pending]) {
      if (generation && generation.child.exitCode === null) generation.child.kill(signal);
    }
  }

  private async startCurrent(): Promise<void> {
    if (this.pending || this.current) return; // a reload got there first
    try {
      const generation = await this.startGeneration();
      this.current = generation;
      this.announce(generation);
    } catch (err) {
      if (this.stopping) return;
      this.logger.error(`${(err as Error).message}`);
      this.scheduleRestart();
    }
  }

  private announce(generation: Generation): void {
    clearTimeout(this.restartTimer);
    this.writePidFile('serving');
    void this.notify('READY=1', `STATUS=generation ${generation.number}, app pid ${generation.child.pid}`);
    this.logger.info(`generation ${generation.number} (pid ${generation.child.pid}) is ready`);
    this.emit('ready', { generation: generation.number, pid: generation.child.pid! });
    void generation.exited.then((status) => {
      if (this.current !== generation || this.stopping) return;
      // The serving app died on its own: restart it. Its sockets stay with us,
      // so connections wait in the accept queue rather than being refused.
      this.current = undefined;
      this.lastExit = status;
      this.logger.error(`app pid ${generation.child.pid} exited with ${describe(status)} while serving`);
      this.emit('crashed', { pid: generation.child.pid!, ...status });
      // A reload in flight will put its generation in place (or fail and restart).
      if (this.pending) return;
      this.writePidFile('restarting');
      if (performance.now() - generation.startedAt > STABLE_AFTER_MS) this.backoff = 0;
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    this.backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.backoff * 2));
    this.logger.info(`restarting the app in ${this.backoff} ms`);
    this.restartTimer = setTimeout(() => void this.startCurrent(), this.backoff);
  }

  /** Spawns a generation and resolves once it wrote "ready" to its pipe. */
  private startGeneration(): Promise<Generation> {
    const sockets = this.sockets!;
    const number = ++this.generation;
    const readyFd = LISTEN_FDS_START + sockets.fds.length;
    const env = childListenEnv(this.host.env, sockets.names, { generation: number, readyFd, supervisorPid: this.host.pid });
    // The supervisor is systemd's main process; the app must not claim that.
    delete env.NOTIFY_SOCKET;
    const [file, ...args] = this.options.command;
    // Its own process group: a Ctrl-C at the terminal reaches the supervisor,
    // which passes it on once, rather than both (a second signal would force).
    const child = spawn(file!, args, { env, stdio: ['inherit', 'inherit', 'inherit', ...sockets.fds, 'pipe'], detached: true });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: 127, signal: null }));
    });
    const generation: Generation = { child, number, startedAt: performance.now(), exited };
    this.pending = generation;
    return new Promise<Generation>((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        if (this.pending === generation) this.pending = undefined;
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        // Settle once it is reaped, so no two generations overlap by accident.
        void exited.then(() => reject(new GraceError('ERR_GRACE_RESTART_FAILED', message)));
      };
      const timer = setTimeout(() => fail(`generation ${number} (pid ${child.pid}) was not ready within ${this.readyTimeout} ms`), this.readyTimeout);
      child.once('error', (err) => fail(`could not start ${file}: ${err.message}`));
      void exited.then((status) => fail(`generation ${number} (pid ${child.pid}) exited with ${describe(status)} before it was ready`));
      const pipe = child.stdio[readyFd];
      let said = '';
      pipe?.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (!said.includes('ready') || this.pending !== generation) return;
        clearTimeout(timer);
        this.pending = undefined;
        resolve(generation);
      });
      pipe?.on('error', () => {});
    });
  }

  private retire(old: Generation | undefined): void {
    if (!old) return;
    this.logger.info(`retiring generation ${old.number} (pid ${old.child.pid})`);
    old.child.kill('SIGTERM');
    const killer = setTimeout(() => {
      this.logger.warn(`generation ${old.number} (pid ${old.child.pid}) did not exit within ${this.stopTimeout} ms; killing it`);
      old.child.kill('SIGKILL');
    }, this.stopTimeout);
    void old.exited.then(() => clearTimeout(killer));
  }

  private writePidFile(state: PidFileState['state'], message?: string): void {
    const path = this.options.pidFile;
    if (!path) return;
    try {
      writePidFile(path, {
        pid: this.host.pid,
        start: processStartTime(this.host.pid),
        generation: state === 'serving' ? (this.current?.number ?? this.generation) : (this.current?.number ?? 0),
        serving: this.current?.child.pid ?? 0,
        signal: 'SIGUSR2',
        state,
        ...(message === undefined ? {} : { message }),
        at: Date.now(),
      });
    } catch (err) {
      this.logger.warn(`could not write pid file ${path}: ${(err as Error).message}`);
    }
  }
}

function describe({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }): string {
  return signal ? signal : `code ${code}`;
}

/** The shell's convention: the exit code, or 128 + the signal's number. */
function exitStatus({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 0;
}
