import { EventEmitter } from 'node:events';
import { checkDuration } from '../platform/duration.js';
import { GraceError } from '../platform/errors.js';
import { resolveLogger, type Log, type Logger } from '../platform/logger.js';
import { realProcess, type ProcessHost } from '../platform/process-host.js';
import { handleSignals, type HandleSignalsOptions } from './handle-signals.js';
import { deadline } from '../platform/deadline.js';

/**
 * Phases run in this order; the closers of one phase run together.
 * - `intake`: stop taking new work (consumers, schedulers);
 * - `drain`: let work in progress finish (servers drain here, tracked tasks end here);
 * - `resources`: close what the work used (pools, clients, files).
 */
export const PHASES = ['intake', 'drain', 'resources'] as const;
export type Phase = (typeof PHASES)[number];

/** Anything that can be closed: a function, or an object with `close()`, `end()` or `[Symbol.asyncDispose]()`. */
export type Closable =
  | ((signal: AbortSignal) => unknown)
  | { close(...args: never[]): unknown }
  | { end(...args: never[]): unknown }
  | { [Symbol.asyncDispose](): PromiseLike<void> };

export interface RegisterOptions {
  /** Shown in logs and reports. Default: the closer's constructor or function name. */
  name?: string;
  /** Default `'resources'`. */
  phase?: Phase;
  /** Called at the deadline if the closer has not finished, even if its phase never began (e.g. destroy connections). */
  force?: () => void;
}

export interface ShutdownOptions {
  /** Overall deadline for every phase together, in ms. Default 30 000. */
  timeout?: number;
  logger?: Logger | false;
  /** @internal The process whose signals `handleSignals()` takes (tests pass a stand-in). */
  host?: ProcessHost;
}

/** What happened, by name. */
export interface ShutdownReport {
  reason: string;
  durationMs: number;
  /** True when the deadline (or a forced stop) cut the wait short. */
  forced: boolean;
  failed: Array<{ name: string; error: unknown }>;
  /** Still running at the deadline, or never started because of it. */
  unfinished: string[];
}

export interface ShutdownEvents {
  shutdown: [{ reason: string }];
  'closer-failed': [{ name: string; error: unknown }];
  done: [ShutdownReport];
}

interface Entry {
  name: string;
  phase: Phase;
  close: (signal: AbortSignal) => Promise<unknown>;
  force: (() => void) | undefined;
  state: 'waiting' | 'running' | 'done' | 'failed';
  settled: Promise<void> | undefined;
}

const DEFAULT_TIMEOUT = 30_000;
// After forcing, how long forced closers (destroyed sockets) get to report closed.
const FORCE_SETTLE_MS = 1000;

/**
 * The shutdown registry: everything a process must stop, finish or close
 * before it exits, in phases, under one deadline. Register closers, track
 * background work, and read `signal` / `isShuttingDown()` to stop taking work.
 * `gracehttp.serve` drains its servers through the same registry.
 */
export class Shutdown extends EventEmitter<ShutdownEvents> {
  private readonly controller = new AbortController();
  private readonly entries: Entry[] = [];
  private readonly tasks = new Set<Promise<unknown>>();
  private readonly taskNames = new Map<Promise<unknown>, string>();
  /** The default deadline, in ms. */
  readonly timeout: number;
  private readonly logger: Log;
  private running: Promise<ShutdownReport> | undefined;
  private forceNow: (() => void) | undefined;
  private leaving = false;
  private readonly host: ProcessHost;
  private readonly removeSignalHandlers: Array<() => void> = [];

  constructor(options: ShutdownOptions = {}) {
    super();
    this.timeout = checkTimeout(options.timeout ?? DEFAULT_TIMEOUT, 'Shutdown options.timeout');
    this.logger = resolveLogger(options.logger);
    this.host = options.host ?? realProcess;
  }

  /** Aborts when shutdown starts: pass it to work that should stop taking more. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * True from the first moment of a stop, e.g. for a readiness endpoint to
   * answer 503: from the start of a server's stop delay (see
   * {@link markLeaving}), else from `shutdown()`.
   */
  isShuttingDown(): boolean {
    return this.leaving || this.controller.signal.aborted;
  }

  /**
   * A stop is coming but work is still taken (`gracehttp`'s `stopDelay`):
   * `isShuttingDown()` turns true so readiness says "going away"; `signal`
   * aborts and the closers run only at `shutdown()`.
   */
  markLeaving(): void {
    this.leaving = true;
  }

  /**
   * Makes the stop signals shut this registry down, for a process with no
   * server (a queue worker): on the first, run the shutdown and exit with
   * status 0, or 1 if it was forced or a closer failed; a second forces it.
   * Without this (and without `gracehttp.serve`, which handles the signals
   * itself), SIGTERM kills the process with status 143 and no closer runs.
   * Under `grace run` without --listen, it also tells the supervisor the
   * process is ready: at once, or once `options.ready` resolves
   * (handle-signals.ts). Returns a function that removes the handlers.
   */
  handleSignals(options: HandleSignalsOptions = {}): () => void {
    if (options.timeout !== undefined) checkTimeout(options.timeout, 'handleSignals() timeout');
    const remove = handleSignals(this, this.host, this.logger, options);
    this.removeSignalHandlers.push(remove);
    return remove;
  }

  /** @internal `gracehttp.serve` handles the process's signals from here on (and tells a handover from a stop). */
  releaseSignals(): void {
    for (const remove of this.removeSignalHandlers.splice(0)) remove();
  }

  /** Resolves with the report once shutdown has finished. */
  get done(): Promise<ShutdownReport> {
    return this.running ?? new Promise((resolve) => this.once('done', resolve));
  }

  /** Registers a closer; returns a function that unregisters it. */
  register(closable: Closable, options: RegisterOptions = {}): () => void {
    const phase = options.phase ?? 'resources';
    if (!PHASES.includes(phase)) {
      throw new GraceError('ERR_GRACE_OPTIONS', `phase must be one of ${PHASES.join(', ')}, got ${JSON.stringify(phase)}`);
    }
    const entry: Entry = { name: options.name ?? nameOf(closable), phase, close: toCloser(closable), force: options.force, state: 'waiting', settled: undefined };
    this.entries.push(entry);
    return () => {
      const index = this.entries.indexOf(entry);
      if (index >= 0 && entry.state === 'waiting') this.entries.splice(index, 1);
    };
  }

  /** Waits for `promise` during the drain phase. Returns it. */
  track<T>(promise: Promise<T>, name = 'task'): Promise<T> {
    this.tasks.add(promise);
    this.taskNames.set(promise, name);
    const forget = () => {
      this.tasks.delete(promise);
      this.taskNames.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Runs `task` now and waits for it during the drain phase; refused once shutdown has started. */
  run<T>(name: string, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.isShuttingDown()) {
      return Promise.reject(new GraceError('ERR_GRACE_NOT_SERVING', `not starting ${name}: shutting down`));
    }
    return this.track(Promise.resolve().then(() => task(this.signal)), name);
  }

  /**
   * Runs `task` every `intervalMs` (after the previous run has finished), never
   * starting a run once shutdown has begun; the run in progress is waited for.
   * Returns a function that stops the schedule.
   */
  every(name: string, intervalMs: number, task: (signal: AbortSignal) => unknown): () => void {
    checkTimeout(intervalMs, 'every() intervalMs');
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const schedule = () => {
      if (stopped || this.isShuttingDown()) return;
      timer = setTimeout(() => {
        if (stopped || this.isShuttingDown()) return;
        this.track(Promise.resolve().then(() => task(this.signal)), name)
          .catch((error) => this.logger.error(`${name} failed: ${messageOf(error)}`, { event: 'job-failed', name, err: error }))
          .finally(schedule);
      }, intervalMs);
    };
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
    };
    this.signal.addEventListener('abort', stop, { once: true });
    schedule();
    return stop;
  }

  /**
   * Starts the shutdown: aborts `signal`, then runs the phases in order under
   * one deadline. Idempotent: every call returns the same promise.
   */
  shutdown(options: { reason?: string; timeout?: number } = {}): Promise<ShutdownReport> {
    if (!this.running) {
      const reason = options.reason ?? 'shutdown';
      this.controller.abort(reason);
      // Set before 'shutdown' is emitted, so a listener that calls shutdown() gets this run.
      this.running = this.execute(reason, checkTimeout(options.timeout ?? this.timeout, 'shutdown() timeout'));
      this.emit('shutdown', { reason });
      this.running.then((report) => this.emit('done', report));
    }
    return this.running;
  }

  /** Stops waiting now: forces what can be forced and reports the rest as unfinished. */
  force(): void {
    this.forceNow?.();
  }

  private async execute(reason: string, timeout: number): Promise<ShutdownReport> {
    const started = performance.now();
    const failed: ShutdownReport['failed'] = [];
    let forced = false;
    let forcedEarly = false;
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
      this.forceNow = () => {
        forcedEarly = true;
        clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      forced = true;
    });

    const runEntry = (entry: Entry) => {
      entry.state = 'running';
      entry.settled = Promise.resolve()
        .then(() => entry.close(this.signal))
        .then(
          () => {
            entry.state = 'done';
          },
          (error: unknown) => {
            entry.state = 'failed';
            failed.push({ name: entry.name, error });
            this.logger.error(`${entry.name} failed to close: ${messageOf(error)}`, { event: 'closer-failed', name: entry.name, err: error });
            this.emit('closer-failed', { name: entry.name, error });
          },
        );
      return entry.settled;
    };
    for (const phase of PHASES) {
      const work: Promise<unknown>[] = this.entries.filter((e) => e.phase === phase).map(runEntry);
      if (phase === 'drain') work.push(this.settleTasks());
      await Promise.race([Promise.all(work), timeUp]);
      if (forced) break;
    }
    // A finished shutdown must not hold the event loop open until the deadline.
    clearTimeout(timer);
    this.forceNow = undefined;

    const unfinished: string[] = [];
    if (forced) {
      // Every unfinished closer is forced, started or not: what it waits on may
      // be under way outside the registry (a server drains from the first moment).
      for (const entry of this.entries) {
        if (entry.state !== 'running' && entry.state !== 'waiting') continue;
        try {
          entry.force?.();
        } catch (error) {
          this.logger.error(`${entry.name} failed to force-close: ${messageOf(error)}`, { event: 'closer-failed', name: entry.name, err: error });
        }
      }
      const running = this.entries.filter((e) => e.state === 'running');
      // Forced closers (destroyed sockets) usually finish at once; give them a moment.
      await deadline(Promise.all(running.filter((e) => e.force).map((e) => e.settled)), FORCE_SETTLE_MS, undefined);
      for (const entry of this.entries) {
        if (entry.state === 'running') unfinished.push(entry.name);
        if (entry.state === 'waiting') unfinished.push(`${entry.name} (not started)`);
      }
      for (const task of this.tasks) unfinished.push(this.taskNames.get(task) ?? 'task');
      if (unfinished.length) {
        const why = forcedEarly || timeout === 0 ? 'forced' : `deadline (${timeout} ms) reached`;
        this.logger.warn(`shutdown ${why}; unfinished: ${unfinished.join(', ')}`, { event: 'shutdown-unfinished', unfinished });
      }
    }
    return { reason, durationMs: performance.now() - started, forced, failed, unfinished };
  }

  // Tasks may start more tasks while draining (a run that tracks its sub-work).
  private async settleTasks(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }
}

function toCloser(closable: Closable): (signal: AbortSignal) => Promise<unknown> {
  if (typeof closable === 'function') return async (signal) => closable(signal);
  const object = closable as Record<string | symbol, unknown>;
  if (typeof object[Symbol.asyncDispose] === 'function') {
    return async () => (object[Symbol.asyncDispose] as () => unknown).call(object);
  }
  const method = typeof object.close === 'function' ? 'close' : typeof object.end === 'function' ? 'end' : undefined;
  if (!method) {
    throw new GraceError('ERR_GRACE_OPTIONS', 'register() needs a function or an object with close(), end() or [Symbol.asyncDispose]()');
  }
  const fn = object[method] as (...args: unknown[]) => unknown;
  // Node-style close(callback) (net.Server) or a promise (most clients).
  return () =>
    new Promise((resolve, reject) => {
      const callback = (err?: unknown) => (err ? reject(err) : resolve(undefined));
      const result = fn.length >= 1 ? fn.call(object, callback) : fn.call(object);
      if (isThenable(result)) result.then(resolve, reject);
      else if (fn.length < 1) resolve(result);
    });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function nameOf(closable: Closable): string {
  if (typeof closable === 'function') return closable.name || 'closer';
  return (closable as object).constructor?.name || 'closer';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkTimeout(value: number, name: string): number {
  return checkDuration(name, value);
}
