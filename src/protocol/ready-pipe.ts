import type { Starter } from '../platform/listen-env.js';
import { openChannel, type ChannelEvents, type StarterChannel } from '../platform/starter-channel.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';

/*
 * The ready channel as a generation serving sockets speaks it. The channel
 * itself (the words, reading them, the starter's death as EOF) is
 * platform/starter-channel.ts's; what a generation adds is direct mode's
 * end of it. Having written "ready", it sends SIGTERM to the previous
 * generation (Go grace's signal) and stops listening:
 * - the word is in the pipe before the signal is sent, and the parent reads
 *   its channels to their end before it takes a signal
 *   (platform/channel-words.ts), so whose SIGTERM it is needs no timing guess;
 * - until "ready", the parent's death is news (EOF: "starter gone"): its pid
 *   is what the pid file, systemd and the shell that started it know, and a
 *   child that took over after its death would hold the port with no record
 *   anywhere naming it, so that a restart of the service would fail with
 *   EADDRINUSE. It never accepted anything, so stopping it resets nobody;
 * - after "ready", the parent's exit is the handover itself: nothing more to
 *   hear, so the channel is closed.
 * Under `grace run` the channel stays open, both ways, for the worker's
 * whole life: the supervisor's "retire" and "ping", and its death at any
 * time (a worker whose supervisor died must not serve on as an orphan: old
 * code, no reloads, its socket in the way of the next `grace run`).
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
