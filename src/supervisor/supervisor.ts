import { envWithFiles, type EnvFiles } from '../platform/env-file.js';
import { checkExecSize } from '../platform/exec-size.js';
import { GraceError } from '../platform/errors.js';
import { holdSockets, type HeldSockets } from '../sockets/held-sockets.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import { resolveLogger, type Log, type Logger } from '../platform/logger.js';
import { formatBytes, watchMemory, type MemoryWatch } from './memory-limit.js';
import { realProcess, type ProcessHost } from '../platform/process-host.js';
import { StatusReporter } from '../reporting/status.js';
import { SupervisorStatus } from './supervisor-status.js';
import { checkWorkers, handleScaleSignals } from './scale.js';
import { petSystemdWatchdog } from '../reporting/systemd-watchdog.js';
import { checkWatchdog, watchWorkers, type Watchdog } from './watchdog.js';
import { followWrapper, type Wrapper } from './follow-wrapper.js';
import { WorkerPool } from './worker-pool.js';

/*
 * Supervisor mode (`grace run`): a small long-lived process that holds the
 * listening sockets and runs the app as N worker processes (one by default),
 * each adopting the same sockets with the same LISTEN_FDS protocol: the
 * kernel's accept queue is shared, nothing is proxied. A reload replaces the
 * workers in a rolling way, an old one retired only once its replacement is
 * ready; the supervisor's pid never changes, so systemd, Docker and
 * Kubernetes see one steady main process. The workers' bookkeeping is the
 * table in worker-table.ts, carried out by worker-pool.ts.
 */

export interface SupervisorOptions {
  /** The app: command and arguments. */
  command: string[];
  /** Sockets to bind (besides any passed by systemd). */
  listen: ListenSpec[];
  /** How many app processes serve the sockets. Default 1. */
  workers?: number;
  /** How many new workers a rolling reload starts at once. Default 1. */
  surge?: number;
  /** `--standby K`: workers kept booted and parked for the next starts (docs/standby.md). Default 0. */
  standby?: number;
  /** How long a new worker may take to become ready. Default 30 000. */
  readyTimeout?: number;
  /** How long a retiring or stopping app may take to exit before SIGKILL. Default 60 000. */
  stopTimeout?: number;
  /**
   * On a stop, how long the workers keep serving while their readiness says
   * "going away" (GRACE_STOP_DELAY for the app); the stop deadline starts
   * after it. Not applied to reloads. Default: the app's own `stopDelay`.
   */
  stopDelay?: number;
  /** Replace a worker gracefully once its RSS exceeds this many bytes (Linux). */
  maxMemory?: number;
  /** How often RSS is sampled, ms. Default 1000. */
  memoryInterval?: number;
  /** Replace a ready worker whose event loop has not answered a heartbeat for this many ms (at least 1000; watchdog.ts). */
  watchdog?: number;
  pidFile?: string;
  /**
   * With more than one worker, each line a worker writes to stdout or stderr
   * is named (`[w1 8434] …`, or `grace_worker` / `grace_pid` added to a JSON
   * line; log-prefix.ts). Default true; false leaves the workers' output as it is.
   */
  logPrefix?: boolean;
  /** `--env-file`: files read at every launch; their values go beneath the supervisor's environment. */
  envFiles?: string[];
  /** Started by npm (npx, `npm start`), yarn, pnpm or the tsx CLI: stop once it is gone (follow-wrapper.ts). */
  wrapper?: Wrapper;
  logger?: Logger | false;
  /** @internal */
  host?: ProcessHost;
}

/** Parked spares cost a node process each: more than this is a mistake, not a setup. */
export const MAX_STANDBY = 64;

export class Supervisor {
  private readonly host: ProcessHost;
  private readonly logger: Log;
  private readonly reporter: StatusReporter;
  private readonly readyTimeout: number;
  private readonly stopTimeout: number;
  private readonly initialWorkers: number;
  private readonly surge: number;
  private sockets: HeldSockets | undefined;
  private pool: WorkerPool | undefined;
  private status: SupervisorStatus | undefined;
  private memory: MemoryWatch | undefined;
  private watchdog: Watchdog | undefined;
  private stopPetting: () => void = () => {};
  private stopFollowing: () => void = () => {};
  private stopping = false;
  /** The signal that asked for the reload the table is deciding on (for its log line). */
  private reloadSignal: NodeJS.Signals = 'SIGUSR2';
  private exitOverride: number | undefined;
  private finish!: (code: number) => void;
  private readonly removeHandlers: Array<() => void> = [];

  constructor(private readonly options: SupervisorOptions) {
    if (options.command.length === 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs a command after --');
    this.host = options.host ?? realProcess;
    this.logger = resolveLogger(options.logger);
    this.reporter = new StatusReporter(this.host, this.logger, { pidFile: options.pidFile, signal: 'SIGUSR2', mainPidMoves: false });
    this.readyTimeout = options.readyTimeout ?? 30_000;
    this.stopTimeout = options.stopTimeout ?? 60_000;
    this.initialWorkers = checkWorkers('--workers', options.workers ?? 1);
    this.surge = options.surge ?? 1;
    if (options.watchdog !== undefined) checkWatchdog(options.watchdog);
    if (!Number.isInteger(this.surge) || this.surge < 1) throw new GraceError('ERR_GRACE_USAGE', `--surge must be at least 1, got ${this.surge}`);
    const standby = options.standby ?? 0;
    if (!Number.isInteger(standby) || standby < 0 || standby > MAX_STANDBY) {
      throw new GraceError('ERR_GRACE_USAGE', `--standby must be a whole number from 1 to ${MAX_STANDBY}, got ${standby}`);
    }
  }

  /** Runs until a final stop; resolves with the exit status to exit with (the workers'). */
  async run(): Promise<number> {
    // No socket (no --listen, none from systemd): workers that do not listen, ready when they say so.
    const envFiles = this.envFiles();
    this.sockets = await holdSockets(this.options.listen, this.host, { pidFile: this.options.pidFile });
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    const pool = new WorkerPool({
      workers: this.initialWorkers,
      surge: this.surge,
      command: this.options.command,
      sockets: this.sockets,
      host: this.host,
      logger: this.logger,
      readyTimeout: this.readyTimeout,
      stopTimeout: this.stopTimeout,
      stopDelay: this.options.stopDelay,
      standby: this.options.standby,
      logPrefix: this.options.logPrefix ?? true,
      envFiles,
    });
    this.pool = pool;
    const status = new SupervisorStatus(this.reporter, pool);
    this.status = status;
    pool.on('change', () => status.changed());
    pool.on('worker-failed', (failure) => status.workerFailed(failure));
    pool.on('announce', () => {
      if (this.workers > 1) this.logger.info(`all ${this.workers} workers are ready`, { event: 'workers-ready', workers: this.workers });
      void status.ready();
    });
    pool.on('reload-started', ({ generation }) => {
      // Said once the table took it: a refused reload logs only its refusal.
      this.logger.info(`${this.reloadSignal}: reloading to generation ${generation}; ${this.whileReloading()}`, { event: 'reload', signal: this.reloadSignal, generation });
      this.logger.debug(`rolling reload to generation ${generation}, ${this.surge} at a time`, { event: 'reload-started', generation });
      status.reloadStarted();
    });
    pool.on('reload-done', ({ generation }) => {
      const what = this.workers === 1 ? `generation ${generation} serves` : `all ${this.workers} workers serve generation ${generation}`;
      this.logger.info(`reload done: ${what}`, { event: 'reload-done', generation });
      status.reloadDone();
    });
    pool.on('reload-failed', ({ generation, index, reason }) => this.reloadFailed(generation, index, reason));
    pool.on('reload-refused', ({ kind, why }) => {
      this.logger.warn(`${this.reloadSignal}: reload refused: ${why}`, { event: 'reload-refused', signal: this.reloadSignal, why });
      // `grace reload` hears it at once (a reload in flight keeps its own outcome).
      if (kind === 'starting') status.reloadFailed(`reload refused: ${why}`);
    });
    pool.on('unrunnable', ({ status: code }) => {
      this.exitOverride = code;
      this.stop('SIGTERM', true);
    });
    pool.on('scaled', ({ from, to }) => this.logger.info(`scaled from ${from} to ${to} workers`, { event: 'scaled', from, to }));
    pool.on('scale-refused', ({ why }) => this.logger.warn(`scale refused: ${why}`, { event: 'scale-refused', why }));
    pool.on('exit', () => this.exit());
    this.removeHandlers.push(...handleScaleSignals(this.host, pool, this.logger));
    for (const signal of ['SIGUSR2', 'SIGHUP'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => this.reload(signal)));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => this.stop(signal)));
    const count = this.workers === 1 ? '' : ` as ${this.workers} workers`;
    const holding = this.sockets.names.length ? `holding ${this.sockets.names.join(', ')}` : 'with no socket (workers that do not listen)';
    this.logger.info(`supervisor pid ${this.host.pid} ${holding}; running${count}: ${this.options.command.join(' ')}`, {
      event: 'supervisor-started',
      pid: this.host.pid,
      workers: this.workers,
    });
    if (this.options.maxMemory !== undefined) this.watchMemory(this.options.maxMemory);
    if (this.options.watchdog !== undefined) this.watchHangs(this.options.watchdog);
    this.stopPetting = petSystemdWatchdog(this.host, this.logger);
    if (this.options.wrapper) this.stopFollowing = followWrapper(this.host, this.options.wrapper, (why) => this.wrapperGone(why));
    pool.start();
    return done;
  }

  /** How many workers it keeps: `--workers`, then as scaled. */
  private get workers(): number {
    return this.pool?.size ?? this.initialWorkers;
  }

  /** A rolling reload: new workers start (`surge` at a time); each old one is retired once a new one is ready. */
  reload(signal: NodeJS.Signals = 'SIGUSR2'): void {
    if (this.stopping || !this.pool) return;
    this.reloadSignal = signal;
    this.pool.reload();
  }

  private whileReloading(): string {
    const serving = this.pool!.serving().map((w) => w.pid);
    if (serving.length === 0) return 'nothing serves now: the new code starts at once';
    if (this.workers === 1) return `pid ${serving[0]} serves until the new generation is ready`;
    const down = this.workers - serving.length;
    const serve = serving.length > 1 ? `pids ${serving.join(', ')} serve until their replacements are ready` : `pid ${serving[0]} serves until its replacement is ready`;
    return `${serve}${down ? `; ${down === 1 ? '1 slot down takes' : `${down} slots down take`} the new code first` : ''}`;
  }

  /** Graceful stop: every worker drains, under one deadline; a second signal is passed on (it forces). */
  stop(signal: NodeJS.Signals = 'SIGTERM', quiet = false): void {
    if (this.stopping) {
      this.logger.warn(`${signal} again: forwarding it to the app`, { event: 'stop-forwarded', signal });
      this.pool?.signalAll(signal);
      return;
    }
    this.stopping = true;
    this.memory?.stop();
    this.watchdog?.stop();
    if (!quiet) {
      const pids = this.pool?.serving().map((w) => w.pid) ?? [];
      this.logger.info(`${signal}: stopping ${pids.length ? `pid ${pids.join(', ')}` : '(nothing serves)'}`, { event: 'stopping', signal, pids });
    }
    this.reporter.stopping();
    // The workers serve through their stop delay before the drain's deadline starts.
    const deadline = this.stopTimeout + (this.options.stopDelay ?? 0);
    const killer = setTimeout(() => {
      this.logger.warn(`workers still running ${deadline} ms after ${signal}: killing them`, { event: 'stop-deadline' });
      this.pool?.signalAll('SIGKILL');
    }, deadline);
    this.pool?.once('exit', () => clearTimeout(killer));
    this.pool?.stop(signal);
  }

  private wrapperGone(why: string): void {
    if (this.stopping) return; // it passed a stop signal on before it went
    this.logger.info(`${why}: stopping, as on SIGTERM (grace run follows the wrapper it was started by)`, { event: 'wrapper-gone' });
    this.stop('SIGTERM', true);
  }

  private reloadFailed(generation: number, index: number, reason: string): void {
    const pool = this.pool!;
    const serving = pool.serving();
    const pids = serving.map((w) => w.pid).join(', ');
    const who =
      serving.length === 0
        ? 'nothing serving (the app is restarted after a backoff)'
        : this.workers === 1
          ? `pid ${pids} still serving`
          : `${serving.length} of ${this.workers} workers still serving (pid${serving.length > 1 ? 's' : ''} ${pids})`;
    this.logger.error(`reload failed: ${reason}; ${who}`, { event: 'reload-failed', worker: index, generation });
    const message = this.workers === 1 ? reason : `worker ${index} failed: ${reason}; the reload to generation ${generation} was abandoned`;
    this.status?.reloadFailed(message);
  }

  /**
   * `--env-file`s, checked once now with the environment they make: a file
   * that cannot be read, or a variable too large to start a process with,
   * stops the start, named (exit status 1), rather than fail every start.
   */
  private envFiles(): EnvFiles | undefined {
    const paths = this.options.envFiles ?? [];
    const envFiles: EnvFiles | undefined = paths.length ? { files: paths.map((path) => ({ path, optional: false })), cwd: this.host.cwd(), taken: {} } : undefined;
    checkExecSize(this.options.command, envWithFiles(this.host.env, envFiles), envFiles);
    return envFiles;
  }

  private watchMemory(limit: number): void {
    const pool = this.pool!;
    this.memory = watchMemory({
      limit,
      interval: this.options.memoryInterval ?? 1000,
      serving: () => pool.serving().map((w) => ({ index: w.index, id: w.id, pid: w.pid })),
      over: (worker, rss) => {
        const slot = pool.table.slots[worker.index];
        if (slot?.pending || pool.table.reload) return; // a replacement is on its way
        this.logger.warn(`${pool.name(worker.index, worker.pid)} uses ${formatBytes(rss)}, over --max-memory ${formatBytes(limit)}: replacing it`, {
          event: 'worker-over-memory',
          worker: worker.index,
          pid: worker.pid,
          rss,
          limit,
        });
        pool.overMemory(worker.index, worker.id);
      },
    });
  }

  private watchHangs(timeout: number): void {
    const pool = this.pool!;
    this.watchdog = watchWorkers({
      timeout,
      serving: () => pool.serving(),
      hung: (worker, silentMs) => {
        if (pool.table.slots[worker.index]?.pending || pool.table.reload) return; // a replacement is on its way
        this.logger.warn(`${pool.name(worker.index, worker.pid)} has not answered the watchdog for ${silentMs} ms (--watchdog ${timeout}): replacing it`, {
          event: 'worker-hung',
          worker: worker.index,
          pid: worker.pid,
          silentMs,
        });
        pool.hung(worker.index, worker.id);
      },
    });
  }

  private exit(): void {
    const status = this.exitOverride ?? this.pool!.exitStatus();
    for (const remove of this.removeHandlers.splice(0)) remove();
    this.memory?.stop();
    this.watchdog?.stop();
    this.stopPetting();
    this.stopFollowing();
    this.sockets?.close();
    this.reporter.stopped();
    this.logger.info(`supervisor pid ${this.host.pid} exiting`, { event: 'supervisor-exit', status });
    this.finish(status);
  }
}
