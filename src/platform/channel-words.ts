import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/*
 * The words on a ready channel, one per line, from either end. A word
 * decides whose a signal is ("ready" before a new generation's SIGTERM,
 * "retire" before the supervisor's), so at a signal the channel is read to
 * its end *now* (`readNow`), not at the event loop's next poll: libuv reads
 * signals in batches, and a signal read in the same batch as another can be
 * handled before the poll that would have read the word written ahead of it.
 * The writer puts the word in the socket (a synchronous write) before it
 * sends the signal, so whatever was written before the signal is either
 * read already or still in the kernel's buffer when the handler runs.
 */

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
