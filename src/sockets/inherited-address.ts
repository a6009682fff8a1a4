import { fstatSync, realpathSync } from 'node:fs';
import { isIP, isIPv4, type Server } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { GraceError } from '../platform/errors.js';
import { parseUnixSockets, readUnixSockets } from '../platform/proc.js';
import type { InheritedFd } from '../platform/listen-env.js';
import { describeSpec, type ParsedListenSpec } from './listen-spec.js';
import { isTemporaryName } from './temporary-name.js';

/*
 * An inherited socket's LISTEN_FDNAMES label is only a claim: a wrong or stale
 * label must not make the app serve on another address, or make a final stop
 * unlink another service's socket file. So the socket's real address, read
 * from the kernel, must satisfy the request, as in Go's gracenet.
 *
 * Limits, stated plainly:
 * - Host names other than `localhost` are not resolved (the check runs before
 *   the event loop turns, and a name may resolve differently now): any one
 *   specific address satisfies them, a wildcard address does not.
 * - Node cannot read a unix socket's address, so it is looked up by inode in
 *   /proc/net/unix. Without it (not Linux), or when the socket is not listed
 *   there (bound in another network namespace), the path is not checked.
 * - grace binds unix sockets under a temporary name beside the real path, so
 *   any grace-bound socket in the same directory satisfies a path there.
 */

/** What an inherited socket really is, as far as this platform tells. */
export type RealAddress =
  | { kind: 'tcp'; address: string; port: number }
  /** `path` is undefined for an unnamed socket; abstract ones start with '@'. */
  | { kind: 'unix'; path: string | undefined }
  /** A unix socket whose path cannot be read here. */
  | { kind: 'unix-unknown' };

/** The addresses that mean "every interface". */
export const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::']);

/**
 * Throws ERR_GRACE_INHERITED_FD, naming the fd, its label, what it really is
 * and what was asked, unless the socket `server` adopted from `inherited.fd`
 * satisfies `spec`. Synchronous, so the caller can close the server before
 * anything is accepted on it.
 */
export function checkInheritedAddress(server: Server, spec: ParsedListenSpec, inherited: InheritedFd): void {
  const real = readRealAddress(server, inherited.fd);
  if (addressSatisfies(spec, real)) return;
  throw new GraceError(
    'ERR_GRACE_INHERITED_FD',
    `inherited fd ${inherited.fd} (${inherited.name ?? 'unnamed'}) is ${describeReal(real)}, but the app asked for ${describeRequest(spec)}`,
  );
}

/** The real address of a listening server's socket (`fd` is read for unix sockets). */
export function readRealAddress(server: Server, fd: number): RealAddress {
  const address = server.address();
  if (address && typeof address === 'object') return { kind: 'tcp', address: address.address, port: address.port };
  const inode = fstatSync(fd).ino;
  const row = readUnixSockets()?.find((r) => r.inode === inode);
  return row ? { kind: 'unix', path: row.path } : { kind: 'unix-unknown' };
}

/**
 * The bound path of the socket with this inode in a /proc/net/unix table:
 * undefined for an unnamed socket, null when it is not listed.
 */
export function unixPathByInode(table: string, inode: number): string | undefined | null {
  const row = parseUnixSockets(table).find((r) => r.inode === inode);
  return row ? row.path : null;
}

/** Whether a socket really bound at `real` is what `spec` asks for. */
export function addressSatisfies(spec: ParsedListenSpec, real: RealAddress): boolean {
  if (spec.kind === 'tcp') {
    return real.kind === 'tcp' && (spec.port === 0 || spec.port === real.port) && hostSatisfied(spec.host, real.address);
  }
  if (real.kind === 'tcp') return false;
  if (real.kind === 'unix-unknown') return true;
  return real.path !== undefined && pathSatisfied(spec.path, real.path);
}

function hostSatisfied(host: string | undefined, bound: string): boolean {
  const address = canonicalIp(bound);
  if (host === undefined) return WILDCARDS.has(address);
  if (host === 'localhost') return isLoopback(address);
  if (isIP(host)) return canonicalIp(host) === address;
  return !WILDCARDS.has(address);
}

function isLoopback(address: string): boolean {
  return address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}

/** One spelling per address: IPv6 compressed and lowercase, IPv4-mapped as IPv4. */
export function canonicalIp(address: string): string {
  if (isIPv4(address)) return address;
  let canonical = address.toLowerCase();
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    // a zone id (fe80::1%eth0) is no URL host: compare it as written
  }
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (hexMapped) {
    const [high, low] = [parseInt(hexMapped[1]!, 16), parseInt(hexMapped[2]!, 16)];
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return canonical;
}

function pathSatisfied(requested: string, bound: string): boolean {
  if (requested.startsWith('\0')) {
    // /proc shows abstract names with '@' for every NUL, padded to the
    // length they were bound with (node pads to the whole sun_path).
    const shown = requested.replace(/\0/g, '@');
    return bound.startsWith('@') && bound.replace(/@+$/, '') === shown.replace(/@+$/, '');
  }
  if (bound.startsWith('@')) return false;
  const full = resolve(bound);
  if (!sameDirectory(dirname(full), dirname(requested))) return false;
  return basename(full) === basename(requested) || isTemporaryName(full);
}

function sameDirectory(a: string, b: string): boolean {
  return a === b || realpathOrSelf(a) === realpathOrSelf(b);
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function describeReal(real: RealAddress): string {
  if (real.kind === 'tcp') return `a TCP socket bound to ${hostPort(real.address, real.port)}`;
  if (real.kind === 'unix-unknown') return 'a unix socket';
  return real.path === undefined ? 'an unnamed unix socket' : `a unix socket bound to ${real.path}`;
}

function describeRequest(spec: ParsedListenSpec): string {
  if (spec.kind === 'unix') return spec.path.replace(/\0/g, '@');
  return spec.host === undefined ? `${describeSpec(spec)} (every interface)` : describeSpec(spec);
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
