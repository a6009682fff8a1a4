import type { Writable } from 'node:stream';
/*
 * Lifecycle lines. Apps give grace a logger (console, pino, …) or take the
 * default, one plain line per event on stderr. Internally every line goes
 * through a `Log`, which also carries fields (`event`, `pid`, `generation`,
 * addresses, `err`): a logger that takes an object first (pino's and bunyan's
 * shape) gets them as its first argument, so log collectors can filter on
 * them; a plain logger gets the text alone.
 */

/** Where grace writes its lifecycle lines. `console` and pino satisfy it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Protocol detail; called only for a fields logger, or when `GRACE_DEBUG=1` is set. */
  debug?(message: string): void;
}

/** What a lifecycle line carries besides its text. `event` names it, stably. */
export interface LogFields {
  event: string;
  err?: unknown;
  [field: string]: unknown;
}

/** grace's own view of a logger: every line with its fields. */
export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  /** With `stack`, a plain logger gets `fields.err`'s stack under the line (a crash). */
  error(message: string, fields?: LogFields, options?: { stack?: boolean }): void;
  /** The same log with `fields` added to every line (pid, generation). */
  with(fields: Record<string, unknown>): Log;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** One line per event on stderr, prefixed so it reads well beside app logs. */
export const stderrLogger: Logger = {
  debug: (message) => writeStderr(`grace: debug: ${message}\n`),
  info: (message) => writeStderr(`grace: ${message}\n`),
  warn: (message) => writeStderr(`grace: warning: ${message}\n`),
  error: (message) => writeStderr(`grace: error: ${message}\n`),
};

// A closed stderr (EPIPE: the terminal, the log collector or `grace run`
// went away) must not stop a restart or a drain half-way. A pipe reports a
// failed write as an 'error' event after write() returned: with no listener
// it would be an uncaught exception. So, as node's console does, one listens
// while grace's writes are in flight (an app's own listeners still hear it).
const inFlight = new WeakMap<Writable, number>();
const ignore = () => {};

/** Writes to `stream` (stderr, stdout); a closed one loses the text, never the process (grace run passes workers' output through too). */
export function writeSafely(stream: Writable, chunk: string | Uint8Array): void {
  if (stream.destroyed) return; // closed for good: nowhere to write to
  const writes = inFlight.get(stream) ?? 0;
  if (writes === 0) stream.on('error', ignore);
  inFlight.set(stream, writes + 1);
  const settled = () =>
    setImmediate(() => {
      const left = (inFlight.get(stream) ?? 1) - 1;
      inFlight.set(stream, left);
      if (left === 0) stream.removeListener('error', ignore);
    });
  try {
    stream.write(chunk, settled);
  } catch {
    settled();
  }
}

/** Writes to stderr, as {@link writeSafely}. */
export function writeStderr(chunk: string | Uint8Array): void {
  writeSafely(process.stderr, chunk);
}

/**
 * The default logger with every line starting with the time it was written
 * (ISO 8601, UTC, ms: `2026-12-05T17:50:01.123Z grace: …`), the lines of a
 * message with several (a stack) each stamped: `grace run --timestamps`.
 */
export function timestampedStderrLogger(now: () => Date = () => new Date()): Logger {
  const line = (label: string) => (message: string) => writeStderr(`${timestamped(`grace: ${label}${message}`, now())}\n`);
  return { debug: line('debug: '), info: line(''), warn: line('warning: '), error: line('error: ') };
}

/** Each line of `text` starting with the time `at` (ISO 8601, UTC, ms) and a space. */
export function timestamped(text: string, at: Date = new Date()): string {
  const stamp = `${at.toISOString()} `;
  return `${stamp}${text.replaceAll('\n', `\n${stamp}`)}`;
}

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * pino (`bindings()`) and bunyan (`level()`) take `(fields, message)`; so
 * does any logger marked with `Symbol.for('grace.logFields')`. console,
 * winston and the default take the message alone.
 */
export function takesFieldsFirst(logger: Logger): boolean {
  const l = logger as unknown as Record<string | symbol, unknown>;
  if (l[Symbol.for('grace.logFields')] === true) return true;
  return typeof l.child === 'function' && (typeof l.bindings === 'function' || typeof l.level === 'function');
}

/**
 * `undefined` means the default (stderr; `timestamps`: each line stamped),
 * `false` means silence. A logger of the app's own formats its lines itself
 * (pino stamps each with its `time`).
 */
export function resolveLogger(logger: Logger | false | undefined, env: NodeJS.ProcessEnv = process.env, { timestamps = false } = {}): Log {
  const target = logger === false ? silentLogger : (logger ?? (timestamps ? timestampedStderrLogger() : stderrLogger));
  const fieldsFirst = takesFieldsFirst(target);
  // A fields logger filters by its own level; a plain one would print debug
  // lines unasked (console.debug), so they wait for GRACE_DEBUG.
  const debug = fieldsFirst || env.GRACE_DEBUG === '1' || /\bgrace\b/.test(env.NODE_DEBUG ?? '');
  return makeLog(target, fieldsFirst, debug, {});
}

function makeLog(target: Logger, fieldsFirst: boolean, debug: boolean, context: Record<string, unknown>): Log {
  const emit = (level: Level, message: string, fields: LogFields | undefined, stack = false) => {
    const method = target[level];
    if (typeof method !== 'function') return;
    if (level === 'debug' && !debug) return;
    try {
      if (fieldsFirst) {
        (method as unknown as (fields: object, message: string) => void).call(target, { ...context, ...fields }, message);
      } else {
        const err = fields?.err;
        const text = stack && err instanceof Error && err.stack ? `${message}\n${err.stack}` : message;
        method.call(target, text);
      }
    } catch {
      // a broken logger must not break a restart or a drain
    }
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields, options) => emit('error', message, fields, options?.stack),
    with: (fields) => makeLog(target, fieldsFirst, debug, { ...context, ...fields }),
  };
}
