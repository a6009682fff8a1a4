import { GraceError } from './errors.js';

/*
 * Every duration a user gives grace is checked here, one way: serve options
 * (readyTimeout, shutdownTimeout, stopDelay, idleGrace, upgradeTimeout,
 * reconnectSpread, warmUp.timeout, health.checkTimeout), the shutdown registry's timeouts, `grace run` and
 * `grace reload` flags, and GRACE_STOP_DELAY. Node's timers count in a signed
 * 32-bit number of milliseconds: a longer setTimeout warns
 * (TimeoutOverflowWarning) and fires after 1 ms, so a stop timeout of 3e9
 * would kill at once. Rather than chain timers for weeks-long waits nobody
 * needs, grace refuses what is past that limit, by name, with the range.
 */

/** The longest duration grace accepts: 2^31 − 1 ms (about 24.8 days), the longest timer Node can set. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UP_TO = `${MAX_DURATION_MS} (about 24.8 days, the longest timer Node can set)`;

/**
 * A duration given as a number (an option): finite, from 0 (above 0 with
 * `positive`) to {@link MAX_DURATION_MS}. Throws ERR_GRACE_OPTIONS naming
 * `name` and the range.
 */
export function checkDuration(name: string, value: unknown, { positive = false } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (positive && value === 0) || value > MAX_DURATION_MS) {
    const range = positive ? `above 0 and at most ${UP_TO}` : `from 0 to ${UP_TO}`;
    throw new GraceError('ERR_GRACE_OPTIONS', `${name} must be a number of milliseconds ${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * A duration written as text (a command-line flag, an environment variable):
 * whole milliseconds from 0 (from 1 with `positive`) to {@link MAX_DURATION_MS}.
 * Throws `code` (ERR_GRACE_USAGE for a flag, ERR_GRACE_OPTIONS for the
 * environment) naming `name` and the range.
 */
export function parseDuration(name: string, text: string, code: 'ERR_GRACE_USAGE' | 'ERR_GRACE_OPTIONS', { positive = false } = {}): number {
  const least = positive ? 1 : 0;
  if (!/^\d+$/.test(text) || Number(text) < least || Number(text) > MAX_DURATION_MS) {
    throw new GraceError(code, `${name} must be a whole number of milliseconds from ${least} to ${UP_TO}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/**
 * Two durations one timer waits out together (a stop delay, then a stop
 * timeout): their sum must fit a timer too. Throws `code` naming both.
 */
export function checkDurationSum(names: [string, string], values: [number, number], code: 'ERR_GRACE_USAGE' | 'ERR_GRACE_OPTIONS'): number {
  const sum = values[0] + values[1];
  if (sum > MAX_DURATION_MS) {
    throw new GraceError(code, `${names[0]} plus ${names[1]} must be at most ${UP_TO}, as one timer waits out both; got ${values[0]} + ${values[1]} = ${sum}`);
  }
  return sum;
}

/**
 * GRACE_STOP_DELAY, the stop delay `grace run --stop-delay` passes its app
 * (and anyone may set): read the one way for a server (its `stopDelay`
 * default) and for a worker with no server (handle-signals.ts). Unset or
 * empty: no delay.
 */
export function stopDelayFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.GRACE_STOP_DELAY;
  return raw === undefined || raw === '' ? 0 : parseDuration('GRACE_STOP_DELAY', raw, 'ERR_GRACE_OPTIONS');
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
