import { GraceError } from '../platform/errors.js';
import { readStat } from '../platform/proc.js';
import { isSameLiveProcess } from '../reporting/pid-file.js';
import { trustedPidFile } from './trusted-pid-file.js';

/*
 * `grace stop --pid-file F`: a graceful stop that waits for the end, as
 * `grace reload` waits for a reload. SIGTERM goes to the process the pid file
 * names (trusted as `grace reload` trusts it); then it waits until that
 * process and, under `grace run`, every worker the file lists have exited.
 * The workers are told apart from a recycled pid by their start time, read
 * before the signal.
 */

export interface StopOptions {
  pidFile: string;
  /** How long to wait for every process to exit. Default 90 000 (grace run's stop timeout of 60 s, and some). */
  timeout?: number;
  /** How often to look. Default 50. */
  pollInterval?: number;
}

export interface StopResult {
  /** The pid that was signalled (a generation, or the supervisor). */
  pid: number;
  /** Under `grace run`: the workers that were running, all gone now. */
  workers: number[];
  /** Under `grace run --standby`: the parked spares (booted, never serving), gone too. */
  spares: number[];
  elapsedMs: number;
}

interface Watched {
  pid: number;
  start: number | undefined;
  what: string;
}

/**
 * Sends SIGTERM and resolves once every process is gone. Rejects with
 * ERR_GRACE_STOP_TIMEOUT naming the pids still running at the deadline, and
 * with ERR_GRACE_PID_FILE (before any signal) for a pid file it cannot trust.
 */
export async function stop(options: StopOptions): Promise<StopResult> {
  const timeout = options.timeout ?? 90_000;
  const poll = options.pollInterval ?? 50;
  const { state } = trustedPidFile(options.pidFile);
  const watched: Watched[] = [{ pid: state.pid, start: state.start, what: state.workers ? 'supervisor' : 'app' }];
  for (const worker of state.workers ?? []) {
    // A spare (slot -1) is not a worker: it never served, and is named apart.
    const what = worker.index < 0 ? 'standby spare' : `worker ${worker.index}`;
    if (worker.pid > 0 && worker.pid !== state.pid) watched.push({ pid: worker.pid, start: readStat(worker.pid)?.startTime, what });
  }
  const sentAt = Date.now();
  try {
    process.kill(state.pid, 'SIGTERM');
  } catch (cause) {
    throw new GraceError('ERR_GRACE_STOP_TIMEOUT', `cannot send SIGTERM to pid ${state.pid}: ${(cause as Error).message}`, { cause });
  }
  for (;;) {
    const running = watched.filter((p) => isSameLiveProcess(p.pid, p.start));
    if (running.length === 0) break;
    if (Date.now() - sentAt >= timeout) {
      const list = running.map((p) => `pid ${p.pid} (${p.what})`).join(', ');
      throw new GraceError('ERR_GRACE_STOP_TIMEOUT', `timed out after ${timeout} ms: still running: ${list}`);
    }
    await new Promise((resolve) => setTimeout(resolve, poll));
  }
  const pids = (spare: boolean) => watched.slice(1).filter((p) => (p.what === 'standby spare') === spare).map((p) => p.pid);
  return { pid: state.pid, workers: pids(false), spares: pids(true), elapsedMs: Date.now() - sentAt };
}
