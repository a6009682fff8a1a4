import type { Starter } from '../platform/listen-env.js';
import { openChannel, type ChannelEvents, type StarterChannel } from '../platform/starter-channel.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';

/*
 * The child's side of the readiness protocol. It writes "ready" on the pipe
 * its starter gave it, and only then, in direct mode, sends SIGTERM to the
 * previous generation (Go grace's signal). The word is in the pipe before the
 * signal is sent, so the parent, which looks at the signal only after the
 * I/O of the turn it arrived in, has always read the word by then: whose
 * SIGTERM it is needs no timing guess.
 *
 * Under `grace run` the channel (a socket pair) stays open the other way:
 * the supervisor writes "retire" before the SIGTERM that replaces this
 * generation, and the same ordering tells a handover from a stop; and, with
 * --watchdog, "ping", answered "pong" (platform/starter-channel.ts, where
 * the words are read and written, for processes without sockets too).
 *
 * The channel is read from the start, for its end-of-file: the only end
 * besides ours is in the starter, so EOF means the starter is gone. Who is told:
 * - under `grace run`, always: a worker whose supervisor died must not serve
 *   on as an orphan (old code, no reloads, its socket in the way of the next
 *   `grace run`), so it drains and exits (as if its process group had got
 *   the supervisor's SIGKILL; workers have their own group, see
 *   worker-pool.ts);
 * - in direct mode, until "ready" is written: the parent's pid is what the
 *   pid file, systemd and the shell that started it know; a child that took
 *   over after its death would hold the port with no record anywhere naming
 *   it, and a restart of the service would fail with EADDRINUSE. It never
 *   accepted anything, so stopping it resets nobody. After "ready" the
 *   parent's exit is the handover itself.
 */

export type { StarterChannel } from '../platform/starter-channel.js';

/** The channel (platform/starter-channel.ts) as a generation speaks it: in direct mode, "ready" then SIGTERM to the parent. */
export function openStarterChannel(host: ProcessHost, starter: Starter, logger: Log, on: ChannelEvents): StarterChannel | undefined {
  const channel = openChannel(starter, logger, on);
  if (!channel) return undefined;
  return {
    ready() {
      if (!channel.ready()) return false;
      if (starter.kind === 'parent') {
        // After "ready" the parent's exit is the handover itself: nothing more to hear.
        channel.close();
        signalParent(host, starter.pid, logger);
      }
      return true;
    },
    readNow: () => channel.readNow(),
    close: () => channel.close(),
  };
}

function signalParent(host: ProcessHost, parentPid: number, logger: Log): void {
  const ppid = host.ppid();
  // Our parent may have died since start: never signal pid 1, a subreaper or a recycled pid.
  if (ppid !== parentPid) {
    logger.warn(`not signalling pid ${parentPid}: it is no longer our parent (parent is pid ${ppid})`, { event: 'parent-gone', parentPid, ppid });
    return;
  }
  try {
    host.kill(parentPid, 'SIGTERM');
  } catch (err) {
    logger.warn(`could not signal old pid ${parentPid}: ${(err as Error).message}`, { event: 'parent-gone', parentPid, err });
  }
}
