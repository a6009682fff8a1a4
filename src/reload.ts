import { GraceError } from './errors.js';
import { isSameLiveProcess, readPidFile, type PidFileState } from './pid-file.js';

export interface ReloadOptions {
  pidFile: string;
  /** How long to wait for the new generation to serve and the old one to exit. Default 60 000. */
  timeout?: number;
  /** How often to look at the pid file. Default 50. */
  pollInterval?: number;
}

export interface ReloadResult {
  /** The pid that was signalled (a generation, or the supervisor). */
  signalled: number;
  oldPid: number;
  newPid: number;
  generation: number;
}

/**
 * `grace reload`: sends SIGUSR2 to the grace process named by the pid file and
 * waits until a new generation serves and the old one has exited. Rejects with
 * a GraceError that says why (and that the old generation still serves) when
 * the restart fails or times out.
 */
export async function reload(options: ReloadOptions): Promise<ReloadResult> {
  const timeout = options.timeout ?? 60_000;
  const poll = options.pollInterval ?? 50;
  const before = readPidFile(options.pidFile);
  if (!isSameLiveProcess(before.pid, before.start)) {
    throw new GraceError(
      'ERR_GRACE_PID_FILE',
      `pid ${before.pid} from ${options.pidFile} is not the grace process that wrote it (it exited, and the pid may have been reused)`,
    );
  }
  if (before.state === 'restarting') {
    throw new GraceError('ERR_GRACE_RESTART_IN_PROGRESS', `a restart of pid ${before.serving} is already in progress`);
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
    const now = tryRead(options.pidFile);
    if (!next && now && now.generation > before.generation && now.state === 'serving') next = now;
    if (next) {
      if (!isSameLiveProcess(before.serving, undefined) || before.serving === next.serving) {
        return { signalled: before.pid, oldPid: before.serving, newPid: next.serving, generation: next.generation };
      }
      continue;
    }
    if (now && now.state === 'failed' && now.at >= sentAt) {
      throw new GraceError('ERR_GRACE_RESTART_FAILED', `${now.message ?? 'the new generation failed'}; pid ${now.serving} is still serving`);
    }
    if (!isSameLiveProcess(before.pid, before.start)) {
      throw new GraceError('ERR_GRACE_RESTART_FAILED', `pid ${before.pid} exited during the reload, with no new generation serving`);
    }
  }
  const still = isSameLiveProcess(before.serving, undefined) ? `; pid ${before.serving} is still serving` : '';
  const where = next ? `new pid ${next.serving} serves, but old pid ${before.serving} did not exit` : 'no new generation became ready';
  throw new GraceError('ERR_GRACE_RESTART_FAILED', `timed out after ${timeout} ms: ${where}${next ? '' : still}`);
}

// The file is replaced by rename, so a read sees the old or the new one whole;
// it may be briefly missing only if someone removes it.
function tryRead(path: string): PidFileState | undefined {
  try {
    return readPidFile(path);
  } catch {
    return undefined;
  }
}
