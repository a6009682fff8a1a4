import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex, Readable } from 'node:stream';
import { GraceError } from '../platform/errors.js';
import { compileCacheEnv } from './compile-cache.js';
import { childListenEnv, readyFdAfter, type Starter } from '../platform/listen-env.js';
import { envWithFiles, type EnvFiles } from '../platform/env-file.js';
import { ChannelWords, line, WORDS } from '../platform/channel-words.js';
import { largest } from '../platform/exec-size.js';

/*
 * Starting a generation, the same in direct mode and under `grace run`: spawn
 * it with the sockets as fds 3.. and a pipe after them, wait for "ready" on
 * that pipe, and on failure (spawn error, exit, missed deadline, abandoned)
 * kill it and settle only once it is reaped, so two failed generations never
 * overlap. A generation accepts only after it said "ready" (it adopts its
 * sockets just before), so killing one that never did resets nobody.
 */

export interface LaunchSpec {
  file: string;
  args: readonly string[];
  /** A function is called at the spawn: what it throws fails the launch as a spawn error would. */
  env: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  cwd?: string;
  /** Become fds 3.. in the child; the ready pipe follows them. */
  fds: readonly number[];
  /**
   * `pipe`: its stderr comes to us (`Launch.stderr`) rather than going where
   * ours goes; its exit is reported once the pipe is read to its end (or
   * 250 ms after the exit, when a subprocess of it holds the pipe open).
   */
  stderr?: 'inherit' | 'pipe';
  /** Its own process group (the supervisor forwards terminal signals itself). */
  detached?: boolean;
  /** stdout and stderr: shared with ours (default), or pipes the owner reads (`child.stdout`, `child.stderr`). */
  output?: 'inherit' | 'pipe';
  /**
   * How long it may take to say "ready" before it is killed. Undefined: no
   * timer of its own (`grace run`'s table keeps that deadline and calls `timedOut`).
   */
  readyTimeout?: number;
  /** Names it in messages: "new generation", "generation 3". */
  label: string;
}

/** A spec whose environment is worked out already (a standby is booted, checked and released with a fixed one). */
export type ResolvedLaunchSpec = LaunchSpec & { env: NodeJS.ProcessEnv };

/** Works out `spec`'s environment now; throws as the launch would (an env file that cannot be read). */
export function resolveEnv(spec: LaunchSpec): ResolvedLaunchSpec {
  return typeof spec.env === 'function' ? { ...spec, env: spec.env() } : (spec as ResolvedLaunchSpec);
}

/**
 * A generation's environment, the same in direct mode and under `grace run`:
 * `base` without the protocol variables this process inherited, then the
 * sockets' LISTEN_FDS and LISTEN_FDNAMES, GRACE_GENERATION, who starts it
 * (GRACE_PARENT_PID or GRACE_SUPERVISOR_PID) and GRACE_READY_FD, and the
 * compile cache generations share (compile-cache.ts). With env files, the
 * files as they are now, not as they were at our start (env-file.ts). What
 * only one mode sets (the worker's index, the stop delay) its caller adds.
 * Throws ERR_GRACE_ENV_FILE when an env file grace reads cannot be read.
 */
export function generationEnv(
  base: NodeJS.ProcessEnv,
  socketNames: string[],
  generation: number,
  starter: Omit<Starter, 'readyFd'>,
  envFiles?: EnvFiles,
): NodeJS.ProcessEnv {
  const env = envWithFiles(base, envFiles);
  return { ...childListenEnv(env, socketNames, generation, starter), ...compileCacheEnv(env) };
}

/**
 * Spawns a generation for `spec` with `env`, the one way every generation is
 * spawned (a fresh launch, a standby with its park in front): stdin ours,
 * stdout and stderr ours or piped (`output`, `stderr`), the sockets as fds
 * 3.., the channel (a socket pair) right after them.
 */
export function spawnGeneration(spec: LaunchSpec, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(spec.file, [...spec.args], {
    env,
    cwd: spec.cwd,
    stdio: ['inherit', spec.output ?? 'inherit', spec.stderr ?? spec.output ?? 'inherit', ...spec.fds, 'pipe'],
    detached: spec.detached ?? false,
  });
}

/** Our end of a spawned generation's channel; none when spawn could not make the pipes (EMFILE, ENFILE: its 'error' follows). */
export function channelOf(child: ChildProcess, spec: Pick<LaunchSpec, 'fds'>): Duplex | undefined {
  return (child.stdio?.[readyFdAfter(spec.fds.length)] as Duplex | null | undefined) ?? undefined;
}

/** How a process ended, as node reports it: an exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A launch's states: `starting` → `ready`, or → `failing` (being killed) →
 * `failed` (reaped). Every event goes through `on()`.
 */
export type LaunchState = 'starting' | 'ready' | 'failing' | 'failed';

type LaunchEvent =
  | { type: 'ready-word' }
  | { type: 'exit'; status: ExitStatus }
  | { type: 'give-up'; reason: string; cause?: unknown };

export class Launch {
  state: LaunchState = 'starting';
  readonly child: ChildProcess | undefined;
  /**
   * Why the process could not be started at all: spawn's error code (`ENOENT`,
   * `EACCES`, …). Undefined once it was started, and while it may still be.
   */
  spawnError: string | undefined;
  /** Resolves with how it ended; a child that never spawned "exits" as a shell says: 126 not executable, else 127. */
  readonly exited: Promise<ExitStatus>;
  /** How it ended, once it has (what `exited` resolves with). */
  exitStatus: ExitStatus | undefined;
  /** Resolves once it said "ready"; rejects (ERR_GRACE_RESTART_FAILED) once a failed one is reaped. */
  readonly outcome: Promise<void>;
  /**
   * How many "pong"s it has written (under `grace run --watchdog`). The
   * channel keeps order, so each answers the oldest "ping" not yet answered.
   */
  pongs = 0;
  /**
   * Called in the same turn as it said "ready" (before `outcome` resolves):
   * whoever decides whose a signal is must know of the word synchronously.
   */
  onReady: () => void = () => {};
  private failure: GraceError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pipe: Duplex | undefined;
  private readonly words = new ChannelWords((word) => {
    if (word === WORDS.pong) this.pongs++;
    if (word === WORDS.ready) this.on({ type: 'ready-word' });
  });
  private settle!: { resolve: () => void; reject: (err: GraceError) => void };
  private markExited!: (status: ExitStatus) => void;

  /** `started`: a process already spawned for `spec` (a released standby, standby.ts) instead of a fresh one. */
  constructor(private readonly spec: LaunchSpec, started?: ChildProcess) {
    this.outcome = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.outcome.catch(() => {}); // the owner may be gone; failures are its to log
    this.exited = new Promise((resolve) => (this.markExited = (status) => resolve((this.exitStatus = status))));
    let child: ChildProcess;
    let env: NodeJS.ProcessEnv | undefined;
    try {
      if (!started) env = typeof spec.env === 'function' ? spec.env() : spec.env;
      child = started ?? spawnGeneration(spec, env!);
    } catch (cause) {
      this.notStarted(cause as NodeJS.ErrnoException, env);
      return;
    }
    this.child = child;
    child.once('exit', (code, signal) => {
      const exit = () => this.on({ type: 'exit', status: { code, signal } });
      if (child.stderr) void outputRead(child.stderr).then(exit);
      else exit();
      // A process it left behind may hold its piped output open: read what is
      // left for a moment, then let go, or it would keep us from exiting.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, OUTPUT_AFTER_EXIT_MS).unref();
    });
    child.once('error', (cause: NodeJS.ErrnoException) => {
      // A child that never spawned emits no 'exit'.
      if (child.pid === undefined) return this.notStarted(cause);
      this.on({ type: 'give-up', reason: `could not start the ${spec.label}: ${cause.message}`, cause });
    });
    this.pipe = channelOf(child, spec);
    this.pipe?.on('data', (chunk: Buffer) => this.words.push(chunk));
    this.pipe?.on('error', () => {}); // EPIPE/ECONNRESET when it dies: its exit says why
    const readyTimeout = spec.readyTimeout;
    if (readyTimeout !== undefined) this.timer = setTimeout(() => this.timedOut(readyTimeout), readyTimeout);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Its stderr, when the spec asked for a pipe. */
  get stderr(): Readable | undefined {
    return this.child?.stderr ?? undefined;
  }

  /**
   * Hears now what it wrote that the event loop has not read yet: called
   * before a signal is taken, since a word written before the signal
   * decides whose it is (platform/channel-words.ts).
   */
  readNow(): void {
    if (this.state === 'starting' || this.state === 'ready') this.words.readNow(this.pipe);
  }

  /** Its ready deadline (`ms`) passed: abandoned, saying so. */
  timedOut(ms: number): void {
    this.on({ type: 'give-up', reason: `${this.describe()} was not ready within ${ms} ms` });
  }

  /** Stops waiting for it: kills it, and `outcome` rejects with `reason` once it is reaped. */
  abandon(reason: string): void {
    this.on({ type: 'give-up', reason });
  }

  /**
   * Under `grace run`: replaces a ready generation. "retire" on its pipe says
   * the SIGTERM that follows is a handover (a successor serves the same
   * sockets), not a stop: it drains at once, with no stop delay.
   */
  retire(): void {
    // fds past stderr are socket pairs: the child reads what we write.
    if (this.pipe?.writable) this.pipe.write(line(WORDS.retire));
    this.signal('SIGTERM');
  }

  /** Under `grace run --watchdog`: a heartbeat; its event loop answers "pong" (`pongs`). */
  ping(): void {
    if (this.state === 'ready' && this.pipe?.writable) this.pipe.write(line(WORDS.ping));
  }

  /** Sends `signal` if the process was started and has not exited (never to a reaped pid). */
  signal(signal: NodeJS.Signals): void {
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  /** After "ready": it lives on without us (direct mode's successor); let our loop end without it. */
  release(): void {
    this.pipe?.destroy();
    this.child?.unref();
  }

  private notStarted(cause: NodeJS.ErrnoException, env?: NodeJS.ProcessEnv): void {
    this.spawnError = cause.code ?? 'ERR_SPAWN';
    // E2BIG past the check before the spawn (exec-size.ts): at least say what is large.
    const meaning = cause.code === 'E2BIG' && env ? `too large to start: ${largest(env)}` : cause.code === undefined ? undefined : SPAWN_ERRORS[cause.code];
    this.on({ type: 'give-up', reason: `could not start the ${this.spec.label}: ${cause.message}${meaning ? ` (${meaning})` : ''}`, cause });
    // A shell's status where one applies (127 not found, 126 not executable); else a plain failure (an env file that cannot be read, E2BIG).
    this.on({ type: 'exit', status: { code: cannotRun(cause.code)?.status ?? 1, signal: null } });
  }

  private describe(): string {
    return `${this.spec.label} pid ${this.child?.pid ?? '(none)'}`;
  }

  /** The one place the launch's state changes. */
  private on(event: LaunchEvent): void {
    switch (this.state) {
      case 'starting':
        if (event.type === 'ready-word') {
          this.state = 'ready';
          clearTimeout(this.timer);
          this.settle.resolve();
          this.onReady();
        } else if (event.type === 'exit') {
          this.fail(`${this.describe()} exited with ${describeExit(event.status)} before it was ready`);
          this.reaped(event.status);
        } else {
          // Killed before its channel closes: closed first, the child could
          // read the end-of-file and take its starter for dead meanwhile.
          this.signal('SIGKILL');
          this.fail(event.reason, event.cause);
        }
        return;
      case 'failing':
        if (event.type === 'exit') this.reaped(event.status);
        return;
      case 'ready':
        if (event.type === 'exit') this.markExited(event.status);
        return;
      case 'failed':
        return;
    }
  }

  private fail(reason: string, cause?: unknown): void {
    this.state = 'failing';
    clearTimeout(this.timer);
    this.failure = new GraceError('ERR_GRACE_RESTART_FAILED', reason, { cause });
    this.pipe?.destroy();
  }

  private reaped(status: ExitStatus): void {
    this.state = 'failed';
    this.markExited(status);
    this.settle.reject(this.failure!);
  }
}

/** How long a child's piped output is read after its exit (a process it left behind may hold it open). */
export const OUTPUT_AFTER_EXIT_MS = 1000;

/** Once a piped stderr is read to its end, or 250 ms (a subprocess may hold it open). */
function outputRead(stream: Readable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, 250);
    stream.once('close', done);
    function done() {
      clearTimeout(timer);
      stream.removeListener('close', done);
      resolve();
    }
  });
}

/** Spawn errors a later try may get past, said plainly. */
const SPAWN_ERRORS: Record<string, string> = {
  EMFILE: 'too many open files in this process: its limit is ulimit -n',
  ENFILE: 'too many open files on this system',
  EAGAIN: 'too many processes: the limit is ulimit -u',
};

/**
 * A command that cannot be started at all, said as a shell says it: 127 when
 * it is not found (ENOENT), 126 when it is found but cannot be executed
 * (EACCES; ENOEXEC, an unknown binary format, where the C library does not
 * run such a file with /bin/sh as glibc's does). An environment too large to
 * start with (exec-size.ts, or E2BIG) is 1, as an env file that cannot be
 * read is at `grace run`'s start. Undefined for any other spawn error
 * (EMFILE, EAGAIN, …), which a later try may get past.
 */
export function cannotRun(code: string | undefined): { status: 1 | 126 | 127; why: string } | undefined {
  if (code === 'ENOENT') return { status: 127, why: 'not found' };
  if (code === 'EACCES') return { status: 126, why: 'not executable (permission denied)' };
  if (code === 'ENOEXEC') return { status: 126, why: 'not executable (unknown binary format)' };
  if (code === 'ERR_GRACE_ENV_TOO_LARGE' || code === 'E2BIG') return { status: 1, why: 'its environment is too large to start a process with (E2BIG)' };
  return undefined;
}

export function describeExit({ code, signal }: ExitStatus): string {
  return signal ?? `code ${code}`;
}
