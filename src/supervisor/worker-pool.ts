import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import type { HeldSockets } from '../sockets/held-sockets.js';
import { cannotRun, describeExit, generationEnv, Launch, type ExitStatus } from '../protocol/launcher.js';
import type { EnvFiles } from '../platform/env-file.js';
import { checkExecSize } from '../platform/exec-size.js';
import { writeStderr, type Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import type { WorkerFailure } from '../reporting/pid-file.js';
import { prefixedWriter, prefixWorkerOutput } from './log-prefix.js';
import { Spares } from './spares.js';
import { SlotStderr, type WorkerStderr } from './worker-stderr.js';
import { activeSlots, initialTable, step, type WorkerAction, type WorkerEvent, type WorkerTable } from './worker-table.js';

/*
 * The workers of `grace run`: the processes and timers behind the table in
 * worker-table.ts. Every event becomes a `dispatch`; the table decides, and
 * the pool carries out what it says (launch, retire, abandon, back off,
 * stop) and tells the supervisor what the outside world must hear.
 */

export interface PoolOptions {
  workers: number;
  surge: number;
  command: string[];
  sockets: HeldSockets;
  host: ProcessHost;
  logger: Log;
  readyTimeout: number;
  stopTimeout: number;
  /** `--stop-delay`: passed to every worker as GRACE_STOP_DELAY (its `stopDelay` default). */
  stopDelay: number | undefined;
  /** `--standby K`: workers kept booted and parked, taken by the next starts (spares.ts). Default 0. */
  standby?: number;
  /** With more than one worker, name each line a worker writes (log-prefix.ts); false: `--no-log-prefix`. */
  logPrefix: boolean;
  /** `--env-file`: read at every launch, beneath the supervisor's environment. */
  envFiles?: EnvFiles;
}

/** One launched process and what status shows about it. */
export interface WorkerProcess {
  index: number;
  id: number;
  generation: number;
  launch: Launch;
  pid: number;
  /** ms since epoch (for status) and on the monotonic clock (for backoff). */
  startedAt: number;
  startedMono: number;
}

export interface PoolEvents {
  /** Every worker is ready for the first time. */
  announce: [];
  'reload-started': [{ generation: number }];
  'reload-done': [{ generation: number }];
  'reload-failed': [{ generation: number; index: number; reason: string }];
  'reload-refused': [{ kind: 'stopping' | 'in-progress' | 'starting'; why: string }];
  scaled: [{ from: number; to: number }];
  'scale-refused': [{ why: string }];
  /** The first start cannot work at all (command not found: 127, not executable: 126, environment too large: 1). */
  unrunnable: [{ status: number }];
  /** A worker failed to start (not abandoned) or crashed while serving: why, and its last lines of stderr. */
  'worker-failed': [Omit<WorkerFailure, 'at'>];
  /** The table changed (for the pid file). */
  change: [];
  /** Stopping, and every process is gone. */
  exit: [];
}

export class WorkerPool extends EventEmitter<PoolEvents> {
  table: WorkerTable;
  readonly processes = new Map<number, WorkerProcess>();
  private readonly restartTimers = new Map<number, NodeJS.Timeout>();
  private stopSignal: NodeJS.Signals = 'SIGTERM';
  private everReady = false;
  readonly spares: Spares;
  /** Each slot's stderr across its launches (worker-stderr.ts). */
  private readonly stderr: SlotStderr[] = [];

  constructor(private readonly options: PoolOptions) {
    super();
    this.table = initialTable(options.workers, options.surge);
    this.spares = new Spares(options.standby ?? 0, options.logger);
    this.spares.onChange = () => this.emit('change');
  }

  start(): void {
    this.dispatch({ type: 'start' });
  }

  reload(): void {
    this.dispatch({ type: 'reload' });
  }

  /** A graceful stop: every ready worker gets `signal` and drains. */
  stop(signal: NodeJS.Signals): void {
    this.stopSignal = signal;
    this.spares.close();
    this.dispatch({ type: 'stop' });
  }

  /** Passes a signal to every live process (a second stop signal forces; SIGKILL at the deadline). */
  signalAll(signal: NodeJS.Signals): void {
    for (const { launch } of this.processes.values()) launch.signal(signal);
  }

  /** To `workers` (1…MAX_WORKERS): new slots launch, the highest ones retire. */
  scale(workers: number): void {
    this.dispatch({ type: 'scale', workers });
  }

  /** How many workers it keeps (what `grace scale` changes). */
  get size(): number {
    return activeSlots(this.table).length;
  }

  overMemory(index: number, id: number): void {
    this.dispatch({ type: 'over-memory', index, id });
  }

  hung(index: number, id: number): void {
    this.dispatch({ type: 'hung', index, id });
  }

  /** The ready worker in each slot, for memory sampling and status. */
  serving(): WorkerProcess[] {
    return this.table.slots.flatMap((s) => (s.current ? [this.processes.get(s.current.id)].filter((p) => p !== undefined) : []));
  }

  /** "app pid 123" with one worker (as grace run always said), "worker 1 pid 123" with more. */
  name(index: number, pid: number | undefined): string {
    return this.size === 1 ? `app pid ${pid ?? '(none)'}` : `worker ${index} pid ${pid ?? '(none)'}`;
  }

  private dispatch(event: WorkerEvent): void {
    const { next, actions } = step(this.table, event);
    const changed = next !== this.table;
    this.table = next;
    for (const action of actions) this.carryOut(action);
    if (changed) this.emit('change');
  }

  private carryOut(action: WorkerAction): void {
    const { logger } = this.options;
    switch (action.do) {
      case 'launch':
        return this.launch(action.index, action.id, action.generation, action.why);
      case 'retire': {
        const worker = this.processes.get(action.id);
        if (!worker) return;
        logger.info(`retiring ${this.describe(worker)}`, { event: 'worker-retiring', worker: worker.index, pid: worker.pid, generation: worker.generation });
        worker.launch.retire();
        const killer = setTimeout(() => {
          logger.warn(`${this.describe(worker)} did not exit within ${this.options.stopTimeout} ms of retiring; killing it`, {
            event: 'worker-killed',
            worker: worker.index,
            pid: worker.pid,
          });
          worker.launch.signal('SIGKILL');
        }, this.options.stopTimeout);
        void worker.launch.exited.then(() => clearTimeout(killer));
        return;
      }
      case 'abandon':
        this.processes.get(action.id)?.launch.abandon(action.reason);
        return;
      case 'schedule-restart': {
        const what = this.size === 1 ? 'the app' : `worker ${action.index}`;
        logger.info(`restarting ${what} in ${action.delay} ms`, { event: 'worker-backoff', worker: action.index, delay: action.delay });
        clearTimeout(this.restartTimers.get(action.index));
        this.restartTimers.set(action.index, setTimeout(() => this.dispatch({ type: 'restart-due', index: action.index }), action.delay));
        return;
      }
      case 'cancel-restart':
        clearTimeout(this.restartTimers.get(action.index));
        this.restartTimers.delete(action.index);
        return;
      case 'stop-workers':
        for (const id of action.ids) this.processes.get(id)?.launch.signal(this.stopSignal);
        return;
      case 'announce':
        return void this.emit('announce');
      case 'reload-started':
        return void this.emit('reload-started', { generation: action.generation });
      case 'reload-done':
        return void this.emit('reload-done', { generation: action.generation });
      case 'reload-failed':
        return void this.emit('reload-failed', { generation: action.generation, index: action.index, reason: action.reason });
      case 'refuse-reload':
        return void this.emit('reload-refused', { kind: action.kind, why: action.why });
      case 'scaled':
        return void this.emit('scaled', { from: action.from, to: action.to });
      case 'refuse-scale':
        return void this.emit('scale-refused', { why: action.why });
      case 'exit':
        for (const timer of this.restartTimers.values()) clearTimeout(timer);
        return void this.emit('exit');
    }
  }

  private describe(worker: WorkerProcess): string {
    return this.size === 1 ? `generation ${worker.generation} (pid ${worker.pid})` : `worker ${worker.index} (pid ${worker.pid}, generation ${worker.generation})`;
  }

  private launch(index: number, id: number, generation: number, why: string): void {
    const { sockets, logger } = this.options;
    const workers = this.size;
    const [file, ...args] = this.options.command;
    // Decided at launch: after a scale from 1 worker, the first is named from its replacement on.
    const prefixed = this.options.logPrefix && workers > 1;
    const launch = this.spares.launch({
      file: file!,
      args,
      // At the spawn: an env file that cannot be read fails this launch alone.
      env: () => workerEnv(this.options, index, workers, generation),
      stderr: 'pipe',
      fds: sockets.fds,
      // Its own process group: a Ctrl-C at the terminal reaches the supervisor,
      // which passes it on once, rather than both (a second signal would force).
      // A group signal still reaches the workers: a stop signal through us,
      // a SIGKILL (which we cannot pass on) as the EOF of their ready channel,
      // on which they drain and exit (ready-pipe.ts).
      detached: true,
      output: prefixed ? 'pipe' : 'inherit',
      readyTimeout: this.options.readyTimeout,
      label: workers === 1 ? `generation ${generation}` : `worker ${index} (generation ${generation})`,
    });
    const worker: WorkerProcess = { index, id, generation, launch, pid: launch.pid ?? 0, startedAt: Date.now(), startedMono: performance.now() };
    this.processes.set(id, worker);
    // stderr goes through its tail keeper first (worker-stderr.ts), then, named, to ours.
    const write = prefixed ? prefixedWriter(index, worker.pid, process.stderr, launch.exited) : writeStderr;
    const stderr = (this.stderr[index] ??= new SlotStderr(writeStderr)).attach(launch.stderr, write);
    if (prefixed) prefixWorkerOutput(launch.child?.stdout, index, worker.pid);
    logger.debug(`started ${this.describe(worker)} (${why})`, { event: 'worker-started', worker: index, pid: worker.pid, generation, why });
    launch.outcome.then(
      () => {
        this.everReady = true;
        stderr.ready();
        logger.info(`${workers === 1 ? `generation ${generation} (pid ${worker.pid})` : this.describe(worker)} is ready`, {
          event: 'worker-ready',
          worker: index,
          pid: worker.pid,
          generation,
        });
        this.dispatch({ type: 'ready', index, id });
      },
      (err: Error) => {
        this.processes.delete(id);
        const replaced = this.table.slots[index]?.pending?.id !== id;
        if (this.table.phase === 'stopping' || replaced) {
          logger.debug(err.message, { event: 'worker-abandoned', worker: index, pid: worker.pid, generation });
        } else {
          this.failed(worker, err, stderr);
        }
        if (!this.everReady && why === 'initial') this.exitIfUnrunnable(launch);
        this.dispatch({ type: 'failed', index, id, reason: err.message, status: launch.exitStatus });
      },
    );
    void launch.exited.then((status) => {
      if (launch.state !== 'ready') return; // a failed start: its outcome reported it
      this.processes.delete(id);
      const serving = this.table.slots[index]?.current?.id === id;
      if (serving && this.table.phase !== 'stopping') {
        // Its sockets stay with us, so connections wait in the accept queue.
        logger.error(`${this.name(index, worker.pid)} exited with ${describeExit(status)} while serving`, {
          event: 'worker-crashed',
          worker: index,
          pid: worker.pid,
          generation,
          code: status.code,
          signal: status.signal,
        });
        this.emit('worker-failed', { worker: index, pid: worker.pid, message: `${this.name(index, worker.pid)} exited with ${describeExit(status)} while serving`, stderr: stderr.tail.lines() });
      } else {
        logger.debug(`${this.describe(worker)} exited with ${describeExit(status)}`, { event: 'worker-exited', worker: index, pid: worker.pid, code: status.code, signal: status.signal });
      }
      this.dispatch({ type: 'exited', index, id, status, ranMs: performance.now() - worker.startedMono });
    });
  }

  /** A start failed: logged once with its output (held output of an identical failure is not shown again), and reported. */
  private failed(worker: WorkerProcess, err: Error, stderr: WorkerStderr): void {
    const { message } = err;
    const { repeated } = stderr.failed();
    const again = repeated ? `; the same error output as the last failure (not shown again: ${repeated} more time${repeated > 1 ? 's' : ''})` : '';
    this.options.logger.error(`${message}${again}`, { event: 'worker-failed', worker: worker.index, pid: worker.pid, generation: worker.generation, err, repeated });
    this.emit('worker-failed', { worker: worker.index, pid: worker.pid, message, stderr: stderr.tail.lines() });
  }

  /**
   * A command that cannot even be started (not found, not executable, an
   * environment too large) will not start on a retry either: like a shell,
   * exit at once with 127 or 126 (1 for the environment). Only
   * before any worker was ever ready: once the app has run, its command going
   * missing is a deploy in progress, and the restart backoff waits for it.
   */
  private exitIfUnrunnable(launch: Launch): void {
    const cannot = cannotRun(launch.spawnError);
    if (!cannot || this.table.phase === 'stopping') return;
    const { status, why } = cannot;
    this.options.logger.error(`cannot run ${JSON.stringify(this.options.command[0])}: ${why}; exiting with status ${status}`, { event: 'command-unrunnable', status });
    this.emit('unrunnable', { status });
  }

  /** How the stop went: see stopStatus. */
  exitStatus(): number {
    return stopStatus(this.table, this.size, this.options.logger);
  }
}

/**
 * How the stop went: 0 when every slot's last worker was ready and exited 0;
 * else the first unclean slot's status (shell convention), each logged. A
 * slot whose last start failed (a crash loop), or that never had a ready
 * worker, is unclean: the app's status (3 for an app that exits 3), or 1
 * where that was 0 or there was none.
 */
export function stopStatus(table: WorkerTable, workers: number, logger: Log): number {
  let status = 0;
  for (const slot of table.slots) {
    const exit: ExitStatus = slot.lastExit ?? { code: 0, signal: null };
    const failedStart = !slot.served || slot.lastExit?.beforeReady === true;
    const code = shellStatus(exit) || (failedStart ? 1 : 0);
    if (code === 0) continue;
    const who = workers === 1 ? 'the app' : `worker ${slot.index}`;
    const fields = { event: 'worker-unclean-stop', worker: slot.index, code: exit.code, signal: exit.signal, status: code };
    if (failedStart) {
      const last = slot.lastExit ? `its last start exited with ${describeExit(slot.lastExit)}` : 'stopped while it started';
      const what = slot.served ? 'was not ready again after a crash' : 'never became ready';
      logger.warn(`${who} ${what} (${last}): exit status ${code}`, fields);
    } else if (workers > 1) {
      logger.warn(`worker ${slot.index} did not stop cleanly: ${describeExit(exit)}`, fields);
    }
    if (status === 0) status = code;
  }
  return status;
}

/**
 * A worker's environment: a generation's (launcher.ts, with the env files as
 * they are now), its slot, the stop delay. Throws when it is too large to start a process with.
 */
function workerEnv(options: PoolOptions, index: number, workers: number, generation: number): NodeJS.ProcessEnv {
  const { host, sockets, stopDelay } = options;
  // Workers share V8's compile cache (Node >= 22.1), as direct-mode generations do.
  const env = generationEnv(host.env, sockets.names, generation, { kind: 'supervisor', pid: host.pid }, options.envFiles);
  // The supervisor is systemd's main process (and the one its watchdog watches); the app must not claim that.
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  env.GRACE_WORKER = String(index);
  env.GRACE_WORKERS = String(workers);
  if (stopDelay !== undefined) env.GRACE_STOP_DELAY = String(stopDelay);
  // Named here (and the env file it came from), where spawn would say only "spawn E2BIG".
  checkExecSize(options.command, env, options.envFiles);
  return env;
}

/** The shell's convention: the exit code, or 128 + the signal's number. */
export function shellStatus({ code, signal }: ExitStatus): number {
  if (signal) return 128 + (SIGNALS[signal] ?? 0);
  return code ?? 0;
}

const SIGNALS = constants.signals as Record<string, number>;
