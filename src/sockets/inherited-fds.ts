import { closeSync, fstatSync, type Stats } from 'node:fs';
import { GraceError } from '../platform/errors.js';
import { readOwnFd } from '../platform/proc.js';
import type { InheritedFd } from '../platform/listen-env.js';

/** Names grace gives the sockets it hands on; anything else came from elsewhere (systemd). */
function isGraceName(name: string | undefined): boolean {
  return name !== undefined && (name.startsWith('tcp:') || name.startsWith('unix:'));
}

/**
 * The sockets this process inherited, each adopted at most once. A request
 * claims the first unclaimed fd carrying its name; fds not named by grace
 * (systemd's unit names) are handed out in order to requests with no match.
 */
export class InheritedPool {
  private readonly unclaimed: InheritedFd[];

  constructor(fds: InheritedFd[]) {
    checkInheritedSockets(fds);
    this.unclaimed = [...fds];
  }

  claim(name: string): InheritedFd | undefined {
    let index = this.unclaimed.findIndex((f) => f.name === name);
    if (index < 0) index = this.unclaimed.findIndex((f) => !isGraceName(f.name));
    if (index < 0) return undefined;
    return this.unclaimed.splice(index, 1)[0];
  }

  /** Closes what nobody claimed: the kernel would otherwise keep queueing connections on it. */
  closeUnclaimed(): InheritedFd[] {
    const left = this.unclaimed.splice(0);
    for (const { fd } of left) {
      try {
        closeSync(fd);
      } catch {
        // Already gone; nothing queues on it then.
      }
    }
    return left;
  }
}

/** Checks that each inherited fd is open and a socket; throws ERR_GRACE_INHERITED_FD saying what one is instead. */
export function checkInheritedSockets(fds: readonly InheritedFd[]): void {
  for (const inherited of fds) checkIsSocket(inherited);
}

function checkIsSocket({ fd, name }: InheritedFd): void {
  let stats: Stats;
  const label = `inherited fd ${fd}${name === undefined ? '' : ` (${name})`}`;
  try {
    stats = fstatSync(fd);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new GraceError('ERR_GRACE_INHERITED_FD', `${label} is not open (${code}): LISTEN_FDS counts more sockets than were passed`, {
      cause,
    });
  }
  if (!stats.isSocket()) {
    throw new GraceError('ERR_GRACE_INHERITED_FD', `${label} is ${describeFd(fd, stats)}, not a listening socket`);
  }
}

// Say what the fd is, so a miscounted LISTEN_FDS is easy to spot (e.g. node's
// own event loop fds right after the real ones).
function describeFd(fd: number, stats: Stats): string {
  const kind = stats.isFile()
    ? 'a regular file'
    : stats.isDirectory()
      ? 'a directory'
      : stats.isFIFO()
        ? 'a pipe'
        : stats.isCharacterDevice()
          ? 'a character device'
          : 'not a socket';
  const target = readOwnFd(fd);
  return target === undefined ? kind : `${kind} (${target})`;
}
