import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crypto } from '../platform/builtin.js';
import { readStat } from '../platform/proc.js';
import { GraceError } from '../platform/errors.js';

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
  /** `starting`: under `grace run`, no worker serves yet (or none does now: a crash loop); a reload starts the code anew. */
  state: 'starting' | 'serving' | 'restarting' | 'failed';
  /** The signal that restarts it (`null`: restarts are off). */
  signal?: string | null;
  /** Why the last restart failed, and when (ms since epoch). */
  message?: string;
  at: number;
  /** Under `grace run`: each worker process (the ready one in each slot, those starting, those retiring). */
  workers?: WorkerStatus[];
  /** Under `grace run`: how many workers it keeps (`--workers`, changed by `grace scale`). */
  size?: number;
  /** Under `grace run`: the last worker that failed to start or crashed, with its own last words. */
  lastFailure?: WorkerFailure;
  /** What the process runs, for `grace status` (what `pm2 describe` shows): facts of its start, never an environment value. */
  about?: About;
}

/**
 * What a grace process runs: under `grace run`, the supervisor's start, the
 * settings in force and its reloads; in direct mode, the generation's own
 * start. Env files by path only: the pid file is readable by all.
 */
export interface About {
  /** Under `grace run` the app's command; in direct mode node, its flags, the script and its arguments. */
  command: string[];
  cwd: string;
  /** `grace run --env-file` (in direct mode, node's own `--env-file`), as given. */
  envFiles: string[];
  /** The node this process runs on (under `grace run`, the supervisor's). */
  node: { version: string; path: string };
  /** grace-restart's version, where it can tell (not in an app that bundled it). */
  grace?: string;
  /** When the process started, ms since epoch. */
  startedAt: number;
  /** Under `grace run`: `workers` (now, after any `grace scale`) and every setting the workers' table runs with, by name; unset ones left out. */
  options?: Record<string, unknown>;
  /** Under `grace run`: the reloads asked for since it started. */
  reloads?: Reloads;
}

/** Reloads asked for, by how they ended, and the last one that ended. */
export interface Reloads {
  done: number;
  failed: number;
  refused: number;
  last?: { result: 'done' | 'failed' | 'refused'; generation?: number; /** When it was asked for, ms since epoch. */ at: number; tookMs: number };
  /** The one in flight: when it was asked for. */
  since?: number;
}

/** A worker's failed start or crash: why (its exit), when, and its last lines of stderr (bounded). */
export interface WorkerFailure {
  worker: number;
  pid: number;
  message: string;
  /** ms since epoch. */
  at: number;
  stderr: string[];
}

/** One worker of `grace run`, as `grace status` shows it. */
export interface WorkerStatus {
  /** Its slot, 0…N-1 (`GRACE_WORKER`), stable across reloads; -1 for a spare (`--standby`), which has none yet. */
  index: number;
  /** 0 when the slot is down (waiting to restart). */
  pid: number;
  generation: number;
  /** `standby`: a parked spare (`grace run --standby`); `booting`: a spare not parked yet. */
  state: 'serving' | 'starting' | 'retiring' | 'down' | 'standby' | 'booting';
  /** ms since epoch. */
  startedAt: number;
  /** Starts in this slot after a crash, a failed start or the memory limit. */
  restarts: number;
}

const MARKER = 'grace ';

/**
 * Writes atomically: a temp file in the same directory, then rename. Where
 * that fails (a full disk, a directory we cannot create in), the temp file is
 * removed and the existing pid file, if ours, is rewritten in place: its
 * blocks are already allocated, so the state is still recorded on a full disk.
 * Throws the first error when both fail.
 */
export function writePidFile(path: string, state: PidFileState): void {
  const text = `${state.pid}\n${MARKER}${JSON.stringify(state)}\n`;
  const temp = join(dirname(path), `.${basename(path)}.${crypto().randomBytes(4).toString('hex')}`);
  let created = false;
  try {
    // 'wx': never follow or reuse something already at the temp name.
    const fd = openSync(temp, 'wx', MODE);
    created = true;
    try {
      fchmodSync(fd, MODE);
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    if (created) rmSync(temp, { force: true });
    try {
      rewriteInPlace(path, text);
    } catch {
      throw err;
    }
  }
}

// Readable by all (systemd, scripts), writable by the owner alone: reload
// refuses a pid file anyone else could have written.
const MODE = 0o644;

// Write before truncating, so a reader never sees an empty file: it sees the
// old or new text, or the new lines followed by a tail of the old, which
// readPidFile ignores (it reads the first two lines).
function rewriteInPlace(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | EXISTING_FILE);
  try {
    const stat = fstatSync(fd);
    const uid = process.geteuid?.();
    if (!stat.isFile() || (uid !== undefined && stat.uid !== uid)) {
      throw new Error(`${path} is not a regular file of uid ${uid}`);
    }
    fchmodSync(fd, MODE);
    writeFileSync(fd, text);
    ftruncateSync(fd, Buffer.byteLength(text));
  } finally {
    closeSync(fd);
  }
}

// No symlinks; and O_NONBLOCK, so that opening a fifo planted at the path cannot hang.
const EXISTING_FILE = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** Reads a pid file grace wrote. Throws a GraceError naming what is wrong with it. */
export function readPidFile(path: string): PidFileState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new GraceError('ERR_GRACE_PID_FILE', `cannot read pid file ${path}: ${(cause as Error).message}`, { cause });
  }
  return parse(path, text);
}

/** A pid file's state and the uid that owns the file: whoever could have written it. */
export interface OwnedPidFile {
  state: PidFileState;
  owner: number;
}

/**
 * Reads a pid file to act on: refuses a symlink, anything but a regular file,
 * and a file a group or other users can write, so the content is the owner's
 * alone. Owner and content come from one open descriptor: replacing the file
 * in between cannot pair one file's owner with another's content.
 */
export function readOwnedPidFile(path: string): OwnedPidFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | EXISTING_FILE);
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code === 'ELOOP' ? 'is a symlink (grace writes a regular file)' : `cannot be read: ${(cause as Error).message}`;
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} ${why}`, { cause });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} is not a regular file`);
    if (stat.mode & 0o022) {
      const mode = (stat.mode & 0o777).toString(8);
      throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} is writable by other users (mode ${mode}; grace writes ${MODE.toString(8)}), so anyone may have put the pid in it`);
    }
    return { state: parse(path, readFileSync(fd, 'utf8')), owner: stat.uid };
  } finally {
    closeSync(fd);
  }
}

function parse(path: string, text: string): PidFileState {
  const [first = '', second = ''] = text.split('\n');
  if (!/^\d+$/.test(first.trim())) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} does not start with a pid: ${JSON.stringify(first.slice(0, 40))}`);
  }
  if (!second.startsWith(MARKER)) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} names pid ${first.trim()} but was not written by grace (no "grace" line)`);
  }
  let state: PidFileState;
  try {
    state = JSON.parse(second.slice(MARKER.length)) as PidFileState;
    if (state?.pid !== Number(first.trim())) throw new Error('pid lines disagree');
  } catch (cause) {
    throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} has a damaged grace line: ${(cause as Error).message}`, { cause });
  }
  const problem = shapeProblem(state);
  if (problem) throw new GraceError('ERR_GRACE_PID_FILE', `pid file ${path} is malformed: ${problem}`);
  return state;
}

// Valid JSON is not yet a pid file: every reader (reload, status) relies on
// these fields' types, so a file with the wrong ones is refused here, named.
// States are checked as strings only: a newer grace may write one more.
function shapeProblem(state: PidFileState): string | undefined {
  const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const wrong = (field: string, what: string, value: unknown) => `${field} is not ${what} (got ${clip(value)})`;
  if (!whole(state.generation)) return wrong('generation', 'a whole number', state.generation);
  if (!whole(state.serving)) return wrong('serving', 'a pid', state.serving);
  if (typeof state.state !== 'string') return wrong('state', 'a string', state.state);
  if (state.start !== undefined && !whole(state.start)) return wrong('start', 'a whole number', state.start);
  if (state.signal !== undefined && state.signal !== null && typeof state.signal !== 'string') return wrong('signal', 'a signal name or null', state.signal);
  if (state.message !== undefined && typeof state.message !== 'string') return wrong('message', 'a string', state.message);
  if (typeof state.at !== 'number' || !Number.isFinite(state.at)) return wrong('at', 'a time', state.at);
  if (state.size !== undefined && !whole(state.size)) return wrong('size', 'a whole number', state.size);
  const failure = state.lastFailure;
  if (failure !== undefined) {
    if (typeof failure !== 'object' || failure === null) return wrong('lastFailure', 'an object', failure);
    if (typeof failure.message !== 'string') return wrong('lastFailure.message', 'a string', failure.message);
    if (!Array.isArray(failure.stderr) || !failure.stderr.every((l) => typeof l === 'string')) return wrong('lastFailure.stderr', 'a list of lines', failure.stderr);
    if (!whole(failure.pid) || typeof failure.at !== 'number') return wrong('lastFailure', 'a pid and a time', failure);
  }
  const about = state.about === undefined ? undefined : aboutProblem(state.about);
  if (about) return about;
  if (state.workers === undefined) return undefined;
  if (!Array.isArray(state.workers)) return wrong('workers', 'a list', state.workers);
  for (const [i, w] of state.workers.entries()) {
    if (typeof w !== 'object' || w === null) return wrong(`workers[${i}]`, 'an object', w);
    for (const key of ['pid', 'generation', 'restarts'] as const) if (!whole(w[key])) return wrong(`workers[${i}].${key}`, 'a whole number', w[key]);
    // A parked spare (grace run --standby) has no slot: index -1.
    if (!whole(w.index) && w.index !== -1) return wrong(`workers[${i}].index`, 'a slot number or -1', w.index);
    if (typeof w.startedAt !== 'number' || !Number.isFinite(w.startedAt)) return wrong(`workers[${i}].startedAt`, 'a time', w.startedAt);
    if (typeof w.state !== 'string') return wrong(`workers[${i}].state`, 'a string', w.state);
  }
  return undefined;
}

// What `grace status` formats is checked; an option's value may be anything a newer grace writes (it is shown as JSON).
function aboutProblem(about: About): string | undefined {
  const wrong = (field: string, what: string, value: unknown) => `about.${field} is not ${what} (got ${clip(value)})`;
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const time = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (typeof about !== 'object' || about === null) return `about is not an object (got ${clip(about)})`;
  if (!strings(about.command)) return wrong('command', 'a list of strings', about.command);
  if (typeof about.cwd !== 'string') return wrong('cwd', 'a string', about.cwd);
  if (!strings(about.envFiles)) return wrong('envFiles', 'a list of strings', about.envFiles);
  if (typeof about.node?.version !== 'string' || typeof about.node.path !== 'string') return wrong('node', 'a version and a path', about.node);
  if (about.grace !== undefined && typeof about.grace !== 'string') return wrong('grace', 'a version', about.grace);
  if (!time(about.startedAt)) return wrong('startedAt', 'a time', about.startedAt);
  if (about.options !== undefined && (typeof about.options !== 'object' || about.options === null || Array.isArray(about.options))) return wrong('options', 'an object', about.options);
  const r = about.reloads;
  if (r === undefined) return undefined;
  if (typeof r !== 'object' || r === null || !count(r.done) || !count(r.failed) || !count(r.refused)) return wrong('reloads', 'counts of done, failed and refused', r);
  if (r.last !== undefined && (typeof r.last?.result !== 'string' || !time(r.last.at) || !time(r.last.tookMs))) return wrong('reloads.last', 'a result, a time and a duration', r.last);
  if (r.last?.generation !== undefined && !count(r.last.generation)) return wrong('reloads.last.generation', 'a whole number', r.last.generation);
  return undefined;
}

function clip(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
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

/** Alive, not a zombie, and (where the OS tells) the same process that was recorded. */
export function isSameLiveProcess(pid: number, start: number | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readStat(pid);
  if (!stat) return true; // no /proc: trust kill(0)
  if (stat.state === 'Z') return false;
  return start === undefined || stat.startTime === start;
}
