import { GraceError } from '../platform/errors.js';
import { readUids } from '../platform/proc.js';
import { isSameLiveProcess, readOwnedPidFile, type PidFileState } from '../reporting/pid-file.js';

/*
 * Whether a pid file can be acted on, for every command that reads one
 * (reload, stop, scale signal what it names; status tells what it says). A
 * pid file may sit in a directory others can write (/tmp), so its content
 * proves nothing by itself. Trust it only if whoever could have written it
 * could signal the process it names: the file's owner is the uid the process
 * runs as (real or effective; a grace process wrote it as itself). Root
 * running a command is not exempt: that is how a planted file would borrow
 * root's power. Where the OS does not tell a process's uid, the file must be
 * the caller's own, so kill()'s permission check is the owner's.
 *
 * `grace status` tells the two ways to refuse one apart: nothing runs (no
 * file, or the process it names is gone), or the file cannot be trusted.
 */

export type PidFileLook =
  | { verdict: 'trusted'; state: PidFileState; owner: number }
  /** No pid file, or the process it names has exited (the pid may have been reused). */
  | { verdict: 'gone'; error: GraceError }
  /** A symlink, not a regular file, writable by others, unreadable, malformed, or owned by a uid the process does not run as. */
  | { verdict: 'untrusted'; error: GraceError };

/** The pid file at `path`, looked at once: trusted, naming nothing that runs, or not to be trusted (why, in `error`). */
export function lookAtPidFile(path: string, purpose: 'signal' | 'read' = 'signal'): PidFileLook {
  let owned;
  try {
    owned = readOwnedPidFile(path);
  } catch (err) {
    const missing = ['ENOENT', 'ENOTDIR'].includes(((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? '');
    return { verdict: missing ? 'gone' : 'untrusted', error: err as GraceError };
  }
  const { state, owner } = owned;
  // Read the uids first: the identity check after them proves they were the recorded process's.
  const uids = readUids(state.pid);
  if (!isSameLiveProcess(state.pid, state.start)) {
    return { verdict: 'gone', error: new GraceError('ERR_GRACE_PID_FILE', `pid ${state.pid} from ${path} is not the grace process that wrote it (it exited, and the pid may have been reused)`) };
  }
  const refusing = purpose === 'signal' ? 'refusing to signal' : 'not trusting what it says about';
  if (uids) {
    if (owner !== uids.real && owner !== uids.effective) {
      const runsAs = uids.real === uids.effective ? `uid ${uids.real}` : `uid ${uids.real} (effective ${uids.effective})`;
      return untrusted(`pid file ${path} is owned by uid ${owner}, but pid ${state.pid} runs as ${runsAs}: ${refusing} a process the file's owner does not run`);
    }
  } else {
    const caller = process.geteuid?.();
    if (caller !== undefined && owner !== caller) {
      return untrusted(`pid file ${path} is owned by uid ${owner}, not by the caller (uid ${caller}), and this OS does not tell which uid runs pid ${state.pid}`);
    }
  }
  return { verdict: 'trusted', state, owner };
}

function untrusted(message: string): PidFileLook {
  return { verdict: 'untrusted', error: new GraceError('ERR_GRACE_PID_FILE', message) };
}

/** The pid file's state and owner, or a GraceError (ERR_GRACE_PID_FILE) saying why it cannot be acted on. */
export function trustedPidFile(path: string, purpose: 'signal' | 'read' = 'signal'): { state: PidFileState; owner: number } {
  const look = lookAtPidFile(path, purpose);
  if (look.verdict !== 'trusted') throw look.error;
  return look;
}
