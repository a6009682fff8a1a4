import { GraceError } from '../platform/errors.js';
import { isSameLiveProcess, readOwnedPidFile, type PidFileState } from '../reporting/pid-file.js';
import { trustedPidFile } from './trusted-pid-file.js';

export interface ReloadOptions {
  pidFile: string;
  /** How long to wait for the new generation to serve and the old one to exit. Default 60 000. */
  timeout?: number;
  /** How often to look at the pid file. Default 10 (a reload with spares takes well under 100 ms). */
  pollInterval?: number;
}

export interface ReloadResult {
  /** The pid that was signalled (a generation, or the supervisor). */
  signalled: number;
  oldPid: number;
  newPid: number;
  generation: number;
  /** Under `grace run`: the serving worker pids before and after. */
  workers?: [before: number[], after: number[]];
}

/**
 * `grace reload`: sends SIGUSR2 to the grace process named by the pid file and
 * waits until a new generation serves and the old one has exited. Rejects with
 * a GraceError that says why (and that the old generation still serves) when
 * the restart fails or times out. Refuses (ERR_GRACE_PID_FILE, before any
 * signal) a pid file it cannot trust: see trusted-pid-file.ts.
 */
export async function reload(options: ReloadOptions): Promise<ReloadResult> {
  const timeout = options.timeout ?? 60_000;
  const poll = options.pollInterval ?? 10;
  const { state: before, owner } = trustedPidFile(options.pidFile);
  if (before.state === 'restarting') {
    const what = before.workers ? `a reload by supervisor pid ${before.pid}` : `a restart of pid ${before.serving || before.pid}`;
    throw new GraceError('ERR_GRACE_RESTART_IN_PROGRESS', `${what} is already in progress`);
  }
  if (before.signal === null) {
    throw new GraceError('ERR_GRACE_RESTART_FAILED', `pid ${before.pid} has hot restart turned off (restartSignal: false)`);
  }
  const signal = (before.signal ?? 'SIGUSR2') as NodeJS.Signals;
  const sentAt = Date.now();
  try {
    process.kill(before.pid, signal);
  } catch (cause) {
    throw new GraceError('ERR_GRACE_RESTART_FAILED', `cannot send ${signal} to pid ${before.pid}: ${(cause as Error).message}`, { cause });
  }
  const deadline = sentAt + timeout;
  let next: PidFileState | undefined;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, poll));
    const now = tryRead(options.pidFile, owner);
    if (!next && now && now.generation > before.generation && now.state === 'serving') next = now;
    if (next) {
      // Done once every process that served before (and does not serve now) has exited.
      const after = servingPids(next);
      const old = servingPids(before).filter((pid) => !after.includes(pid));
      if (old.every((pid) => !isSameLiveProcess(pid, undefined))) {
        const workers: ReloadResult['workers'] = before.workers ? [servingPids(before), after] : undefined;
        return { signalled: before.pid, oldPid: before.serving, newPid: next.serving, generation: next.generation, ...(workers ? { workers } : {}) };
      }
      continue;
    }
    if (now && now.state === 'failed' && now.at >= sentAt) {
      const pids = servingPids(now);
      const still = pids.length === 0 ? '; nothing serves' : now.workers ? `; still serving: pid${pids.length > 1 ? 's' : ''} ${pids.join(', ')}` : `; pid ${now.serving} is still serving`;
      throw new GraceError('ERR_GRACE_RESTART_FAILED', `${now.message ?? 'the new generation failed'}${still}${lastWords(now, sentAt)}`);
    }
    if (!isSameLiveProcess(before.pid, before.start)) {
      throw new GraceError('ERR_GRACE_RESTART_FAILED', `pid ${before.pid} exited during the reload, with no new generation serving`);
    }
  }
  // pid 0 is "none serving" (a supervisor's workers all down), never a process to look at.
  const still = before.serving > 0 && isSameLiveProcess(before.serving, undefined) ? `; pid ${before.serving} is still serving` : '';
  const where = next ? `new pid ${next.serving} serves, but old pid ${before.serving} did not exit` : 'no new generation became ready';
  throw new GraceError('ERR_GRACE_RESTART_FAILED', `timed out after ${timeout} ms: ${where}${next ? '' : still}`);
}

// The file is replaced by rename, so a read sees the old or the new one whole
// (on a full disk it is rewritten in place: a torn read fails and the next
// poll reads again). One owned by someone else now is not the grace process's.
function tryRead(path: string, owner: number): PidFileState | undefined {
  try {
    const now = readOwnedPidFile(path);
    return now.owner === owner ? now.state : undefined;
  } catch {
    return undefined;
  }
}

/** Under `grace run`: the failed worker's last lines of stderr, when it failed during this reload. */
export function lastWords(state: PidFileState, since: number): string {
  const failure = state.lastFailure;
  if (!failure || failure.at < since || failure.stderr.length === 0) return '';
  const count = failure.stderr.length === 1 ? 'line' : `${failure.stderr.length} lines`;
  return `\nits last ${count} of stderr (pid ${failure.pid}):\n${failure.stderr.map((line) => `  ${line}`).join('\n')}`;
}

/** The app processes serving: each ready worker under `grace run`, else the one serving pid. */
function servingPids(state: PidFileState): number[] {
  if (!state.workers) return state.serving ? [state.serving] : [];
  return state.workers.filter((w) => w.state === 'serving').map((w) => w.pid);
}
