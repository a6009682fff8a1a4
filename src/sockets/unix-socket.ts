import { closeSync, constants, existsSync, lstatSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { connect, type ListenOptions, type Server } from 'node:net';
import { listen } from './server-listen.js';
import { dirname, join } from 'node:path';
import { addressInUse, type InUseContext } from './address-in-use.js';
import { GraceError } from '../platform/errors.js';
import { listenError } from './listen-error.js';
import { temporaryName } from './temporary-name.js';

/*
 * libuv unlinks a unix socket's path when the process that bound it closes the
 * server, even after it handed the socket to a successor that is serving on it.
 * So we bind under a temporary name and rename it onto the real path: the
 * unlink at close then hits the temporary name, which no longer exists.
 */

/** The longest socket path the kernel binds in full (sun_path, less its NUL). */
export const SUN_PATH_MAX = 107;

/** Identity of the socket file we put in place, to unlink only our own. */
export interface SocketFile {
  path: string;
  dev: number;
  ino: number;
}

function isAbstract(path: string): boolean {
  return path.startsWith('\0');
}

export async function bindUnixSocket(server: Server, path: string, options: ListenOptions, context: InUseContext = {}): Promise<SocketFile | undefined> {
  const { file } = await bindAtPath(
    path,
    (at) => listen(server, { ...options, path: at }),
    () => server.close(),
    context,
  );
  return file;
}

/**
 * Puts a unix socket at `path`: `bind` binds it at the name it is given (a
 * temporary one beside `path`, or `path` itself for an abstract socket), and
 * `unbind` undoes that if it cannot be moved into place. Errors name `path`,
 * never the temporary name: a path in use is ERR_GRACE_ADDRESS_IN_USE, as for
 * TCP; other errors keep the errno as `code`.
 */
export async function bindAtPath<T>(
  path: string,
  bind: (at: string) => T | Promise<T>,
  unbind: (bound: T) => void,
  context: InUseContext = {},
): Promise<{ bound: T; file: SocketFile | undefined }> {
  checkPathLength(path);
  if (isAbstract(path)) {
    try {
      return { bound: await bind(path), file: undefined };
    } catch (cause) {
      throw bindError(cause, path, context);
    }
  }
  await refuseIfInUse(path, context);
  const temp = temporaryNameFor(path);
  let bound: T;
  try {
    bound = await bind(temp);
  } catch (cause) {
    throw bindError(cause, path, context);
  }
  try {
    renameSync(temp, path);
  } catch (cause) {
    unbind(bound);
    throw bindError(cause, path, context);
  }
  return { bound, file: socketFileAt(path) };
}

// Longer paths are cut short by the kernel (or refused by libuv); since we
// bind a short temporary name and rename it, nothing else would notice.
function checkPathLength(path: string): void {
  const length = Buffer.byteLength(path);
  if (length > SUN_PATH_MAX) {
    throw new GraceError(
      'ERR_GRACE_LISTEN_SPEC',
      `unix socket path ${showPath(path)} is ${length} bytes long; a socket address holds at most ${SUN_PATH_MAX}`,
    );
  }
}

/**
 * A name under which a socket `name` in directory `dir` can be bound and
 * connected to, never cut short, however long `dir` is: `dir/name` when it
 * fits in sun_path; else, on Linux, the same file reached through an open
 * descriptor of `dir` (`/proc/self/fd/N/name`, which the kernel resolves
 * to `dir` itself, so the socket is still created inside it). `release()`
 * closes that descriptor. Throws ERR_GRACE_LISTEN_SPEC when neither fits.
 */
export function socketPathIn(dir: string, name: string): { path: string; release: () => void } {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= SUN_PATH_MAX) return { path: direct, release: () => {} };
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  const viaFd = `/proc/self/fd/${fd}`;
  if (!existsSync(viaFd)) {
    closeSync(fd);
    throw new GraceError(
      'ERR_GRACE_LISTEN_SPEC',
      `unix socket path ${direct} is ${Buffer.byteLength(direct)} bytes long; a socket address holds at most ${SUN_PATH_MAX}, and there is no /proc/self/fd here to reach ${dir} by a shorter name`,
    );
  }
  return { path: join(viaFd, name), release: () => closeSync(fd) };
}

/** Where to bind before renaming onto `path`: beside it, so the rename is atomic. */
function temporaryNameFor(path: string): string {
  const temp = temporaryName(path);
  if (Buffer.byteLength(temp) > SUN_PATH_MAX) {
    throw new GraceError('ERR_GRACE_LISTEN_SPEC', `unix socket path ${path} is too long: its directory leaves no room for grace's temporary name (${SUN_PATH_MAX} bytes at most)`);
  }
  return temp;
}

/** The socket file at `path` now, as adopted from a previous generation. */
export function socketFileAt(path: string): SocketFile | undefined {
  if (isAbstract(path)) return undefined;
  try {
    const stats = lstatSync(path);
    return stats.isSocket() ? { path, dev: stats.dev, ino: stats.ino } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the socket file on a final stop, unless someone else has replaced it. */
export function removeSocketFile(file: SocketFile): boolean {
  const now = socketFileAt(file.path);
  if (!now || now.dev !== file.dev || now.ino !== file.ino) return false;
  unlinkSync(file.path);
  return true;
}

// Node refuses to bind over an existing path; we rename over it, so check first.
// Only a refused connection means a file left over from a crash; any other
// failure (EACCES, a full backlog) may hide a live server.
async function refuseIfInUse(path: string, context: InUseContext = {}): Promise<void> {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) {
    throw addressInUse(path, undefined, { kind: 'unix', path }, context, 'exists and is not a socket');
  }
  const probe = await new Promise<NodeJS.ErrnoException | undefined>((resolveProbe) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe(undefined);
    });
    socket.once('error', resolveProbe);
  });
  if (probe?.code === 'ECONNREFUSED' || probe?.code === 'ENOENT') return;
  if (!probe || probe.code === 'EAGAIN') throw addressInUse(path, probe, { kind: 'unix', path }, context);
  throw Object.assign(
    new Error(`unix socket ${path} exists and grace cannot tell whether a server is using it (connect ${probe.code}); remove it if none is`, {
      cause: probe,
    }),
    { code: probe.code, syscall: 'connect', address: path },
  );
}

// Named with the configured path where node would name the temporary one.
function bindError(cause: unknown, path: string, context: InUseContext): Error {
  if (cause instanceof GraceError) return cause;
  const { code } = cause as NodeJS.ErrnoException;
  if (code === 'EADDRINUSE') return addressInUse(showPath(path), cause, { kind: 'unix', path }, context);
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? `: grace binds it under a temporary name in ${dirname(path)} and renames it into place, so that directory must be writable`
      : '';
  return listenError(cause as Error, path, why);
}

function showPath(path: string): string {
  return path.replace(/\0/g, '@');
}
