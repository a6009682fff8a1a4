import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Starter } from './listen-env.js';
import { ChannelWords, line, WORDS } from './channel-words.js';
import type { Log } from './logger.js';

/*
 * The ready channel, from the started process's side: the fd after the
 * inherited sockets (GRACE_READY_FD), one line per word. Here in platform/
 * so that every kind of process grace starts can speak it: a generation
 * serving sockets (protocol/ready-pipe.ts, which adds direct mode's signal
 * to the parent) and, under `grace run` without --listen, a process whose
 * only grace part is the shutdown registry (Shutdown.handleSignals()).
 *
 * Words: we write "ready" (once); under `grace run` the supervisor writes
 * "retire" (the SIGTERM that follows is a handover, not a stop) and, with
 * --watchdog, "ping", which we answer "pong" from the event loop: a loop
 * that is stuck answers nothing, and the supervisor replaces the worker.
 *
 * The channel is read from the start, for its end-of-file: the only end
 * besides ours is in the starter, so EOF means the starter is gone (killed:
 * it closes its end only after killing us otherwise). One process has one
 * channel: the first to open it has it (`claimed`), a second opener gets
 * undefined.
 */

export interface StarterChannel {
  /** Says "ready"; false when the starter is gone (then `gone` was called) or the word could not be written. */
  ready(): boolean;
  /**
   * Hears now what the starter wrote that the event loop has not read yet
   * (a "retire" ahead of its SIGTERM): called before a signal is taken.
   */
  readNow(): void;
  /** Stops listening and closes our end. */
  close(): void;
}

export interface ChannelEvents {
  /** "retire": the supervisor replaces this process; its SIGTERM follows. */
  retire: () => void;
  /** The starter is gone (EOF, reset): `why` says how. */
  gone: (why: string) => void;
}

// Process-wide, across copies of the package (ESM and CommonJS), as the protocol variables are.
const CLAIMED = Symbol.for('grace-restart.starter-channel');
type WithClaim = typeof globalThis & { [CLAIMED]?: boolean };

export function openChannel(starter: Starter, logger: Log, on: ChannelEvents): StarterChannel | undefined {
  const global = globalThis as WithClaim;
  if (global[CLAIMED]) {
    logger.debug(`the ready channel (fd ${starter.readyFd}) is already open in this process`, { event: 'ready-channel-taken' });
    return undefined;
  }
  global[CLAIMED] = true;
  // Opened both ways: a socket opened read-only would shut down its write
  // side, and the supervisor's end would answer EOF by closing the way
  // "retire" travels.
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
  const words = new ChannelWords((word) => {
    if (!open) return;
    if (word === WORDS.ping) {
      channel!.write(line(WORDS.pong));
    } else if (word === WORDS.retire) {
      open = false;
      logger.debug('the supervisor retires this process', { event: 'retire-word' });
      channel!.destroy();
      on.retire();
    }
  });
  channel?.on('data', (chunk: Buffer) => words.push(chunk));
  channel?.on('end', () => gone('its end of the ready channel closed'));
  channel?.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return gone(err.message);
    // Not a channel we can read (a one-way pipe elsewhere): no news of the starter's death, but no reason to stop.
    logger.warn(`cannot watch fd ${starter.readyFd} for the ${starter.kind}'s exit: ${err.message}`, { event: 'ready-channel-failed', err });
  });
  return {
    ready() {
      if (!open) return false;
      try {
        writeSync(starter.readyFd, line(WORDS.ready));
        return true;
      } catch (err) {
        const { code, message } = err as NodeJS.ErrnoException;
        // EPIPE: it died since (its EOF is not read yet).
        if (code === 'EPIPE' || code === 'ECONNRESET') gone(`could not say ready on fd ${starter.readyFd}: ${message}`);
        else logger.warn(`could not say ready on fd ${starter.readyFd}: ${message}`, { event: 'ready-word-failed', err });
        return false;
      }
    },
    readNow() {
      if (open) words.readNow(channel);
    },
    close() {
      open = false;
      if (channel) channel.destroy();
      else {
        try {
          closeSync(starter.readyFd);
        } catch {
          // already closed
        }
      }
    },
  };
}
