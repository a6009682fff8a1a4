import { envWithFiles, type EnvFiles } from '../platform/env-file.js';
import { checkExecSize } from '../platform/exec-size.js';
import { GraceError } from '../platform/errors.js';
import { holdSockets, type HeldSockets } from '../sockets/held-sockets.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import { resolveLogger, type Log, type Logger } from '../platform/logger.js';
import { realProcess, type ProcessHost } from '../platform/process-host.js';
import { ownFacts, StatusReporter } from '../reporting/status.js';
import { petSystemdWatchdog } from '../reporting/systemd-watchdog.js';
import { DeadlineTimers } from '../platform/deadline-timers.js';
import type { DeadlineKey } from './core/deadlines.js';
import type { WorkerAction, WorkerEvent } from './core/events.js';
import type { RunFacts } from './core/describe.js';
import { DEFAULTS } from './core/settings.js';
import { step } from './core/step.js';
import { activeSlots, initialTable, type WorkerTable } from './core/table.js';
import { wrapperLook, type Wrapper } from './follow-wrapper.js';
import { handleScaleSignals } from './scale.js';
import { SupervisorLog } from './supervisor-log.js';
import { SupervisorStatus } from './supervisor-status.js';
import { watchFiles } from './watch.js';
import { WorkerPool } from './worker-pool.js';

/*
 * Supervisor mode (`grace run`): a small long-lived process that holds the
 * listening sockets and runs the app as N worker processes (one by default),
 * each adopting the same sockets with the same LISTEN_FDS protocol: the
 * kernel's accept queue is shared, nothing is proxied. A reload replaces the
 * workers in a rolling way, an old one retired only once its replacement is
 * ready; the supervisor's pid never changes, so systemd, Docker and
 * Kubernetes see one steady main process.
 *
 * Every decision is the workers' table's (core/, pure: open core/step.ts
 * first). This is its shell: signals become the table's events, and each
 * action goes to the part that carries it out: a process (worker-pool.ts),
 * a timer (platform/deadline-timers.ts), a log line (supervisor-log.ts), the pid file
 * and systemd (supervisor-status.ts).
 */

export interface SupervisorOptions {
  /** The app: command and arguments. */
  command: string[];
  /** Sockets to bind (besides any passed by systemd). */
  listen: ListenSpec[];
  /** How many app processes serve the sockets. Default 1. */
  workers?: number;
  /** How many new workers a rolling reload starts at once. Default 1, or with `standby` as many as there are spares: min(standby, workers). */
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
  /** Replace a ready worker whose event loop has not answered a heartbeat for this many ms (at least 1000; core/heartbeats.ts). */
  watchdog?: number;
  pidFile?: string;
  /**
   * With more than one worker, each line a worker writes to stdout or stderr
   * is named (`[w1 8434] …`, or `grace_worker` / `grace_pid` added to a JSON
   * line; log-prefix.ts). Default true; false leaves the workers' output as it is.
   */
  logPrefix?: boolean;
  /**
   * Every line the supervisor writes, its own and each one it relays from a
   * worker, starts with the time it was written (a JSON line gets a `time`
   * field unless it has one; log-prefix.ts). Default false.
   */
  timestamps?: boolean;
  /** `--max-restarts`: a slot restarted this many times in a row, none up `minUptime`, ends grace run (core/crash-loop.ts). */
  maxRestarts?: number;
  /** `--min-uptime`: how long a worker must be up for its slot's restarts to start over. Default 1000. */
  minUptime?: number;
  /** `--watch`: these directories, a rolling reload when a file under them changes (watch.ts; development). */
  watch?: string[];
  /** `--env-file`: files read at every launch; their values go beneath the supervisor's environment. */
  envFiles?: string[];
  /** Started by npm (npx, `npm start`), yarn, pnpm or the tsx CLI: stop once it is gone (follow-wrapper.ts). */
  wrapper?: Wrapper;
  logger?: Logger | false;
  /** @internal */
  host?: ProcessHost;
}

/**
 * `grace run`. Its options come checked (cli.ts, by core/settings.ts's rules);
 * what they leave out is core/settings.ts's DEFAULTS.
 */
export class Supervisor {
  private readonly host: ProcessHost;
  private readonly logger: Log;
  private readonly reporter: StatusReporter;
  private table: WorkerTable;
  private sockets: HeldSockets | undefined;
  private pool: WorkerPool | undefined;
  private status: SupervisorStatus | undefined;
  private log: SupervisorLog | undefined;
  private readonly timers = new DeadlineTimers<DeadlineKey>((key) => this.dispatch({ type: 'timer', key }));
  /** Events that came while a step's actions were carried out (what the shell looked at): taken in order, after it. */
  private readonly queue: WorkerEvent[] = [];
  private stepping = false;
  private lookAtWrapper: () => string | undefined = () => undefined;
  private stopPetting: () => void = () => {};
  private finish!: (code: number) => void;
  private readonly removeHandlers: Array<() => void> = [];

  constructor(private readonly options: SupervisorOptions) {
    if (options.command.length === 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs a command after --');
    this.host = options.host ?? realProcess;
    this.logger = resolveLogger(options.logger, process.env, { timestamps: options.timestamps });
    this.reporter = new StatusReporter(this.host, this.logger, { pidFile: options.pidFile, signal: 'SIGUSR2', mainPidMoves: false });
    this.table = initialTable(options.workers ?? DEFAULTS.workers, options.surge, {
      standby: options.standby,
      readyTimeout: options.readyTimeout,
      stopTimeout: options.stopTimeout,
      stopDelay: options.stopDelay,
      maxMemory: options.maxMemory,
      memoryInterval: options.memoryInterval,
      watchdog: options.watchdog,
      followWrapper: options.wrapper !== undefined,
      maxRestarts: options.maxRestarts,
      minUptime: options.minUptime,
    });
  }

  /** Runs until a final stop; resolves with the exit status to exit with (the workers'). */
  async run(): Promise<number> {
    // No socket (no --listen, none from systemd): workers that do not listen, ready when they say so.
    const envFiles = this.envFiles();
    const sockets = (this.sockets = await holdSockets(this.options.listen, this.host, { pidFile: this.options.pidFile }));
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    const { command, stopDelay } = this.options;
    const size = () => activeSlots(this.table).length;
    const pool = new WorkerPool(
      { command, sockets, host: this.host, logger: this.logger, stopDelay, standby: this.table.settings.standby, logPrefix: this.options.logPrefix ?? true, timestamps: this.options.timestamps ?? false, envFiles },
      { size, event: (event) => this.dispatch(event) },
    );
    this.pool = pool;
    const run = this.runFacts();
    const facts = () => ({ process: (id: number) => pool.processes.get(id), spares: pool.spares.pids(), lastFailure: pool.lastFailure, run });
    this.status = new SupervisorStatus(this.reporter, facts);
    // A spare booted, parked or died: what status shows changed.
    pool.spares.onChange = () => {
      if (!this.stepping) this.report();
    };
    this.log = new SupervisorLog(this.logger, command, (ids) => pool.pids(ids), () => pool.lastFailure);
    this.removeHandlers.push(...handleScaleSignals(this.host, size, (workers) => this.dispatch({ type: 'scale', workers }), this.logger));
    for (const signal of ['SIGUSR2', 'SIGHUP'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => this.dispatch({ type: 'reload', signal, at: Date.now(), spares: this.pool?.spares.pids().length })));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) this.removeHandlers.push(this.host.onSignal(signal, () => this.dispatch({ type: 'stop', signal })));
    const workers = size();
    const count = workers === 1 ? '' : ` as ${workers} workers`;
    const holding = sockets.names.length ? `holding ${sockets.names.join(', ')}` : 'with no socket (workers that do not listen)';
    this.logger.info(`supervisor pid ${this.host.pid} ${holding}; running${count}: ${command.join(' ')}`, { event: 'supervisor-started', pid: this.host.pid, workers });
    this.stopPetting = petSystemdWatchdog(this.host, this.logger);
    if (this.options.wrapper) this.lookAtWrapper = wrapperLook(this.host, this.options.wrapper);
    this.dispatch({ type: 'start' });
    if (this.options.watch) {
      const watcher = watchFiles(this.options.watch, { cwd: this.host.cwd(), pidFile: this.options.pidFile, logger: this.logger }, (path) => this.dispatch({ type: 'changed', path }));
      this.removeHandlers.push(() => watcher.close());
    }
    return done;
  }

  /** Each event through the table, in order; one that comes while a step is carried out waits for it. */
  private dispatch(event: WorkerEvent): void {
    this.queue.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        const before = this.table;
        const { next: table, actions } = step(before, next);
        this.table = table;
        for (const action of actions) this.carryOut(action);
      }
    } finally {
      this.stepping = false;
    }
    this.report();
  }

  /** The pid file says what changed, then systemd hears what the steps said. */
  private report(): void {
    this.status?.tell(this.table);
  }

  private carryOut(action: WorkerAction): void {
    this.log?.say(action, this.table);
    this.status?.note(action, this.table);
    switch (action.do) {
      case 'arm':
        return this.timers.arm(action.key, action.ms);
      case 'disarm':
        return this.timers.disarm(action.key);
      case 'check-wrapper': {
        const why = this.lookAtWrapper();
        if (why !== undefined) this.dispatch({ type: 'wrapper-gone', why });
        return;
      }
      case 'exit':
        return this.exit(action.status);
      default:
        return this.pool?.carryOut(action);
    }
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

  /** What `grace status` describes of this start: the app's command, where, with what (no environment value). */
  private runFacts(): RunFacts {
    return {
      command: this.options.command,
      cwd: this.host.cwd(),
      envFiles: this.options.envFiles ?? [],
      ...ownFacts(this.host),
      shellOptions: {
        ...(this.options.timestamps ? { timestamps: true } : {}),
        ...(this.options.watch ? { watch: this.options.watch } : {}),
        ...(this.options.logPrefix === false ? { logPrefix: false } : {}),
      },
    };
  }

  private exit(status: number): void {
    for (const remove of this.removeHandlers.splice(0)) remove();
    this.timers.clear();
    this.stopPetting();
    this.sockets?.close();
    this.reporter.stopped();
    this.logger.info(`supervisor pid ${this.host.pid} exiting`, { event: 'supervisor-exit', status });
    this.finish(status);
  }
}
