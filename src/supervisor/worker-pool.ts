import type { HeldSockets } from '../sockets/held-sockets.js';
import { cannotRun, describeExit, generationEnv, type Launch } from '../protocol/launcher.js';
import type { EnvFiles } from '../platform/env-file.js';
import { checkExecSize } from '../platform/exec-size.js';
import { writeStderr, type Log } from '../platform/logger.js';
import { readRss } from '../platform/proc.js';
import type { ProcessHost } from '../platform/process-host.js';
import type { WorkerFailure } from '../reporting/pid-file.js';
import type { WorkerAction, WorkerEvent } from './core/events.js';
import { relayWorkerOutput, relayWriter, type Relay } from './log-prefix.js';
import { Spares } from './spares.js';
import { SlotStderr, type WorkerStderr } from './worker-stderr.js';

/*
 * The workers of `grace run` as processes: the pool carries out what the
 * table (core/) says to a process (launch, retire, abandon, time out, kill,
 * signal, ping, look at its RSS or its pongs) and turns what the processes
 * do (ready, failed, exited, what it looked at) into the table's events. It
 * decides nothing: whether a failure is the slot's or an abandoned start's,
 * whether a worker is replaced, when one is killed, is the table's word.
 */

export interface PoolOptions {
  command: string[];
  sockets: HeldSockets;
  host: ProcessHost;
  logger: Log;
  /** `--stop-delay`: passed to every worker as GRACE_STOP_DELAY (its `stopDelay` default). */
  stopDelay: number | undefined;
  /** `--standby K`: workers kept booted and parked, taken by the next starts (spares.ts). */
  standby: number;
  /** With more than one worker, name each line a worker writes (log-prefix.ts); false: `--no-log-prefix`. */
  logPrefix: boolean;
  /** `--timestamps`: stamp each line a worker writes with the time (log-prefix.ts), whatever the number of workers. */
  timestamps: boolean;
  /** `--env-file`: read at every launch, beneath the supervisor's environment. */
  envFiles?: EnvFiles;
}

/** What the pool needs of the table's side: how many workers it keeps now, and where the processes' events go. */
export interface PoolLink {
  size(): number;
  event(event: WorkerEvent): void;
}

/** One launched process and what status shows about it. */
export interface WorkerProcess {
  index: number;
  id: number;
  generation: number;
  launch: Launch;
  pid: number;
  /** ms since epoch (for status) and on the monotonic clock (for how long it ran). */
  startedAt: number;
  startedMono: number;
  stderr: WorkerStderr;
  /** Why its start failed, once it did. */
  failure?: Error;
}

export class WorkerPool {
  /** Every launch the table knows, by id, until the table says it was reaped. */
  readonly processes = new Map<number, WorkerProcess>();
  readonly spares: Spares;
  /** The last worker that failed to start or crashed: `grace status` shows why, `grace reload` prints its stderr. */
  lastFailure: WorkerFailure | undefined;
  /** Each slot's stderr across its launches (worker-stderr.ts). */
  private readonly stderr: SlotStderr[] = [];

  constructor(
    private readonly options: PoolOptions,
    private readonly link: PoolLink,
  ) {
    this.spares = new Spares(options.standby, options.logger);
  }

  /** The table's actions that are a process's; the others are not the pool's. */
  carryOut(action: WorkerAction): void {
    const worker = 'id' in action ? this.processes.get(action.id) : undefined;
    switch (action.do) {
      case 'launch':
        return this.launch(action);
      case 'retire':
        if (!worker) return;
        this.options.logger.info(`retiring ${this.describe(worker)}`, { event: 'worker-retiring', worker: worker.index, pid: worker.pid, generation: worker.generation });
        return worker.launch.retire();
      case 'abandon':
        return worker?.launch.abandon(action.reason);
      case 'time-out':
        return worker?.launch.timedOut(action.ms);
      case 'kill':
        if (!worker) return;
        this.options.logger.warn(`${this.describe(worker)} did not exit within ${action.ms} ms of retiring; killing it`, { event: 'worker-killed', worker: worker.index, pid: worker.pid });
        return worker.launch.signal('SIGKILL');
      case 'reaped':
        this.processes.delete(action.id);
        return worker && this.reaped(worker, action);
      case 'stop-workers':
        for (const id of action.ids) this.processes.get(id)?.launch.signal(action.signal);
        return;
      case 'forward':
        return this.signalAll(action.signal);
      case 'kill-all':
        return this.signalAll('SIGKILL');
      case 'drop-spares':
        return this.spares.close();
      case 'refill-spares':
        return this.spares.refill();
      case 'ping':
        return worker?.launch.ping();
      case 'read-heartbeats':
        return this.readHeartbeats(action.workers);
      case 'sample-memory':
        return this.sampleMemory(action.workers, action.limit);
    }
  }

  /** The pids of these launches (those still known). */
  pids(ids: Array<{ id: number }>): number[] {
    return ids.flatMap(({ id }) => {
      const worker = this.processes.get(id);
      return worker ? [worker.pid] : [];
    });
  }

  private signalAll(signal: NodeJS.Signals): void {
    for (const { launch } of this.processes.values()) launch.signal(signal);
  }

  /** Every pong already in a channel counts, read by the loop or not (`readNow`), as of when the tick looked. */
  private readHeartbeats(workers: Array<{ index: number; id: number }>): void {
    const at = performance.now();
    const seen = workers.flatMap(({ index, id }) => {
      const worker = this.processes.get(id);
      if (!worker) return [];
      worker.launch.readNow();
      return [{ index, id, pongs: worker.launch.pongs }];
    });
    this.link.event({ type: 'heartbeats', at, workers: seen });
  }

  private sampleMemory(workers: Array<{ index: number; id: number }>, limit: number): void {
    for (const { index, id } of workers) {
      const worker = this.processes.get(id);
      const rss = worker && readRss(worker.pid);
      if (rss !== undefined && rss > limit) this.link.event({ type: 'over-memory', index, id, rss });
    }
  }

  private describe(worker: WorkerProcess): string {
    return this.link.size() === 1 ? `generation ${worker.generation} (pid ${worker.pid})` : `worker ${worker.index} (pid ${worker.pid}, generation ${worker.generation})`;
  }

  private launch({ index, id, generation, why }: Extract<WorkerAction, { do: 'launch' }>): void {
    const { sockets, logger } = this.options;
    const workers = this.link.size();
    const [file, ...args] = this.options.command;
    // Decided at launch: after a scale from 1 worker, the first is named from its replacement on.
    const prefixed = this.options.logPrefix && workers > 1;
    // Named or stamped, a worker's output comes through us (its stderr always does, for its last lines).
    const relayed = prefixed || this.options.timestamps;
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
      output: relayed ? 'pipe' : 'inherit',
      // No timer of its own: its ready deadline is the table's (`ready:ID`).
      label: workers === 1 ? `generation ${generation}` : `worker ${index} (generation ${generation})`,
    });
    const pid = launch.pid ?? 0;
    const relay: Relay = { worker: prefixed ? { index, pid } : undefined, stamp: this.options.timestamps ? () => new Date() : undefined };
    // stderr goes through its tail keeper first (worker-stderr.ts), then, named or stamped, to ours.
    const write = relayed ? relayWriter(relay, process.stderr, launch.exited) : writeStderr;
    const stderr = (this.stderr[index] ??= new SlotStderr(writeStderr)).attach(launch.stderr, write);
    const worker: WorkerProcess = { index, id, generation, launch, pid, startedAt: Date.now(), startedMono: performance.now(), stderr };
    this.processes.set(id, worker);
    if (relayed) relayWorkerOutput(launch.child?.stdout, relay);
    logger.debug(`started ${this.describe(worker)} (${why})`, { event: 'worker-started', worker: index, pid, generation, why });
    launch.outcome.then(
      () => {
        stderr.ready();
        logger.info(`${workers === 1 ? `generation ${generation} (pid ${pid})` : this.describe(worker)} is ready`, { event: 'worker-ready', worker: index, pid, generation });
        this.link.event({ type: 'ready', index, id });
      },
      (err: Error) => {
        worker.failure = err;
        const cannot = cannotRun(launch.spawnError);
        const unrunnable = cannot && { cannotRun: { status: cannot.status, why: cannot.why } };
        this.link.event({ type: 'failed', index, id, reason: err.message, status: launch.exitStatus, at: Date.now(), ...unrunnable });
      },
    );
    void launch.exited.then((status) => {
      if (launch.state !== 'ready') return; // a failed start: its outcome reported it
      this.link.event({ type: 'exited', index, id, status, ranMs: performance.now() - worker.startedMono });
    });
  }

  /** The table is done with it: logged as the table says it ended; a failed start or a crash is kept for status. */
  private reaped(worker: WorkerProcess, how: Extract<WorkerAction, { do: 'reaped' }>): void {
    const { logger } = this.options;
    const { index, pid, generation, stderr } = worker;
    switch (how.as) {
      case 'abandoned':
        return logger.debug(how.reason, { event: 'worker-abandoned', worker: index, pid, generation });
      case 'exited':
        return logger.debug(`${this.describe(worker)} exited with ${describeExit(how.status)}`, { event: 'worker-exited', worker: index, pid, code: how.status.code, signal: how.status.signal });
      case 'failed-start': {
        // Held output of an identical failure is not shown again.
        const { repeated } = stderr.failed();
        const again = repeated ? `; the same error output as the last failure (not shown again: ${repeated} more time${repeated > 1 ? 's' : ''})` : '';
        logger.error(`${how.reason}${again}`, { event: 'worker-failed', worker: index, pid, generation, err: worker.failure, repeated });
        this.lastFailure = { worker: index, pid, message: how.reason, stderr: stderr.tail.lines(), at: Date.now() };
        return;
      }
      case 'crashed': {
        const message = `${workerName(this.link.size(), index, pid)} exited with ${describeExit(how.status)} while serving`;
        logger.error(message, { event: 'worker-crashed', worker: index, pid, generation, code: how.status.code, signal: how.status.signal });
        this.lastFailure = { worker: index, pid, message, stderr: stderr.tail.lines(), at: Date.now() };
        return;
      }
    }
  }
}

/** "app pid 123" with one worker (as grace run always said), "worker 1 pid 123" with more. */
export function workerName(size: number, index: number, pid: number | undefined): string {
  return size === 1 ? `app pid ${pid ?? '(none)'}` : `worker ${index} pid ${pid ?? '(none)'}`;
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
