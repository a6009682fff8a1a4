import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GraceError } from './errors.js';

/*
 * The pid file: the pid on the first line (what systemd's PIDFile= and shell
 * scripts read), then one `grace {json}` line with what `grace reload` needs
 * to tell a live grace process from a recycled pid, and to follow a restart.
 */

export interface PidFileState {
  /** The process to signal (a generation in direct mode, the supervisor in supervisor mode). */
  pid: number;
  /** That process's start time (clock ticks since boot, Linux), to detect a recycled pid. */
  start: number | undefined;
  /** Counts generations: grows by one with every successful restart. */
  generation: number;
  /** The pid of the app process serving now. */
  serving: number;
  state: 'serving' | 'restarting' | 'failed';
  /** The signal that restarts it (`null`: restarts are off). */
  signal?: string | null;
  /** Why the last restart failed, and when (ms since epoch). */
  message?: string;
  at: number;
}

const MARKER = 'grace ';

/** Writes atomically: a temp file in the same directory, then rename. */
export function writePidFile(path: string, state: PidFileState): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}`);
  writeFileSync(temp, `${state.pid}\n${MARKER}${JSON.stringify(state)}\n`, { mode: 0o644 });
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
}

/** Reads a pid file grace wrote. Throws a GraceError naming what is wrong with it. */
export function readPidFile(path: string): PidFileState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new GraceError('ERR_GRACE_PID_FILE', `cannot read pid file ${path}: ${(cause as Error).message}`, { cause });
  }
  const [first = '', second = ''] = text.split('\n');
  if (!/^\d+$/.test(first.trim())) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} does not start with a pid: ${JSON.stringify(first.slice(0, 40))}`);
  }
  if (!second.startsWith(MARKER)) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} names pid ${first.trim()} but was not written by grace (no "grace" line)`);
  }
  try {
    const state = JSON.parse(second.slice(MARKER.length)) as PidFileState;
    if (state.pid !== Number(first.trim())) throw new Error('pid lines disagree');
    return state;
  } catch (cause) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} has a damaged grace line: ${(cause as Error).message}`, { cause });
  }
}

/** Removes the pid file if it still names `pid` (a successor may have written its own). */
export function removePidFile(path: string, pid: number): boolean {
  try {
    if (readPidFile(path).pid !== pid) return false;
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A process's start time in clock ticks since boot (Linux /proc), or undefined elsewhere. */
export function processStartTime(pid: number): number | undefined {
  const fields = procStat(pid);
  return fields && Number(fields[STARTTIME]);
}

/** Alive, not a zombie, and (where the OS tells) the same process that was recorded. */
export function isSameLiveProcess(pid: number, start: number | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = procStat(pid);
  if (!fields) return true; // no /proc: trust kill(0)
  if (fields[STATE] === 'Z') return false;
  return start === undefined || Number(fields[STARTTIME]) === start;
}

// /proc/<pid>/stat fields after the command name (which may hold spaces):
// index 0 is field 3 (state), index 19 is field 22 (starttime).
const STATE = 0;
const STARTTIME = 19;

function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
