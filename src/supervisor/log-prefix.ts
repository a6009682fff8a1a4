import { PassThrough, type Readable, type Writable } from 'node:stream';
import { writeSafely } from '../platform/logger.js';
import { OUTPUT_AFTER_EXIT_MS } from '../protocol/launcher.js';
import { eachLine, type LineListener } from './worker-output.js';

/*
 * Each line a worker writes, as the supervisor relays it: named with more
 * than one worker, so interleaved logs can be told apart, and stamped with
 * the time under `--timestamps`.
 *
 * A plain line gets a prefix: the time first (`2026-12-05T17:50:01.123Z `,
 * so every line starts with it, grace's own too), then the worker
 * (`[w<slot> <pid>] `). A JSON object line (pino, bunyan) stays one JSON
 * object: `"time":"…"` (unless it has a `time` of its own: pino's epoch ms
 * is left as it is) and `"grace_worker":<slot>,"grace_pid":<pid>` are added
 * before its closing brace. Those names are grace's own, so a field the app
 * logs (pino's `pid`, an app's own `worker`) is never overwritten or
 * doubled; a line that already has them (grace under grace) keeps its own.
 * The line's bytes are otherwise untouched: nothing is decoded and
 * re-encoded. A piece that had no newline (a partial line flushed at the
 * worker's exit, or a cut over-long one) is named and stamped too, and given
 * a newline, so the next line starts on its own.
 */

const NEWLINE = Buffer.from('\n');
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/** How a worker's lines are relayed: named (with more than one worker), stamped (`--timestamps`), or both. */
export interface Relay {
  worker?: { index: number; pid: number };
  stamp?: () => Date;
}

/** Writes each line to `write`, named and stamped as `relay` says. */
export function relayLines(relay: Relay, write: (bytes: Buffer) => void): LineListener {
  const { worker, stamp } = relay;
  const prefix = worker ? `[w${worker.index} ${worker.pid}] ` : '';
  // Made once per worker: only a time stamp makes a line's own prefix.
  const prefixBytes = Buffer.from(prefix);
  const names = worker ? `"grace_worker":${worker.index},"grace_pid":${worker.pid}` : undefined;
  return (line, complete) => {
    const time = stamp?.().toISOString();
    const json = complete ? jsonObject(line) : undefined;
    if (json === undefined) return write(Buffer.concat([time ? Buffer.from(`${time} ${prefix}`) : prefixBytes, line, NEWLINE]));
    const fields = [time !== undefined && !json.time ? `"time":"${time}"` : undefined, json.names ? undefined : names].filter((f) => f !== undefined);
    if (fields.length === 0) return write(Buffer.concat([line, NEWLINE]));
    const close = line.lastIndexOf(CLOSE);
    const comma = json.empty ? '' : ',';
    write(Buffer.concat([line.subarray(0, close), Buffer.from(`${comma}${fields.join(',')}`), line.subarray(close), NEWLINE]));
  };
}

/** Whether a line is one JSON object: empty, with grace's names already, with a `time`. */
function jsonObject(line: Buffer): { empty: boolean; names: boolean; time: boolean } | undefined {
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
  const names = Object.hasOwn(value, 'grace_worker') || Object.hasOwn(value, 'grace_pid');
  return { empty: Object.keys(value).length === 0, names, time: Object.hasOwn(value, 'time') };
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

/**
 * A worker's piped stdout, each line relayed as above onto the supervisor's
 * own (its stderr goes through worker-stderr.ts first, then `relayWriter`).
 * The launcher lets go of the pipe shortly after the worker's exit (a process
 * it left behind may hold it open), which flushes a partial last line.
 */
export function relayWorkerOutput(stdout: Readable | null | undefined, relay: Relay): void {
  if (stdout) eachLine(stdout, relayLines(relay, (bytes) => writeSafely(process.stdout, bytes)));
}

/**
 * A writer that relays each line as above, for output another reader
 * takes first (a worker's stderr goes through worker-stderr.ts, which keeps
 * its tail). Partial lines are held until their newline, or the worker's
 * exit (plus OUTPUT_AFTER_EXIT_MS, as for the pipes).
 */
export function relayWriter(relay: Relay, sink: Writable, exited: Promise<unknown>): (bytes: Buffer) => void {
  const through = new PassThrough();
  eachLine(through, relayLines(relay, (bytes) => writeSafely(sink, bytes)));
  void exited.then(() => setTimeout(() => through.end(), OUTPUT_AFTER_EXIT_MS).unref());
  return (bytes) => {
    if (!through.writableEnded) through.write(bytes);
  };
}
