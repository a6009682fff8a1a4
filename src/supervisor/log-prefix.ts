import { PassThrough, type Readable, type Writable } from 'node:stream';
import { writeSafely } from '../platform/logger.js';
import { OUTPUT_AFTER_EXIT_MS } from '../protocol/launcher.js';
import { eachLine, type LineListener } from './worker-output.js';

/*
 * `grace run` with more than one worker: every line a worker writes names
 * the worker, so interleaved logs can be told apart. A plain line gets a
 * prefix, `[w<slot> <pid>] `; a JSON object line (pino, bunyan) stays one
 * JSON object, with `"grace_worker":<slot>,"grace_pid":<pid>` added before
 * its closing brace. Those names are grace's own, so a field the app logs
 * (pino's `pid`, an app's own `worker`) is never overwritten or doubled; a
 * line that already has them (grace under grace) is passed as it is. The
 * line's bytes are otherwise untouched: nothing is decoded and re-encoded.
 * A piece that had no newline (a partial line flushed at the worker's exit,
 * or a cut over-long one) is given one, so the next line starts on its own.
 */

const NEWLINE = Buffer.from('\n');
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/** Writes each line from worker `index` (pid `pid`) to `write`, named as above. */
export function prefixLines(index: number, pid: number, write: (bytes: Buffer) => void): LineListener {
  const prefix = Buffer.from(`[w${index} ${pid}] `);
  const fields = Buffer.from(`"grace_worker":${index},"grace_pid":${pid}`);
  return (line, complete) => {
    const json = complete ? jsonObject(line) : undefined;
    let out: Buffer;
    if (json === undefined) out = Buffer.concat([prefix, line, NEWLINE]);
    else if (json.has) out = Buffer.concat([line, NEWLINE]);
    else {
      const close = line.lastIndexOf(CLOSE);
      const comma = json.empty ? '' : ',';
      out = Buffer.concat([line.subarray(0, close), Buffer.from(comma), fields, line.subarray(close), NEWLINE]);
    }
    write(out);
  };
}

/** Whether a line is one JSON object (and whether it is empty, or has grace's fields already). */
function jsonObject(line: Buffer): { empty: boolean; has: boolean } | undefined {
  let end = line.length;
  while (end > 0 && isSpace(line[end - 1]!)) end--;
  let start = 0;
  while (start < end && isSpace(line[start]!)) start++;
  if (line[start] !== OPEN || line[end - 1] !== CLOSE) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const has = Object.hasOwn(value, 'grace_worker') || Object.hasOwn(value, 'grace_pid');
  return { empty: Object.keys(value).length === 0, has };
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

/**
 * A worker's piped stdout, each line named as above, onto the supervisor's
 * own (its stderr goes through worker-stderr.ts first, then `prefixedWriter`).
 * The launcher lets go of the pipe shortly after the worker's exit (a process
 * it left behind may hold it open), which flushes a partial last line.
 */
export function prefixWorkerOutput(stdout: Readable | null | undefined, index: number, pid: number): void {
  if (stdout) eachLine(stdout, prefixLines(index, pid, (bytes) => writeSafely(process.stdout, bytes)));
}

/**
 * A writer that names each line as above, for output another reader
 * takes first (a worker's stderr goes through worker-stderr.ts, which keeps
 * its tail). Partial lines are held until their newline, or the worker's
 * exit (plus OUTPUT_AFTER_EXIT_MS, as for the pipes).
 */
export function prefixedWriter(index: number, pid: number, sink: Writable, exited: Promise<unknown>): (bytes: Buffer) => void {
  const through = new PassThrough();
  eachLine(through, prefixLines(index, pid, (bytes) => writeSafely(sink, bytes)));
  void exited.then(() => setTimeout(() => through.end(), OUTPUT_AFTER_EXIT_MS).unref());
  return (bytes) => {
    if (!through.writableEnded) through.write(bytes);
  };
}

