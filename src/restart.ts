import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { GraceError } from './errors.js';
import type { Logger } from './logger.js';
import type { Net } from './net.js';
import { readyPipeOf, spawnNextGeneration } from './next-generation.js';
import type { ProcessHost } from './process-host.js';

// How long after killing an unready child its SIGTERM may still arrive.
const LATE_READY_WINDOW_MS = 2000;

export interface RestartSettings {
  readyTimeout: number;
  beforeRestart: (() => void | Promise<void>) | undefined;
  /** The generation number the child will have. */
  generation: number;
}

/**
 * One attempt to start the next generation. It ends in a handover (the child
 * became ready and sent us SIGTERM) or a failure (hook threw, spawn failed, the
 * child exited or missed `readyTimeout`); a failed child is killed and reaped
 * before the attempt settles, so a later restart starts from a clean slate.
 */
export class RestartAttempt {
  /** Resolves with the new generation's pid on handover; rejects with why it failed. */
  readonly result: Promise<number>;
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  /** True once the child was ready and took over. */
  handedOver = false;
  private killedAt: number | undefined;
  private stopping = false;
  private failure: GraceError | undefined;
  private resolveResult!: (pid: number) => void;
  private rejectResult!: (err: GraceError) => void;
  private pipe: Readable | undefined;
  private said = '';
  private resolveReadyMessage!: () => void;
  private resolveFirstWord!: () => void;
  /** Resolves when the child writes "ready" on its pipe. */
  readonly readyMessage: Promise<void> = new Promise((resolve) => (this.resolveReadyMessage = resolve));
  /** Resolves when the child writes anything ("hello" or "ready") on its pipe. */
  readonly firstWord: Promise<void> = new Promise((resolve) => (this.resolveFirstWord = resolve));

  constructor(
    private readonly host: ProcessHost,
    private readonly net: Net,
    private readonly settings: RestartSettings,
    private readonly logger: Logger,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // Whoever started the attempt may not await it; failures are logged here.
    this.result.catch(() => {});
  }

  /** The child being started, once spawned. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * The child spoke on its ready pipe: it will say "ready" there before it
   * sends us SIGTERM, so a SIGTERM without that is somebody else's. (A child
   * of an older grace says nothing; its SIGTERM is its only word.)
   */
  get speaksPipe(): boolean {
    return this.said.length > 0;
  }

  async begin(): Promise<void> {
    // One deadline for the hook and the child's start: a hung hook must not
    // leave the restart "in progress" for ever.
    this.timer = setTimeout(() => {
      this.giveUp(
        this.child
          ? `new generation pid ${this.child.pid} was not ready within ${this.settings.readyTimeout} ms`
          : `the beforeRestart hook did not finish within ${this.settings.readyTimeout} ms`,
      );
    }, this.settings.readyTimeout);
    try {
      await this.settings.beforeRestart?.();
    } catch (cause) {
      return this.giveUp(`the beforeRestart hook failed: ${(cause as Error)?.message ?? cause}`, cause);
    }
    if (this.failure) return; // given up while the hook ran
    const handoff = this.net.handoff();
    if (handoff.fds.length === 0) return this.giveUp('nothing is listening to hand over');
    let child: ChildProcess;
    try {
      child = spawnNextGeneration(this.host, handoff, this.settings.generation);
    } catch (cause) {
      return this.giveUp(`could not start the next generation: ${(cause as Error).message}`, cause);
    }
    this.child = child;
    this.pipe = readyPipeOf(child, handoff);
    this.pipe?.on('data', (chunk: Buffer) => {
      this.said += chunk.toString();
      this.resolveFirstWord();
      if (this.said.includes('ready')) this.resolveReadyMessage();
    });
    this.pipe?.on('error', () => {});
    child.once('error', (err) => this.giveUp(`could not start the next generation: ${err.message}`, err));
    child.once('exit', (code, signal) => {
      this.failure ??= new GraceError(
        'ERR_GRACE_RESTART_FAILED',
        `new generation pid ${child.pid} exited with ${signal ?? `code ${code}`} before it was ready`,
      );
      this.settleFailure();
    });
    if (child.pid === undefined) return; // spawn failed; 'error' follows.
    this.logger.info(`Starting new generation pid ${child.pid} from pid ${this.host.pid}`);
  }

  /**
   * True for a moment after we killed a started child: a SIGTERM now is most
   * likely its readiness signal, sent just before it died, not a stop request.
   */
  mayStillSignal(): boolean {
    return this.killedAt !== undefined && performance.now() - this.killedAt < LATE_READY_WINDOW_MS;
  }

  /** The child said it is ready: it now serves, and we are to drain. */
  handover(): number | undefined {
    const child = this.child;
    if (this.settled || this.failure || !child || !isRunning(child)) return undefined;
    this.settled = true;
    this.handedOver = true;
    clearTimeout(this.timer);
    child.removeAllListeners('exit');
    // Let our event loop end without waiting for the successor; node still reaps it.
    child.unref();
    this.pipe?.destroy();
    this.resolveResult(child.pid);
    return child.pid;
  }

  /** Gives up: kills the child (if any) and settles once it has been reaped. */
  giveUp(reason: string, cause?: unknown, stopping = false): void {
    if (this.settled || this.failure) return;
    this.stopping = stopping;
    this.failure = new GraceError('ERR_GRACE_RESTART_FAILED', reason, { cause });
    clearTimeout(this.timer);
    const child = this.child;
    if (child && isRunning(child)) {
      this.killedAt = performance.now();
      child.kill('SIGKILL');
      return; // its 'exit' settles, once node has reaped it
    }
    this.settleFailure();
  }

  private settleFailure(): void {
    if (this.settled || !this.failure) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.stopping) this.logger.info(`new generation abandoned: ${this.failure.message}`);
    else this.logger.error(`restart failed: ${this.failure.message}; still serving with pid ${this.host.pid}`);
    this.rejectResult(this.failure);
  }
}

function isRunning(child: ChildProcess): child is ChildProcess & { pid: number } {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}
