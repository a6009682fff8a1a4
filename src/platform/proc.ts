import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/*
 * Everything grace reads from Linux's /proc, in one place: a process's parent,
 * state, start time, command line, uids, RSS and threads; our stack limit; the
 * kernel's socket tables; which processes hold a socket. Every reader is best effort and never
 * throws: undefined (or empty) where there is no /proc (not Linux), the
 * process is gone, or it is another user's.
 */

/** A process's threads (their ids; the main thread's is the pid), from /proc/<pid>/task; empty where it cannot be read. */
export function readThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** A process as /proc shows it: its parent and its command line. */
export interface ProcessInfo {
  ppid: number;
  argv: string[];
}

/** The fields of /proc/<pid>/stat that grace uses. */
export interface ProcessStat {
  /** R, S, D, Z (a zombie), T, … */
  state: string;
  ppid: number;
  /** Clock ticks since boot: with the pid, tells a process from a later one given the same pid. */
  startTime: number;
}

/** /proc/<pid>/stat's state, parent and start time; undefined where it cannot be read. */
export function readStat(pid: number): ProcessStat | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // The fields after the command name, which may hold spaces and ')':
  // index 0 is field 3 (state), 1 is field 4 (ppid), 19 is field 22 (starttime).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state = '', ppid, startTime] = [fields[0], Number(fields[1]), Number(fields[19])];
  return state && Number.isInteger(ppid) && Number.isInteger(startTime) ? { state, ppid, startTime } : undefined;
}

/** A process's command line (/proc/<pid>/cmdline); a process that set its title shows one string. */
export function readCommandLine(pid: number): string[] | undefined {
  return readText(`/proc/${pid}/cmdline`)?.split('\0').filter(Boolean);
}

/** A process's parent and command line; undefined where either cannot be read. */
export function readProcess(pid: number): ProcessInfo | undefined {
  const argv = readCommandLine(pid);
  const stat = argv && readStat(pid);
  return stat && { ppid: stat.ppid, argv };
}

/** A process's real and effective uid (/proc/<pid>/status). */
export function readUids(pid: number): { real: number; effective: number } | undefined {
  const line = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return line ? { real: Number(line[1]), effective: Number(line[2]) } : undefined;
}

/** A process's resident set size in bytes (/proc/<pid>/status, VmRSS). */
export function readRss(pid: number): number | undefined {
  const line = /^VmRSS:\s+(\d+)\s+kB/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return line ? Number(line[1]) * 1024 : undefined;
}

/** What one of this process's fds is open on, as /proc/self/fd shows it (a path, `socket:[inode]`, …). */
export function readOwnFd(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/**
 * The rows of /proc/net/tcp or tcp6, split on blanks, header left out:
 * index 1 is the local address (`0100007F:1F90`), 3 the state, 9 the inode.
 */
export function readTcpTable(name: 'tcp' | 'tcp6'): string[][] {
  return (readText(`/proc/net/${name}`) ?? '')
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.split(/\s+/));
}

/** One row of /proc/net/unix. */
export interface UnixSocketRow {
  /** 0x10000 (__SO_ACCEPTCON) is set on a listening socket. */
  flags: number;
  inode: number;
  /** Undefined for an unnamed socket; abstract names start with '@', one for each NUL. */
  path: string | undefined;
}

/** The unix sockets the kernel lists (/proc/net/unix); undefined where it cannot be read. */
export function readUnixSockets(): UnixSocketRow[] | undefined {
  const text = readText('/proc/net/unix');
  return text === undefined ? undefined : parseUnixSockets(text);
}

/** Parses a /proc/net/unix table; the header and anything malformed are skipped. */
export function parseUnixSockets(table: string): UnixSocketRow[] {
  // Num RefCount Protocol Flags Type St Inode [Path]: the kernel prints one
  // space before the path, which may itself start or end with spaces.
  const row = /^\s*\S+:\s+\S+\s+\S+\s+([0-9A-Fa-f]+)\s+\S+\s+\S+\s+(\d+)(?: (.*))?$/;
  return table.split('\n').flatMap((line) => {
    const match = row.exec(line);
    return match ? [{ flags: parseInt(match[1]!, 16), inode: Number(match[2]), path: match[3] || undefined }] : [];
  });
}

/** The pids of the processes (those we may inspect) holding a socket with one of these inodes, in order. */
export function pidsHoldingSockets(inodes: ReadonlySet<number>): number[] {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's, or gone
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match && inodes.has(Number(match[1]))) {
        found.push(Number(entry));
        break;
      }
    }
  }
  return found.sort((a, b) => a - b);
}

/** This process's stack size limit (soft, `ulimit -s`) in bytes: Infinity when unlimited. */
export function readStackLimit(): number | undefined {
  const soft = /^Max stack size\s+(\S+)/m.exec(readText('/proc/self/limits') ?? '')?.[1];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? Infinity : Number(soft) || undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (one we may not signal still does). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
