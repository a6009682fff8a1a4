import { GraceError } from '../../platform/errors.js';

/*
 * What `grace run` is told, in one place: the limits on its numbers (each
 * refused by name with its range), and the defaults of every setting the
 * workers' table decides with.
 */

/**
 * The most workers `grace run` keeps (`--workers`, `--surge`, `grace scale`):
 * far more than any machine has cores, small enough that a typo (an extra
 * digit) is refused rather than forking thousands of processes.
 */
export const MAX_WORKERS = 1024;

/** Parked spares cost a node process each: more than this is a mistake, not a setup. */
export const MAX_STANDBY = 64;

/** The shortest --watchdog: below it, a GC pause or a slow synchronous start would count as a hang. */
export const MIN_WATCHDOG_MS = 1000;

/** How often the wrapper `grace run` follows is looked at, ms (supervisor/follow-wrapper.ts). */
export const FOLLOW_INTERVAL_MS = 500;

/**
 * The most `--max-restarts`: with the backoff at its 10 s ceiling, a day of
 * restarts is under 9000; more is a typo, not a policy.
 */
export const MAX_RESTARTS = 10_000;

/** `--watch`: a reload starts this long after the last change (an editor's save, a build, a `git checkout`, is many). */
export const WATCH_DEBOUNCE_MS = 200;

/** What the workers' table decides with, fixed for a run. Durations in ms. */
export interface Settings {
  /**
   * How many reload launches may be starting at once (`--surge`); not given:
   * as many as there are spares to release (reload.ts `reloadSurge`).
   */
  surge: number | undefined;
  /** `--standby K`: spares kept booted and parked (0: none). */
  standby: number;
  /** How long a new worker may take to say "ready". */
  readyTimeout: number;
  /** How long a retired or stopped worker may take to exit before SIGKILL. */
  stopTimeout: number;
  /** `--stop-delay`: the workers serve through it before a stop's deadline starts. */
  stopDelay: number | undefined;
  /** `--max-memory`, bytes: a worker over it is replaced. */
  maxMemory: number | undefined;
  /** How often RSS is sampled under `--max-memory`. */
  memoryInterval: number;
  /** `--watchdog`: a worker whose oldest unanswered ping is this old is replaced. */
  watchdog: number | undefined;
  /** Started by npm, yarn, pnpm or the tsx CLI: stop once it is gone. */
  followWrapper: boolean;
  /** `--max-restarts N`: a slot restarted N times in a row, none up `minUptime`, ends grace run (crash-loop.ts). Unset: no limit. */
  maxRestarts: number | undefined;
  /** `--min-uptime`: how long a worker must be up (ready) for its slot's restarts to start over. */
  minUptime: number;
}

/** Every default of `grace run`, once. */
export const DEFAULTS = {
  workers: 1,
  surge: 1,
  standby: 0,
  readyTimeout: 30_000,
  stopTimeout: 60_000,
  memoryInterval: 1000,
  minUptime: 1000,
} as const;

/** `given` with a default for everything it leaves out. */
export function withDefaults(given: Partial<Settings>): Settings {
  return {
    surge: given.surge,
    standby: given.standby ?? DEFAULTS.standby,
    readyTimeout: given.readyTimeout ?? DEFAULTS.readyTimeout,
    stopTimeout: given.stopTimeout ?? DEFAULTS.stopTimeout,
    stopDelay: given.stopDelay,
    maxMemory: given.maxMemory,
    memoryInterval: given.memoryInterval ?? DEFAULTS.memoryInterval,
    watchdog: given.watchdog,
    followWrapper: given.followWrapper ?? false,
    maxRestarts: given.maxRestarts,
    minUptime: given.minUptime ?? DEFAULTS.minUptime,
  };
}

/** The rule for every count `grace run` takes: a whole number from 1 to `max` (MAX_WORKERS for a worker count). */
export function isCount(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= max;
}

/** A count given as text (`--workers 4`, `grace scale 4`), refused by name with its range; `or` names what else it may be. */
export function checkCount(flag: string, text: string, max: number, or = ''): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!isCount(n, max)) throw new GraceError('ERR_GRACE_USAGE', `${flag} must be a whole number from 1 to ${max}${or}; got ${JSON.stringify(text)}`);
  return n;
}

export function checkWatchdog(ms: number): number {
  if (ms < MIN_WATCHDOG_MS) throw new GraceError('ERR_GRACE_USAGE', `--watchdog must be at least ${MIN_WATCHDOG_MS} ms, got ${ms}`);
  return ms;
}
