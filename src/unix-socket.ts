import { randomBytes } from 'node:crypto';
import { lstatSync, renameSync, unlinkSync } from 'node:fs';
import { connect, type ListenOptions, type Server } from 'node:net';
import { listen } from './server-listen.js';
import { dirname, join } from 'node:path';
import { GraceError } from './errors.js';

/*
 * libuv unlinks a unix socket's path when the process that bound it closes the
 * server, even after it handed the socket to a successor that is serving on it.
 * So we bind under a temporary name and rename it onto the real path: the
 * unlink at close then hits the temporary name, which no longer exists.
 */

const SUN_PATH_MAX = 107;

/** Identity of the socket file we put in place, to unlink only our own. */
export interface SocketFile {
  path: string;
  dev: number;
  ino: number;
}

export function isAbstract(path: string): boolean {
  return path.startsWith('\0');
}

export async function bindUnixSocket(server: Server, path: string, options: ListenOptions): Promise<SocketFile | undefined> {
  if (isAbstract(path)) {
    await listen(server, { ...options, path });
    return undefined;
  }
  await refuseIfInUse(path);
  const temp = temporaryNameFor(path);
  await listen(server, { ...options, path: temp });
  try {
    renameSync(temp, path);
  } catch (err) {
    server.close();
    throw err;
  }
  return socketFileAt(path);
}

/** Where to bind before renaming onto `path`: beside it, so the rename is atomic. */
export function temporaryNameFor(path: string): string {
  const temp = join(dirname(path), `.grace-${randomBytes(6).toString('hex')}`);
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
// A socket file nobody answers on is left over from a crash and may be replaced.
export async function refuseIfInUse(path: string): Promise<void> {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) {
    throw inUse(path, `${path} exists and is not a socket`);
  }
  const answered = await new Promise<boolean>((resolveProbe) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolveProbe(true);
    });
    probe.once('error', () => resolveProbe(false));
  });
  if (answered) throw inUse(path, `listen EADDRINUSE: address already in use ${path}`);
}

function inUse(path: string, message: string): Error {
  return Object.assign(new Error(message), { code: 'EADDRINUSE', address: path, syscall: 'listen' });
}
