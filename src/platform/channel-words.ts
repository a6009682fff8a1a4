import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/*
 * The ready channel's protocol: its words, one per line, from either end,
 * and the one reader of them. Here and only here (but for the park preload,
 * which cannot import: standby-preload.cts keeps a copy, and
 * test/channel-words.test.ts checks the two agree). A word
 * decides whose a signal is ("ready" before a new generation's SIGTERM,
 * "retire" before the supervisor's), so at a signal the channel is read to
 * its end *now* (`readNow`), not at the event loop's next poll: libuv reads
 * signals in batches, and a signal read in the same batch as another can be
 * handled before the poll that would have read the word written ahead of it.
 * The writer puts the word in the socket (a synchronous write) before it
 * sends the signal, so whatever was written before the signal is either
 * read already or still in the kernel's buffer when the handler runs.
 */

/** Every word on the channel, by who writes it. */
export const WORDS = {
  /** The started process to its starter: it serves (in direct mode its SIGTERM to the parent follows). */
  ready: 'ready',
  /** The supervisor to a worker it replaces: the SIGTERM that follows is a handover, not a stop. */
  retire: 'retire',
  /** The supervisor to a ready worker (--watchdog): answer from your event loop. */
  ping: 'ping',
  /** A worker to the supervisor: the answer to the oldest "ping" not yet answered. */
  pong: 'pong',
  /** A standby's park (standby-preload.cts) to its starter: node booted, nothing of the app ran; it waits for the release line. */
  parked: 'parked',
} as const;

export type Word = (typeof WORDS)[keyof typeof WORDS];

/** A word as it is written: on a line of its own. */
export function line(word: Word): string {
  return `${word}\n`;
}

/**
 * What releases a parked standby: the environment the next generation must
 * have, and the priority to run at (when it was lowered), as one JSON line
 * (the only line that is not a word; the park reads nothing after it).
 */
export interface Release {
  env: NodeJS.ProcessEnv;
  priority: number | undefined;
}

export function releaseLine(release: Release): string {
  return `${JSON.stringify({ env: release.env, priority: release.priority })}\n`;
}

/** Words are short: a partial line longer than this is not one of ours, and is not held. */
const MAX_WORD = 64;

export class ChannelWords {
  private partial = '';

  constructor(private readonly onWord: (word: string) => void) {}

  /** A chunk the channel's stream read. */
  push(chunk: Buffer | string): void {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop()!.slice(-MAX_WORD);
    for (const word of lines) this.onWord(word);
  }

  /**
   * Reads what `channel` holds that its stream has not read yet, synchronously,
   * and hears each word before returning. The fd is non-blocking (libuv opened
   * it), so an empty channel returns at once. An end-of-file is left for the
   * stream to report: it says nothing about whose a signal is.
   */
  readNow(channel: Readable | Socket | undefined): void {
    const buffer = Buffer.allocUnsafe(4096);
    for (;;) {
      // Again each time: a word may have closed the channel ("retire" does).
      const fd = channelFd(channel);
      if (fd === undefined) return;
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch {
        return; // EAGAIN: nothing more now; anything else, its stream reports
      }
      if (n === 0) return;
      this.push(buffer.subarray(0, n));
    }
  }
}

/**
 * The fd under a stream libuv reads (a child's stdio pipe, a `net.Socket({ fd })`).
 * Node internal: a stream handle's `fd` (LibuvStreamWrap); undefined where
 * there is none (destroyed, or not a pipe), and then nothing is read now.
 */
function channelFd(channel: Readable | Socket | undefined): number | undefined {
  if (!channel || channel.destroyed) return undefined;
  const fd = (channel as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
