import { GraceError } from '../platform/errors.js';
import { isSameLiveProcess, readOwnedPidFile, type PidFileState } from '../reporting/pid-file.js';
import { trustedPidFile } from './trusted-pid-file.js';

/*
 * `grace scale N --pid-file F`: asks the `grace run` supervisor in F for N
 * workers and waits until N serve, slots 0…N-1, and every worker scaled away
 * has exited (drained). A signal carries no number, so it is told one step
 * at a time (SIGTTIN: one more, SIGTTOU: one fewer; supervisor/scale.ts),
 * each time waiting for the pid file's `size` to move before the next:
 * two signals sent at once may arrive as one.
 */

export interface ScaleOptions {
  pidFile: string;
  workers: number;
  /** How long to wait for N workers to serve and the others to exit. Default 60 000. */
  timeout?: number;
  /** How often to look at the pid file. Default 50. */
  pollInterval?: number;
}

export interface ScaleResult {
  from: number;
  to: number;
  /** The serving pids, slot by slot. */
  pids: number[];
}

export async function scale(options: ScaleOptions): Promise<ScaleResult> {
  const timeout = options.timeout ?? 60_000;
  const poll = options.pollInterval ?? 50;
  const { state: before, owner } = trustedPidFile(options.pidFile);
  if (before.size === undefined || !before.workers) {
    throw new GraceError('ERR_GRACE_SCALE_FAILED', `pid ${before.pid} from ${options.pidFile} is not a grace run supervisor that can scale (grace run writes "size" in its pid file)`);
  }
  const deadline = Date.now() + timeout;
  let now: PidFileState = before;
  const read = () => {
    try {
      const next = readOwnedPidFile(options.pidFile);
      if (next.owner === owner && next.state.pid === before.pid) now = next.state;
    } catch {
      // replaced as we read, or removed at a stop (seen below as the supervisor's exit)
    }
  };
  while (Date.now() < deadline) {
    if (!isSameLiveProcess(before.pid, before.start)) {
      throw new GraceError('ERR_GRACE_SCALE_FAILED', `supervisor pid ${before.pid} exited while scaling to ${options.workers} workers`);
    }
    const size = now.size!;
    if (size !== options.workers) {
      const signal = size < options.workers ? 'SIGTTIN' : 'SIGTTOU';
      try {
        process.kill(before.pid, signal);
      } catch (cause) {
        throw new GraceError('ERR_GRACE_SCALE_FAILED', `cannot send ${signal} to pid ${before.pid}: ${(cause as Error).message}`, { cause });
      }
      while (now.size === size && Date.now() < deadline && isSameLiveProcess(before.pid, before.start)) {
        await sleep(poll);
        read();
      }
      continue;
    }
    if (reached(now, options.workers)) {
      return { from: before.size, to: options.workers, pids: serving(now, options.workers).map((w) => w.pid) };
    }
    await sleep(poll);
    read();
  }
  throw new GraceError('ERR_GRACE_SCALE_FAILED', `timed out after ${timeout} ms scaling to ${options.workers} workers: ${describe(now, options.workers)}`);
}

function serving(state: PidFileState, workers: number) {
  return (state.workers ?? []).filter((w) => w.state === 'serving' && w.index < workers).sort((a, b) => a.index - b.index);
}

/** N serve (one per slot below N) and nothing is left above N. */
function reached(state: PidFileState, workers: number): boolean {
  return state.size === workers && serving(state, workers).length === workers && (state.workers ?? []).every((w) => w.index < workers);
}

function describe(state: PidFileState, workers: number): string {
  const up = serving(state, workers).length;
  const left = (state.workers ?? []).filter((w) => w.index >= workers).map((w) => w.pid);
  const size = state.size === workers ? '' : `the supervisor keeps ${state.size}; `;
  return `${size}${up} of ${workers} serving${left.length ? `; scaled away but still running: pid${left.length > 1 ? 's' : ''} ${left.join(', ')}` : ''}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
