import { GraceError } from './errors.js';

/*
 * The fd protocol between generations, in environment variables, compatible
 * with systemd socket activation: `LISTEN_FDS=<n>` sockets start at fd 3,
 * `LISTEN_FDNAMES` names them (colon separated), `LISTEN_PID` (if set) must be
 * our pid. grace adds `GRACE_PARENT_PID` (the process to SIGTERM once ready),
 * `GRACE_GENERATION` (counts restarts), and under `grace run`
 * `GRACE_READY_FD` (a pipe to write "ready" to) and `GRACE_SUPERVISOR_PID`.
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

export interface ListenEnv {
  fds: InheritedFd[];
  /** The previous generation, which expects a SIGTERM once we are ready. */
  parentPid: number | undefined;
  /** 1 for a process started by hand, one more for each restart. */
  generation: number;
  /** Under a supervisor: the fd to write "ready" to, and the supervisor's pid. */
  readyFd: number | undefined;
  supervisorPid: number | undefined;
}

const DECIMAL = /^\d+$/;

/** Reads the protocol variables. Throws a GraceError naming any malformed value. */
export function readListenEnv(env: NodeJS.ProcessEnv, pid: number): ListenEnv {
  const grace = {
    parentPid: parsePid(env.GRACE_PARENT_PID, 'GRACE_PARENT_PID'),
    generation: parseCount(env.GRACE_GENERATION, 'GRACE_GENERATION') ?? 1,
    readyFd: parseFd(env.GRACE_READY_FD),
    supervisorPid: parsePid(env.GRACE_SUPERVISOR_PID, 'GRACE_SUPERVISOR_PID'),
  };
  const listenPid = parsePid(env.LISTEN_PID, 'LISTEN_PID');
  const rawCount = env.LISTEN_FDS;
  // Variables meant for another process (systemd sets LISTEN_PID) are not ours.
  if (rawCount === undefined || (listenPid !== undefined && listenPid !== pid)) {
    return { fds: [], ...grace };
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
  return { fds, ...grace };
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

/** Removes the protocol variables so the app's own subprocesses never see them. */
export function clearListenEnv(env: NodeJS.ProcessEnv): void {
  for (const key of LISTEN_ENV_KEYS) delete env[key];
}

/** The environment for the next generation, given the names of the fds 3.. it gets. */
export function childListenEnv(
  base: NodeJS.ProcessEnv,
  names: string[],
  grace: { parentPid?: number; generation: number; readyFd?: number; supervisorPid?: number },
): NodeJS.ProcessEnv {
  const env = { ...base };
  clearListenEnv(env);
  env.LISTEN_FDS = String(names.length);
  env.LISTEN_FDNAMES = names.map(encodeName).join(':');
  env.GRACE_GENERATION = String(grace.generation);
  if (grace.parentPid !== undefined) env.GRACE_PARENT_PID = String(grace.parentPid);
  if (grace.readyFd !== undefined) env.GRACE_READY_FD = String(grace.readyFd);
  if (grace.supervisorPid !== undefined) env.GRACE_SUPERVISOR_PID = String(grace.supervisorPid);
  return env;
}

// Names may contain ':' (IPv6 hosts, our own "tcp:" prefix), the separator.
function encodeName(name: string): string {
  return name.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

function decodeName(name: string): string {
  return name.replace(/%25|%3A/gi, (c) => (c === '%25' ? '%' : ':'));
}
