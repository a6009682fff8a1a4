import { closeSync, renameSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { GraceError } from './errors.js';
import { InheritedPool } from './inherited-fds.js';
import { clearListenEnv, readListenEnv } from './listen-env.js';
import { parseListenSpec, type ListenSpec } from './listen-spec.js';
import type { ProcessHost } from './process-host.js';
import { refuseIfInUse, removeSocketFile, socketFileAt, temporaryNameFor, type SocketFile } from './unix-socket.js';

/*
 * The supervisor's sockets. It must hold them without ever accepting on them:
 * it binds them but never calls listen(), the way node's cluster primary does
 * for its workers. The first app generation's listen() turns them listening;
 * from then on the kernel keeps queueing connections on them even while no
 * app process is running (a crashed app's replacement finds them waiting).
 */

interface BoundHandle {
  fd: number;
  close(): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number) => BoundHandle | number;

export interface HeldSockets {
  /** To pass as fds 3.., with their LISTEN_FDNAMES names. */
  fds: number[];
  names: string[];
  /** Closes them, and removes the unix socket files this supervisor created. */
  close(): void;
}

export async function holdSockets(specs: ListenSpec[], host: ProcessHost): Promise<HeldSockets> {
  const fds: number[] = [];
  const names: string[] = [];
  const handles: BoundHandle[] = [];
  const files: SocketFile[] = [];

  // From systemd socket activation: already listening; passed on as they are.
  const env = readListenEnv(host.protocolEnv, { pid: host.pid, ppid: undefined });
  clearListenEnv(host.protocolEnv);
  new InheritedPool(env.fds); // checks that each is a socket
  for (const { fd, name } of env.fds) {
    fds.push(fd);
    names.push(name ?? `systemd:${fd}`);
  }

  try {
    for (const spec of specs.map(parseListenSpec)) {
      if (spec.kind === 'unix') {
        await refuseIfInUse(spec.path);
        const temp = temporaryNameFor(spec.path);
        handles.push(bind(temp, -1, -1, spec.path));
        renameSync(temp, spec.path);
        const file = socketFileAt(spec.path);
        if (file) files.push(file);
      } else {
        const host = spec.bindHost;
        const family = host === undefined ? 4 : net.isIPv6(host) ? 6 : net.isIPv4(host) ? 4 : 0;
        if (family === 0) {
          throw new GraceError('ERR_GRACE_LISTEN_SPEC', `grace run --listen needs an IP address, not a host name: ${spec.host}`);
        }
        // No address: node tries :: (dual stack) and falls back to 0.0.0.0.
        handles.push(bind(host ?? null, spec.port, family, `${spec.host ?? ''}:${spec.port}`));
      }
      fds.push(handles.at(-1)!.fd);
      names.push(spec.name);
    }
  } catch (err) {
    for (const handle of handles) handle.close();
    throw err;
  }

  return {
    fds,
    names,
    close() {
      for (const handle of handles) handle.close();
      for (const { fd } of env.fds) closeQuietly(fd);
      for (const file of files) removeSocketFile(file);
    },
  };
}

function bind(address: string | null, port: number, addressType: number, label: string): BoundHandle {
  // node's cluster primary binds without listening through this same function.
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') {
    throw new GraceError('ERR_GRACE_UNSUPPORTED', `this node (${process.version}) cannot bind a socket without listening on it`);
  }
  const handle = create(address, port, addressType);
  if (typeof handle === 'number') {
    const err = new Error(`bind ${label}: ${errnoName(handle)}`) as NodeJS.ErrnoException;
    err.code = errnoName(handle);
    throw err;
  }
  return handle;
}

function errnoName(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `errno ${code}`;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
