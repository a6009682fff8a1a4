import { fstatSync } from 'node:fs';
import { GraceError } from './errors.js';
import { pidExists } from './proc.js';
import type { ProcessHost } from './process-host.js';

/*
 * The fd protocol between generations, in environment variables, compatible
 * with systemd socket activation: `LISTEN_FDS=<n>` sockets start at fd 3,
 * `LISTEN_FDNAMES` names them (colon separated), `LISTEN_PID` (if set) must be
 * our pid. grace adds who started us and waits for our "ready":
 * `GRACE_PARENT_PID` (the previous generation, SIGTERMed once ready) or
 * `GRACE_SUPERVISOR_PID` (`grace run`), `GRACE_READY_FD` (a pipe right after
 * the sockets, to write "ready" to) and `GRACE_GENERATION` (counts restarts).
 *
 * In platform/, below everything that uses it: the process host takes these
 * variables out of process.env as the package loads, `readInherited` is how
 * every part reads them (net.ts, held-sockets.ts, handle-signals.ts), and
 * the protocol layer starts children with them (launcher.ts).
 */

/** The first inherited fd, after stdin, stdout and stderr. */
export const LISTEN_FDS_START = 3;

/** More inherited sockets than this is a corrupt variable, not a real setup. */
export const MAX_LISTEN_FDS = 4096;

export const LISTEN_ENV_KEYS = [
  'LISTEN_FDS',
  'LISTEN_PID',
  'LISTEN_FDNAMES',
  'GRACE_PARENT_PID',
  'GRACE_GENERATION',
  'GRACE_READY_FD',
  'GRACE_SUPERVISOR_PID',
] as const;

export interface InheritedFd {
  fd: number;
  /** Name from `LISTEN_FDNAMES`, decoded; undefined when none was given. */
  name: string | undefined;
}

/** Who started this process and waits for its "ready": the previous generation, or `grace run`. */
export interface Starter {
  kind: 'parent' | 'supervisor';
  pid: number;
  /** The pipe to write "ready" to (`GRACE_READY_FD`). */
  readyFd: number;
}

export interface ListenEnv {
  fds: InheritedFd[];
  /** 1 for a process started by hand (or by systemd), one more for each restart. */
  generation: number;
  /** Set only when the grace variables hold together and name our real parent. */
  starter: Starter | undefined;
  /** Why grace variables that were present are not honoured, to log once. */
  ignored: string | undefined;
}

/** What the variables are checked against: our pid and our parent's. */
export interface Self {
  pid: number;
  /** Undefined: never honour the grace variables (a supervisor reading systemd's). */
  ppid: number | undefined;
  /** Whether an fd is a pipe (a FIFO or a socketpair end), for `GRACE_READY_FD`. */
  isPipe?: (fd: number) => boolean;
  /**
   * Whether a pid exists. Given, a starter named in the variables that is not
   * our parent and no longer exists died before we were ready: refused
   * (ERR_GRACE_STARTER_GONE), not ignored. Ignoring it would have us serve
   * its sockets as an orphan that nothing names and no supervisor reloads.
   */
  isAlive?: (pid: number) => boolean;
}

const DECIMAL = /^\d+$/;

/** Reads the protocol variables. Throws a GraceError naming any malformed value. */
export function readListenEnv(env: NodeJS.ProcessEnv, self: Self): ListenEnv {
  const parentPid = parsePid(env.GRACE_PARENT_PID, 'GRACE_PARENT_PID');
  const supervisorPid = parsePid(env.GRACE_SUPERVISOR_PID, 'GRACE_SUPERVISOR_PID');
  const readyFd = parseFd(env.GRACE_READY_FD);
  const generation = parseCount(env.GRACE_GENERATION, 'GRACE_GENERATION');
  const listenPid = parsePid(env.LISTEN_PID, 'LISTEN_PID');
  const rawCount = env.LISTEN_FDS;
  const graceKeys = GRACE_KEYS.filter((key) => env[key] !== undefined && env[key] !== '');
  // Variables meant for another process (systemd sets LISTEN_PID) are not ours.
  if (rawCount === undefined || (listenPid !== undefined && listenPid !== self.pid)) {
    const ignored = graceKeys.length && self.ppid !== undefined ? `${graceKeys.join(', ')} set without LISTEN_FDS for this process` : undefined;
    return { fds: [], generation: 1, starter: undefined, ignored };
  }
  if (!DECIMAL.test(rawCount)) {
    throw new GraceError(
      'ERR_GRACE_LISTEN_FDS',
      `LISTEN_FDS=${JSON.stringify(rawCount)} is not a number of inherited sockets: expected a decimal integer from 0 to ${MAX_LISTEN_FDS}`,
    );
  }
  const count = Number(rawCount);
  if (count > MAX_LISTEN_FDS) {
    throw new GraceError(
      'ERR_GRACE_LISTEN_FDS',
      `LISTEN_FDS=${rawCount} is too large: expected at most ${MAX_LISTEN_FDS} inherited sockets`,
    );
  }
  const names = parseNames(env.LISTEN_FDNAMES, count);
  const fds = Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names?.[i] }));
  if (graceKeys.length === 0 || self.ppid === undefined) return { fds, generation: 1, starter: undefined, ignored: undefined };
  const named = parentPid ?? supervisorPid;
  if (named !== undefined && named !== self.ppid && self.isAlive && !self.isAlive(named)) {
    const who = parentPid !== undefined ? 'the parent (GRACE_PARENT_PID' : 'the supervisor (GRACE_SUPERVISOR_PID';
    throw new GraceError('ERR_GRACE_STARTER_GONE', `${who}=${named}) that started this process is gone: it died before this one was ready, so its sockets are not served here`);
  }
  const problem = starterProblem({ parentPid, supervisorPid, readyFd, expectedFd: LISTEN_FDS_START + count }, self);
  if (problem) return { fds, generation: 1, starter: undefined, ignored: `${graceKeys.join(', ')}: ${problem}` };
  const starter: Starter = { kind: parentPid !== undefined ? 'parent' : 'supervisor', pid: (parentPid ?? supervisorPid)!, readyFd: readyFd! };
  return { fds, generation: generation ?? 1, starter, ignored: undefined };
}

const GRACE_KEYS = ['GRACE_PARENT_PID', 'GRACE_SUPERVISOR_PID', 'GRACE_READY_FD', 'GRACE_GENERATION'] as const;

// The grace variables are honoured only as a whole and toward our real parent:
// alone, they would make grace write to one of node's own fds or signal a
// process that never started us.
function starterProblem(
  vars: { parentPid: number | undefined; supervisorPid: number | undefined; readyFd: number | undefined; expectedFd: number },
  self: Self,
): string | undefined {
  const { parentPid, supervisorPid, readyFd, expectedFd } = vars;
  if (parentPid !== undefined && supervisorPid !== undefined) return 'both GRACE_PARENT_PID and GRACE_SUPERVISOR_PID are set';
  const pid = parentPid ?? supervisorPid;
  const key = parentPid !== undefined ? 'GRACE_PARENT_PID' : 'GRACE_SUPERVISOR_PID';
  if (pid === undefined) return 'neither GRACE_PARENT_PID nor GRACE_SUPERVISOR_PID is set';
  if (readyFd === undefined) return 'GRACE_READY_FD is not set';
  if (pid !== self.ppid) return `${key}=${pid} is not our parent (our parent is pid ${self.ppid})`;
  if (readyFd !== expectedFd) return `GRACE_READY_FD=${readyFd} does not follow the inherited sockets (expected ${expectedFd})`;
  if (!(self.isPipe ?? isPipe)(readyFd)) return `GRACE_READY_FD=${readyFd} is not a pipe`;
  return undefined;
}

// libuv makes a child's stdio pipes with socketpair(): a socket, or a FIFO elsewhere.
function isPipe(fd: number): boolean {
  try {
    const stats = fstatSync(fd);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false;
  }
}

function parseCount(raw: string | undefined, key: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!DECIMAL.test(raw) || Number(raw) < 1) {
    throw new GraceError('ERR_GRACE_LISTEN_FDS', `${key}=${JSON.stringify(raw)} is not a generation number (1, 2, …)`);
  }
  return Number(raw);
}

function parseFd(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!DECIMAL.test(raw) || Number(raw) < 3) {
    throw new GraceError('ERR_GRACE_LISTEN_FDS', `GRACE_READY_FD=${JSON.stringify(raw)} is not a file descriptor above stdio`);
  }
  return Number(raw);
}

function parseNames(raw: string | undefined, count: number): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = count === 0 && raw === '' ? [] : raw.split(':');
  if (names.length !== count) {
    throw new GraceError(
      'ERR_GRACE_LISTEN_FDNAMES',
      `LISTEN_FDNAMES=${JSON.stringify(raw)} names ${names.length} sockets but LISTEN_FDS=${count}`,
    );
  }
  return names.map(decodeName);
}

function parsePid(raw: string | undefined, key: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!DECIMAL.test(raw) || Number(raw) < 1) {
    throw new GraceError('ERR_GRACE_LISTEN_FDS', `${key}=${JSON.stringify(raw)} is not a process id`);
  }
  return Number(raw);
}

/**
 * The protocol variables `host` was started with (`host.protocolEnv`), read
 * the one way, as `reader` must:
 * - `'started'`, a process grace started (a generation, a worker; or one
 *   systemd started): grace's variables are honoured only toward our real
 *   parent, and a starter that died before we were ready is refused
 *   (ERR_GRACE_STARTER_GONE) rather than ignored;
 * - `'supervisor'`, `grace run` itself: only systemd's sockets; grace's
 *   variables are never meant for it.
 * With `take`, they are removed too (whoever adopts the sockets takes them:
 * the app's own subprocesses never see them), even when they are malformed.
 * Throws a GraceError naming any malformed value.
 */
export function readInherited(
  host: Pick<ProcessHost, 'pid' | 'ppid' | 'protocolEnv' | 'env'>,
  reader: 'started' | 'supervisor',
  { take = false } = {},
): ListenEnv {
  try {
    const self: Self = reader === 'started' ? { pid: host.pid, ppid: host.ppid(), isAlive: pidExists } : { pid: host.pid, ppid: undefined };
    return readListenEnv(host.protocolEnv, self);
  } finally {
    if (take) {
      clearListenEnv(host.protocolEnv);
      clearListenEnv(host.env);
    }
  }
}

/** Removes the protocol variables so the app's own subprocesses never see them. */
export function clearListenEnv(env: NodeJS.ProcessEnv): void {
  for (const key of LISTEN_ENV_KEYS) delete env[key];
}

/**
 * The environment for a process that gets `names.length` sockets as fds 3..,
 * then the ready pipe, from `starter` (us: a generation or the supervisor).
 */
export function childListenEnv(
  base: NodeJS.ProcessEnv,
  names: string[],
  generation: number,
  starter: Omit<Starter, 'readyFd'>,
): NodeJS.ProcessEnv {
  const env = { ...base };
  clearListenEnv(env);
  env.LISTEN_FDS = String(names.length);
  env.LISTEN_FDNAMES = names.map(encodeName).join(':');
  env.GRACE_GENERATION = String(generation);
  env[starter.kind === 'parent' ? 'GRACE_PARENT_PID' : 'GRACE_SUPERVISOR_PID'] = String(starter.pid);
  env.GRACE_READY_FD = String(readyFdAfter(names.length));
  return env;
}

/** The ready pipe comes right after the inherited sockets. */
export function readyFdAfter(socketCount: number): number {
  return LISTEN_FDS_START + socketCount;
}

// Names may contain ':' (IPv6 hosts, our own "tcp:" prefix), the separator.
function encodeName(name: string): string {
  return name.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

function decodeName(name: string): string {
  return name.replace(/%25|%3A/gi, (c) => (c === '%25' ? '%' : ':'));
}
