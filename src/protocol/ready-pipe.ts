import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Starter } from '../platform/listen-env.js';
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
 * generation, and the same ordering tells a handover from a stop.
 *
 * The channel is read from the start, for its end-of-file: the only end
 * besides ours is in the starter, so EOF means the starter is gone (killed:
 * it closes its end only after killing us otherwise). Who is told:
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

export interface StarterChannel {
  /** Says "ready" (then, in direct mode, SIGTERMs the parent). */
  ready(): void;
  /** Stops listening (a failed start). */
  close(): void;
}

export function openStarterChannel(
  host: ProcessHost,
  starter: Starter,
  logger: Log,
  on: { retire: () => void; gone: (why: string) => void },
): StarterChannel {
  // Opened both ways, though we only read: a socket opened read-only would
  // shut down its write side, and the supervisor's end would answer EOF
  // by closing the way "retire" travels.
  let channel: Socket | undefined;
  try {
    channel = new Socket({ fd: starter.readyFd });
  } catch (err) {
    logger.warn(`cannot read fd ${starter.readyFd} from the starter: ${(err as Error).message}`, { event: 'ready-channel-failed', err });
  }
  let open = true;
  const who = starter.kind === 'supervisor' ? `supervisor pid ${starter.pid}` : `parent pid ${starter.pid}`;
  const gone = (why: string) => {
    if (!open) return;
    open = false;
    channel?.destroy();
    on.gone(`${who} is gone (${why})`);
  };
  // Never what keeps this process alive.
  channel?.unref();
  let heard = '';
  channel?.setEncoding('utf8');
  channel?.on('data', (chunk: string) => {
    heard += chunk;
    if (!heard.includes('retire') || !open) return;
    open = false;
    logger.debug('the supervisor retires this generation', { event: 'retire-word' });
    channel!.destroy();
    on.retire();
  });
  channel?.on('end', () => gone('its end of the ready channel closed'));
  channel?.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return gone(err.message);
    // Not a channel we can read (a one-way pipe elsewhere): no news of the starter's death, but no reason to stop.
    logger.warn(`cannot watch fd ${starter.readyFd} for the ${starter.kind}'s exit: ${err.message}`, { event: 'ready-channel-failed', err });
  });
  return {
    ready() {
      if (!open) return;
      try {
        writeSync(starter.readyFd, 'ready\n');
      } catch (err) {
        const { code, message } = err as NodeJS.ErrnoException;
        // EPIPE: it died since (its EOF is not read yet).
        if (code === 'EPIPE' || code === 'ECONNRESET') return gone(`could not say ready on fd ${starter.readyFd}: ${message}`);
        logger.warn(`could not say ready on fd ${starter.readyFd}: ${message}`, { event: 'ready-word-failed', err });
        return;
      }
      if (starter.kind === 'supervisor') return;
      open = false;
      if (channel) channel.destroy();
      else closeSync(starter.readyFd);
      signalParent(host, starter.pid, logger);
    },
    close() {
      open = false;
      channel?.destroy();
    },
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
