import type { Readable } from 'node:stream';

/*
 * A worker's stdout or stderr, read through a pipe, as whole lines: what the
 * log prefixes (log-prefix.ts) and any capture of a worker's last lines
 * listen to. Bytes, never decoded text: binary output and split multi-byte
 * characters pass through untouched. A line is held only until its newline,
 * the end of the stream (the worker exited: the partial line is flushed), or
 * MAX_LINE_BYTES (a line longer than that, or output with no newline at
 * all, is passed on in pieces of that size).
 */

/** The longest a line is held waiting for its newline. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * One line: its bytes without the newline; `complete` is false for a piece
 * cut at MAX_LINE_BYTES or a partial line flushed at the end of the stream
 * (no newline followed it).
 */
export type LineListener = (line: Buffer, complete: boolean) => void;

/** Calls `listener` for each line `stream` carries, in order; the last partial one at its end. */
export function eachLine(stream: Readable, listener: LineListener, maxLine = MAX_LINE_BYTES): void {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const flush = (complete: boolean) => {
    const line = held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    listener(line, complete);
  };
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      // Cut an over-long line into pieces no longer than maxLine.
      while (heldBytes + (end - start) > maxLine) {
        const take = maxLine - heldBytes;
        held.push(chunk.subarray(start, start + take));
        heldBytes += take;
        start += take;
        flush(false);
      }
      if (nl < 0) {
        if (start < chunk.length) {
          held.push(chunk.subarray(start));
          heldBytes += chunk.length - start;
        }
        return;
      }
      held.push(chunk.subarray(start, nl));
      heldBytes += nl - start;
      flush(true);
      start = nl + 1;
    }
  });
  // 'close' too: a pipe destroyed with its process may not end cleanly.
  const end = () => {
    if (heldBytes > 0) flush(false);
  };
  stream.once('end', end);
  stream.once('close', end);
  stream.on('error', () => {}); // the worker's exit says why
}
