import type { Server } from 'node:net';
import { addressInUse, type InUseContext } from './address-in-use.js';
import { GraceError } from '../platform/errors.js';
import { checkInheritedAddress, readRealAddress, type RealAddress } from './inherited-address.js';
import { InheritedPool } from './inherited-fds.js';
import { readInherited, type InheritedFd, type ListenEnv } from '../platform/listen-env.js';
import { describeSpec, parseListenSpec, specFromName, type ListenSpec, type ParsedListenSpec } from './listen-spec.js';
import { realProcess, type ProcessHost } from '../platform/process-host.js';
import { listen } from './server-listen.js';
import { bindUnixSocket, socketFileAt, type SocketFile } from './unix-socket.js';

/** A server listening through grace, on an inherited or a freshly bound socket. */
export interface Listener {
  readonly server: Server;
  readonly spec: ParsedListenSpec;
  /** True when the socket came from the previous generation (or systemd). */
  readonly inherited: boolean;
  /** The unix socket file this generation line owns, removed on a final stop. */
  readonly socketFile: SocketFile | undefined;
}

/** The listening sockets to pass on, as fds 3.. in this order, and their names. */
export interface Handoff {
  fds: number[];
  names: string[];
}

export interface NetOptions {
  /** The process to read the inherited sockets from (default: this one). */
  host?: ProcessHost;
}

/**
 * Inherited-or-fresh listening, the counterpart of Go's gracenet.Net. The
 * inherited sockets are read from the environment once, on first use, and the
 * variables are removed so the app's own subprocesses never see them.
 */
export class Net {
  private readonly host: ProcessHost;
  private inheritance: { env: ListenEnv; pool: InheritedPool } | undefined;
  private readonly listeners: Listener[] = [];
  private inheritError: unknown;

  constructor(options: NetOptions = {}) {
    this.host = options.host ?? realProcess;
  }

  /** Reads and checks the inherited sockets. Throws a GraceError on a malformed protocol. */
  inherit(): ListenEnv {
    // A bad protocol is reported every time, not just the first: the
    // variables are gone after the first read.
    if (this.inheritError) throw this.inheritError;
    if (!this.inheritance) {
      try {
        const env = readInherited(this.host, 'started', { take: true });
        this.inheritance = { env, pool: new InheritedPool(env.fds) };
      } catch (err) {
        this.inheritError = err;
        throw err;
      }
    }
    return this.inheritance.env;
  }

  /**
   * Makes `server` listen on `spec`, adopting a matching inherited socket when
   * there is one. A fresh address already in use is ERR_GRACE_ADDRESS_IN_USE,
   * naming who holds it when this system tells (and whether `pidFile` names it).
   */
  async listen(server: Server, spec: ListenSpec, options: { pidFile?: string } = {}): Promise<Listener> {
    const parsed = parseListenSpec(spec);
    this.inherit();
    const inherited = this.inheritance!.pool.claim(parsed.name);
    const context = { pidFile: options.pidFile, self: this.host.pid };
    const listener = inherited ? await adopt(server, parsed, inherited) : await bindFresh(server, parsed, context);
    this.listeners.push(listener);
    return listener;
  }

  /**
   * Makes `server` adopt the one inherited socket, whatever its address (for
   * serve() with no listen spec). A socket grace named is still checked
   * against its name; one from systemd is taken as it is.
   */
  async listenOnlyInherited(server: Server): Promise<Listener> {
    const { fds } = this.inherit();
    if (fds.length !== 1) {
      throw new GraceError('ERR_GRACE_INHERITED_FD', `expected exactly one inherited socket, found ${fds.length}`);
    }
    const named = specFromName(fds[0]!.name);
    const inherited = this.inheritance!.pool.claim(named?.name ?? fds[0]!.name ?? '');
    if (!inherited) throw new GraceError('ERR_GRACE_INHERITED_FD', `inherited fd ${fds[0]!.fd} is already adopted`);
    const listener = named ? await adopt(server, named, inherited) : await adoptAsItIs(server, inherited);
    this.listeners.push(listener);
    return listener;
  }

  /** Servers still listening, in the order they started. */
  active(): Listener[] {
    return this.listeners.filter((l) => l.server.listening);
  }

  /** What the next generation inherits. */
  handoff(): Handoff {
    const fds: number[] = [];
    const names: string[] = [];
    for (const listener of this.active()) {
      const fd = listeningFd(listener.server);
      if (fd === undefined) continue;
      fds.push(fd);
      names.push(listener.spec.name);
    }
    return { fds, names };
  }

  /** Closes inherited sockets nobody asked for; returns them for logging. */
  closeUnclaimed(): InheritedFd[] {
    return this.inheritance?.pool.closeUnclaimed() ?? [];
  }
}

function adopt(server: Server, spec: ParsedListenSpec, inherited: InheritedFd): Promise<Listener> {
  // Only a path grace bound is ours to remove; systemd's socket files are systemd's.
  const ours = spec.kind === 'unix' && inherited.name === spec.name;
  return new Promise((resolve, reject) => {
    let checked = false;
    const check = (): boolean => {
      checked = true;
      try {
        checkInheritedAddress(server, spec, inherited);
        return true;
      } catch (err) {
        server.removeListener('error', onError);
        server.removeListener('listening', onListening);
        server.close();
        reject(err);
        return false;
      }
    };
    const onError = (cause: Error) => {
      server.removeListener('listening', onListening);
      const name = inherited.name === undefined ? '' : ` (${inherited.name})`;
      reject(
        new GraceError(
          'ERR_GRACE_INHERITED_FD',
          `inherited fd ${inherited.fd}${name} could not be adopted as a listening socket: ${cause.message}`,
          { cause },
        ),
      );
    };
    const onListening = () => {
      server.removeListener('error', onError);
      if (checked || check()) resolve({ server, spec, inherited: true, socketFile: ours ? socketFileAt(spec.path) : undefined });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ fd: inherited.fd });
    // Checked before the event loop turns, so nothing is accepted on a socket
    // that is not what was asked for. ('listening' comes on the next tick.)
    if (server.listening) check();
  });
}

// Named by its real address, which is what it travels under to the next generation.
async function adoptAsItIs(server: Server, inherited: InheritedFd): Promise<Listener> {
  try {
    await listen(server, { fd: inherited.fd });
  } catch (cause) {
    const name = inherited.name === undefined ? '' : ` (${inherited.name})`;
    throw new GraceError('ERR_GRACE_INHERITED_FD', `inherited fd ${inherited.fd}${name} could not be adopted as a listening socket: ${(cause as Error).message}`, { cause });
  }
  const spec = specOfAddress(readRealAddress(server, inherited.fd));
  if (spec) return { server, spec, inherited: true, socketFile: undefined };
  server.close();
  throw new GraceError(
    'ERR_GRACE_INHERITED_FD',
    `inherited fd ${inherited.fd} (${inherited.name ?? 'unnamed'}) is a unix socket whose path cannot be read here: give serve() the listen spec it was bound with`,
  );
}

function specOfAddress(real: RealAddress): ParsedListenSpec | undefined {
  if (real.kind === 'tcp') return parseListenSpec({ host: real.address, port: real.port });
  if (real.kind !== 'unix' || real.path === undefined) return undefined;
  // /proc/net/unix shows an abstract name's NULs as '@', padded to sun_path's length.
  return parseListenSpec({ path: real.path.startsWith('@') ? `\0${real.path.slice(1).replace(/@+$/, '')}` : real.path });
}

async function bindFresh(server: Server, spec: ParsedListenSpec, context: InUseContext): Promise<Listener> {
  if (spec.kind === 'unix') {
    const socketFile = await bindUnixSocket(server, spec.path, spec.options, context);
    return { server, spec, inherited: false, socketFile };
  }
  try {
    await listen(server, { ...spec.options, port: spec.port, host: spec.bindHost });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw addressInUse(describeSpec(spec), err, { kind: 'tcp', host: spec.bindHost, port: spec.port }, context);
  }
  return { server, spec, inherited: false, socketFile: undefined };
}

/** The fd of a listening server (libuv exposes it on unix platforms). */
export function listeningFd(server: Server): number | undefined {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

// One per process, even when the package is loaded twice (ESM and CommonJS
// copies): inherited sockets, and the one-serve guard, belong to the process.
const SHARED = Symbol.for('grace-restart.net');

/** The process's own Net. */
export function processNet(): Net {
  const global = globalThis as typeof globalThis & { [SHARED]?: Net };
  global[SHARED] ??= new Net();
  return global[SHARED];
}
