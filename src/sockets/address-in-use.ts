import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { endianness } from 'node:os';
import { basename, dirname } from 'node:path';
import { GraceError } from '../platform/errors.js';
import { pidsHoldingSockets, readCommandLine, readTcpTable, readUnixSockets } from '../platform/proc.js';
import { canonicalIp, WILDCARDS } from './inherited-address.js';
import { isTemporaryName } from './temporary-name.js';

/*
 * "Address already in use", said as a GraceError that names the address and,
 * where the kernel tells us, who holds it: the usual cause is the app (or a
 * second copy of it) still running, and its pid is the next thing one needs.
 *
 * Finding the holder is Linux-only and best effort: /proc/net/{tcp,tcp6,unix}
 * map the address to a socket inode, and /proc/<pid>/fd to the processes
 * holding it (only those we may inspect: our own user's, or all as root).
 * A grace-bound unix socket is listed under its temporary name beside the
 * path, so one is taken for the path only when it is the only one there.
 */

/** What was being bound: a TCP host (undefined: every interface) and port, or a unix path. */
export type BindTarget = { kind: 'tcp'; host: string | undefined; port: number } | { kind: 'unix'; path: string };

export interface InUseContext {
  /** The pid file this process was told to keep: if it names a holder, say so. */
  pidFile?: string;
  /** This process's pid, so that a clash with its own socket is named as such. */
  self?: number;
}

/**
 * ERR_GRACE_ADDRESS_IN_USE for `label`, with `cause` (node's EADDRINUSE) kept:
 * `listen EADDRINUSE: 127.0.0.1:8080 is already in use by pid 1234 (node)`.
 */
export function addressInUse(label: string, cause: unknown, target: BindTarget, context: InUseContext = {}, what = 'is already in use'): GraceError {
  let holders = '';
  try {
    holders = describeHolders(findHolders(target), context);
  } catch {
    // Best effort: the address is what matters.
  }
  return new GraceError('ERR_GRACE_ADDRESS_IN_USE', `listen EADDRINUSE: ${label} ${what}${holders}`, { cause });
}

function describeHolders(pids: number[], { pidFile, self }: InUseContext): string {
  if (pids.length === 0) return '';
  const named = pidFile === undefined ? undefined : pidFileFirstPid(pidFile);
  const each = pids.slice(0, 3).map((pid) => {
    const notes = [commandName(readCommandLine(pid)?.[0]), pid === self ? 'this process' : undefined, pid === named ? `named by the pid file ${pidFile}` : undefined].filter(Boolean);
    return notes.length ? `pid ${pid} (${notes.join(', ')})` : `pid ${pid}`;
  });
  if (pids.length > 3) each.push(`${pids.length - 3} more`);
  return ` by ${each.join(' and ')}`;
}

/** Pids of the processes holding a socket bound to `target` (empty when not known). */
export function findHolders(target: BindTarget): number[] {
  const inodes = target.kind === 'tcp' ? tcpInodes(target) : unixInodes(target.path);
  return inodes.size === 0 ? [] : pidsHoldingSockets(inodes);
}

const LISTEN = '0A';
const CLOSE = '07'; // bound but not listening, as `grace run` holds its sockets before the app starts

function tcpInodes({ host, port }: { host: string | undefined; port: number }): Set<number> {
  const rows = [...readTcpTable('tcp'), ...readTcpTable('tcp6')].flatMap((row) => {
    const local = decodeLocal(row[1]);
    const inode = Number(row[9]);
    return local && local.port === port && inode > 0 ? [{ ...local, state: row[3], inode }] : [];
  });
  const wanted = host === undefined || !isIP(host) ? undefined : canonicalIp(host);
  const clashes = (address: string) => wanted === undefined || address === wanted || WILDCARDS.has(address) || WILDCARDS.has(wanted);
  const matching = rows.filter((r) => clashes(r.address));
  const listening = matching.filter((r) => r.state === LISTEN);
  return new Set((listening.length ? listening : matching.filter((r) => r.state === CLOSE)).map((r) => r.inode));
}

/** `0100007F:1F90` (IPv4, or 32 hex digits for IPv6): each 32-bit word in the kernel's byte order. */
export function decodeLocal(field: string | undefined, littleEndian = endianness() === 'LE'): { address: string; port: number } | undefined {
  const match = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(field ?? '');
  if (!match) return undefined;
  const bytes = Buffer.from(match[1]!, 'hex');
  if (littleEndian) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  const port = parseInt(match[2]!, 16);
  if (bytes.length === 4) return { address: [...bytes].join('.'), port };
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return { address: canonicalIp(groups.join(':')), port };
}

const ACCEPTING = 0x10000; // __SO_ACCEPTCON: a listening socket

function unixInodes(path: string): Set<number> {
  const shown = path.replace(/\0/g, '@');
  const listening = (readUnixSockets() ?? []).filter((row) => (row.flags & ACCEPTING) !== 0 && row.path !== undefined);
  const exact = listening.filter((row) => (shown.startsWith('@') ? row.path!.replace(/@+$/, '') === shown.replace(/@+$/, '') : row.path === shown));
  if (exact.length) return new Set(exact.map((row) => row.inode));
  const temporary = listening.filter((row) => dirname(row.path!) === dirname(path) && isTemporaryName(row.path!));
  return new Set(temporary.length === 1 ? [temporary[0]!.inode] : []);
}

// The program's name from its argv[0]: /proc/<pid>/comm is the main
// thread's name, which Node 24 sets to "MainThread". A process that set its
// title (PM2's "PM2 v6.0.8: God Daemon (/root/.pm2)") shows it as argv[0]:
// not a path to take the base name of ("(.pm2)" would come out), so it is
// shown whole, quoted, so that its own parentheses read as part of it.
export function commandName(argv0: string | undefined): string | undefined {
  if (!argv0) return undefined;
  if (argv0.startsWith('/') || !argv0.includes(' ')) return basename(argv0) || undefined;
  const title = argv0.length > 60 ? `${argv0.slice(0, 59)}…` : argv0;
  return JSON.stringify(title);
}

function pidFileFirstPid(path: string): number | undefined {
  try {
    const first = readFileSync(path, 'utf8').split('\n')[0]!.trim();
    return /^\d+$/.test(first) ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}
