import { lookup } from 'node:dns/promises';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import { addressInUse, type InUseContext } from './address-in-use.js';
import { GraceError } from '../platform/errors.js';
import { addressSatisfies } from './inherited-address.js';
import { checkInheritedSockets } from './inherited-fds.js';
import { listenError } from './listen-error.js';
import { readInherited } from '../platform/listen-env.js';
import { describeSpec, parseListenSpec, type ListenSpec, type ParsedListenSpec } from './listen-spec.js';
import type { ProcessHost } from '../platform/process-host.js';
import { bindAtPath, removeSocketFile, type SocketFile } from './unix-socket.js';

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
  getsockname?(out: { address?: string; port?: number }): number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number) => BoundHandle | number;

export interface HeldSockets {
  /** To pass as fds 3.., with their LISTEN_FDNAMES names. */
  fds: number[];
  names: string[];
  /** Closes them, and removes the unix socket files this supervisor created. */
  close(): void;
}

/** Binds `specs`; an address in use is ERR_GRACE_ADDRESS_IN_USE naming its holder where known (and whether `pidFile` names it). */
export async function holdSockets(specs: ListenSpec[], host: ProcessHost, options: { pidFile?: string } = {}): Promise<HeldSockets> {
  const context: InUseContext = { pidFile: options.pidFile, self: host.pid };
  const fds: number[] = [];
  const names: string[] = [];
  const handles: BoundHandle[] = [];
  const files: SocketFile[] = [];

  // From systemd socket activation: already listening; passed on as they are.
  const env = readInherited(host, 'supervisor', { take: true });
  checkInheritedSockets(env.fds);
  for (const { fd, name } of env.fds) {
    fds.push(fd);
    names.push(name ?? `systemd:${fd}`);
  }

  const parsed = parseListenSpecs(specs);
  try {
    for (const spec of parsed) {
      if (spec.kind === 'unix') {
        const { bound, file } = await bindAtPath(spec.path, (at) => bind(at, -1, -1, at), (handle) => handle.close(), context);
        handles.push(bound);
        if (file) files.push(file);
      } else {
        // No address: node tries :: (dual stack) and falls back to 0.0.0.0.
        const { address, family } = spec.bindHost === undefined ? { address: null, family: 4 } : await resolveHost(spec);
        handles.push(bindTcp(address, family, spec, context));
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

/**
 * `--listen`'s specs, each checked before anything is bound (the command
 * line checks them too, for a usage error). One socket per name: the app
 * could adopt only one of two (port 0 asks for a new port each time).
 */
export function parseListenSpecs(specs: ListenSpec[]): ParsedListenSpec[] {
  const parsed = specs.map(parseListenSpec);
  const seen = new Map<string, ListenSpec>();
  parsed.forEach((spec, i) => {
    if (spec.kind === 'tcp' && spec.port === 0) return;
    const earlier = seen.get(spec.name);
    if (earlier !== undefined) {
      const same = JSON.stringify(earlier) === JSON.stringify(specs[i]) ? 'twice' : `twice (${JSON.stringify(earlier)} and ${JSON.stringify(specs[i])})`;
      throw new GraceError('ERR_GRACE_LISTEN_SPEC', `--listen ${describeSpec(spec)} is given ${same}: give each socket once`);
    }
    seen.set(spec.name, specs[i]!);
  });
  return parsed;
}

// Binding without listen() needs an IP address: resolve a host name to the
// address node's server.listen() would use (the first dns.lookup result).
async function resolveHost(spec: ParsedListenSpec & { kind: 'tcp' }): Promise<{ address: string; family: number }> {
  const host = spec.bindHost!;
  if (net.isIPv4(host)) return { address: host, family: 4 };
  if (net.isIPv6(host)) return { address: host, family: 6 };
  try {
    return await lookup(host);
  } catch (cause) {
    throw new GraceError('ERR_GRACE_LISTEN_SPEC', `cannot resolve the host of --listen ${describeSpec(spec)}: ${(cause as Error).message}`, { cause });
  }
}

function bind(address: string | null, port: number, addressType: number, label: string): BoundHandle {
  // node's cluster primary binds without listening through this same function.
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') {
    throw new GraceError('ERR_GRACE_UNSUPPORTED', `this node (${process.version}) cannot bind a socket without listening on it`);
  }
  const handle = create(address, port, addressType);
  if (typeof handle === 'number') throw listenError(handle, label);
  return handle;
}

// libuv's errno for it (negative, like the ones _createServerHandle returns).
const EADDRINUSE = -constants.errno.EADDRINUSE;

// libuv defers a TCP bind's EADDRINUSE to listen(), which the supervisor never
// calls: the app's listen() would then bind a random port instead. The error
// shows in getsockname, which is read here to fail at once.
function bindTcp(address: string | null, family: number, spec: ParsedListenSpec & { kind: 'tcp' }, context: InUseContext): BoundHandle {
  const label = describeSpec(spec);
  const inUse = (cause: NodeJS.ErrnoException) => addressInUse(label, cause, { kind: 'tcp', host: address ?? undefined, port: spec.port }, context);
  let handle: BoundHandle;
  try {
    handle = bind(address, spec.port, family, label);
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? inUse(err as NodeJS.ErrnoException) : err;
  }
  const out: { address?: string; port?: number } = {};
  const err = handle.getsockname?.(out) ?? 0;
  const real = { kind: 'tcp' as const, address: out.address ?? '', port: out.port ?? 0 };
  if (err === 0 && real.port !== 0 && addressSatisfies(spec, real)) return handle;
  handle.close();
  const cause = listenError(err === 0 ? EADDRINUSE : err, label);
  throw cause.code === 'EADDRINUSE' ? inUse(cause) : cause;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
