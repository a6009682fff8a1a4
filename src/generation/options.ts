import { checkDuration, stopDelayFromEnv } from '../platform/duration.js';
import { GraceError } from '../platform/errors.js';
import { checkSignals, signalName } from '../platform/signal-names.js';
import { resolveHealth, type HealthOptions, type ResolvedHealth } from '../serving/health.js';
import type { Logger } from '../platform/logger.js';
import type { Net } from '../sockets/net.js';
import type { ProcessHost } from '../platform/process-host.js';
import type { Shutdown } from '../shutdown/shutdown.js';
import type { ResolvedWarmUp, WarmUpOptions, WarmUpRequest } from '../serving/warm-up.js';
import { checkWebSocketServers, type WebSocketServerLike } from '../serving/web-sockets.js';

/** Options for `gracehttp.serve` / `gracehttp.start`. Durations are milliseconds. */
export interface ServeOptions {
  /** Signal that starts the next generation; `false` disables hot restart. Default `'SIGUSR2'`. */
  restartSignal?: NodeJS.Signals | false;
  /**
   * Whether a file watcher (nodemon, `node --watch`, `tsx watch`) runs this
   * process. Under one the restart signal is a graceful stop (the watcher
   * restarts the app) and `restart()` is refused. `'auto'` (the default)
   * detects it, and then `GRACE_WATCH=1` or `GRACE_WATCH=0` in the environment
   * decides instead; `true` or `false` here decides over both.
   */
  devWatcher?: 'auto' | boolean;
  /** Signals that mean a graceful stop. Default `['SIGINT', 'SIGTERM']`; a second one forces it. */
  stopSignals?: readonly NodeJS.Signals[];
  /** How long the next generation may take to become ready before it is killed. Default 30 000. */
  readyTimeout?: number;
  /**
   * The deadline for the whole stop: draining and every registered closer. Then
   * connections are destroyed and unfinished closers reported. Default: the
   * registry's timeout (30 000).
   */
  shutdownTimeout?: number;
  /**
   * On a stop signal (or `stop()`), keep accepting and serving this long
   * while readiness says "going away" (`isReady()` false, the health
   * handler's 503), so load balancers and Kubernetes take this instance out
   * of rotation before it stops accepting; then drain. A second stop signal
   * skips the rest. Not applied to a hot-restart handover (the successor
   * serves the same sockets) nor to a crash. Default: `GRACE_STOP_DELAY`
   * from the environment (set by `grace run --stop-delay`), else 0.
   */
  stopDelay?: number;
  /**
   * On an uncaught exception or unhandled rejection, log it with its stack,
   * stop gracefully (in-flight requests of other clients finish, closers
   * run) under the shutdown deadline, and exit with status 1. Without it,
   * Node's default applies: the process dies at once. Default false.
   */
  handleCrashes?: boolean;
  /** While draining, how long an idle keep-alive connection is given to send its next request. Default 500. */
  idleGrace?: number;
  /**
   * The app's WebSocket servers (`ws`' `WebSocketServer`, socket.io's
   * `Server`): as a drain begins, each open client is closed with 1001
   * "going away" (socket.io: its transport is closed), and the close
   * handshake is waited for until `upgradeTimeout`. Without it, grace closes
   * upgraded connections only at `upgradeTimeout`, with a FIN (the client
   * sees 1006), and says so. See docs/long-lived.md.
   *
   * @example webSockets: wss
   */
  webSockets?: WebSocketServerLike | readonly WebSocketServerLike[];
  /**
   * How long, from the start of a drain, upgraded connections (WebSockets)
   * are given to close: the close handshakes `webSockets` began, or the
   * app's own closing. Those still open are then closed by grace (spread by
   * `reconnectSpread`), not counted as forced. Capped by `shutdownTimeout`.
   * Default 3000.
   */
  upgradeTimeout?: number;
  /**
   * The longest window over which a drain spreads the closes of long-lived
   * connections (WebSocket clients, Server-Sent Events streams), so that
   * their clients reconnect to the new generation a few at a time, not all
   * at once: one close per millisecond (1 000 connections: 1 s), faster
   * when that would take longer than this. 0 closes them all at once.
   * Default 2000.
   */
  reconnectSpread?: number;
  /**
   * Keep the next generation booted ahead of time: once this generation
   * serves, it starts the next one (same node, flags, script, cwd, sockets)
   * and parks it before any preload or app code runs; the restart signal
   * releases it with the environment of that moment, and it loads the app
   * from disk then. A restart then costs the app's start-up, not node's. Falls
   * back to a fresh spawn when the node binary, node's flags or a variable
   * read only at exec or boot (NODE_*, LD_*, MALLOC_*, LANG, …; listed in
   * docs/standby.md) changed since it booted, or it is not parked. Costs one idle
   * node process. Default: `GRACE_STANDBY=1` in the environment, else false.
   * See docs/standby.md.
   */
  standby?: boolean;
  /** Runs in the old generation before the new one is started (Go grace's PreStartProcess). */
  beforeRestart?: () => void | Promise<void>;
  /**
   * Runs before this generation accepts anything (the sockets are adopted or
   * bound just after it resolves); the previous generation is told to go only
   * after that.
   */
  ready?: () => void | Promise<void>;
  /**
   * Requests this generation sends through its own HTTP handlers after the
   * ready hook and before it accepts its first client, over a private unix
   * socket no client can reach, so that clients meet warm (JIT-compiled) code
   * after a restart. Paths, or {@link WarmUpOptions}. Off by default. See
   * warm-up.ts.
   *
   * @example warmUp: ['/', '/api/items']
   */
  warmUp?: ReadonlyArray<string | WarmUpRequest> | WarmUpOptions;
  /**
   * Path of a pid file, written atomically (temp + rename) by each generation
   * once it is ready and removed on a final stop. Read by `grace reload` and
   * systemd's `PIDFile=`. Under `grace run`, the supervisor keeps its own.
   */
  pidFile?: string;
  /** Where lifecycle lines go (default: stderr); `false` silences them. */
  logger?: Logger | false;
  /**
   * After a signal-driven stop or handover has drained, exit the process (code 0)
   * if something still holds the event loop open one second later. Default true.
   */
  exit?: boolean;
  /**
   * The shutdown registry to drain through: its closers and tracked tasks run
   * after a handover or on a stop. Default: a registry of this server's own.
   */
  shutdown?: Shutdown;
  /**
   * Answer health probes on every server, ahead of the app's handler:
   * `live` (default `/livez`) is 200 while the process answers, draining
   * included; `ready` (default `/readyz`) is 200 while serving and every
   * check passes, 503 while starting, from the first moment of a stop, or
   * naming the checks that fail. `true` takes the defaults. Default off.
   */
  health?: boolean | HealthOptions;
}

/**
 * What tests put in place of the process (not part of {@link ServeOptions}:
 * an app never needs them). Reached through `startWith` in `serve.ts`.
 */
export interface ServeSeams {
  /** The fd inheritance to use (default: the process's own). */
  net?: Net;
  /** The process to act on (default: this one). */
  host?: ProcessHost;
}

export interface ResolvedOptions {
  restartSignal: NodeJS.Signals | false;
  devWatcher: 'auto' | boolean;
  stopSignals: NodeJS.Signals[];
  readyTimeout: number;
  shutdownTimeout: number | undefined;
  idleGrace: number;
  webSockets: WebSocketServerLike[];
  upgradeTimeout: number;
  reconnectSpread: number;
  stopDelay: number;
  handleCrashes: boolean;
  standby: boolean;
  beforeRestart: (() => void | Promise<void>) | undefined;
  ready: (() => void | Promise<void>) | undefined;
  warmUp: ResolvedWarmUp | undefined;
  pidFile: string | undefined;
  exit: boolean;
  health: ResolvedHealth | undefined;
}

/** The defaults of {@link ServeOptions}, in one place. */
export const DEFAULTS = {
  restartSignal: 'SIGUSR2',
  devWatcher: 'auto',
  stopSignals: ['SIGINT', 'SIGTERM'],
  readyTimeout: 30_000,
  shutdownTimeout: 30_000,
  idleGrace: 500,
  upgradeTimeout: 3000,
  reconnectSpread: 2000,
  stopDelay: 0,
  handleCrashes: false,
  standby: false,
  exit: true,
  warmUp: { rounds: 100, concurrency: 4, timeout: 3000, failOnError: false },
} as const satisfies Partial<Omit<ResolvedOptions, 'warmUp'>> & { warmUp: Omit<ResolvedWarmUp, 'requests'> };

export function resolveOptions(options: ServeOptions, env: NodeJS.ProcessEnv = {}): ResolvedOptions {
  return {
    ...signalOptions(options.restartSignal, options.stopSignals),
    devWatcher: devWatcher(options.devWatcher),
    readyTimeout: duration('readyTimeout', options.readyTimeout, DEFAULTS.readyTimeout),
    // Unset: the shutdown registry's own timeout (DEFAULTS.shutdownTimeout unless it was given another).
    shutdownTimeout: options.shutdownTimeout === undefined ? undefined : duration('shutdownTimeout', options.shutdownTimeout, DEFAULTS.shutdownTimeout),
    idleGrace: duration('idleGrace', options.idleGrace, DEFAULTS.idleGrace),
    webSockets: checkWebSocketServers('options.webSockets', options.webSockets),
    upgradeTimeout: duration('upgradeTimeout', options.upgradeTimeout, DEFAULTS.upgradeTimeout),
    reconnectSpread: duration('reconnectSpread', options.reconnectSpread, DEFAULTS.reconnectSpread),
    stopDelay: options.stopDelay === undefined ? stopDelayFromEnv(env) : duration('stopDelay', options.stopDelay, DEFAULTS.stopDelay),
    handleCrashes: flag('handleCrashes', options.handleCrashes, DEFAULTS.handleCrashes),
    standby: options.standby === undefined ? standbyFromEnv(env) : flag('standby', options.standby, DEFAULTS.standby),
    beforeRestart: hook('beforeRestart', options.beforeRestart),
    ready: hook('ready', options.ready),
    warmUp: warmUp(options.warmUp),
    pidFile: options.pidFile === undefined ? undefined : nonEmpty('pidFile', options.pidFile),
    exit: options.exit ?? DEFAULTS.exit,
    health: resolveHealth(options.health),
  };
}

function duration(name: string, value: number | undefined, fallback: number): number {
  return value === undefined ? fallback : checkDuration(`options.${name}`, value);
}

function standbyFromEnv(env: NodeJS.ProcessEnv): boolean {
  const raw = env.GRACE_STANDBY;
  if (raw === undefined || raw === '') return DEFAULTS.standby;
  if (raw !== '0' && raw !== '1') throw new GraceError('ERR_GRACE_OPTIONS', `GRACE_STANDBY must be 1 or 0, got ${JSON.stringify(raw)}`);
  return raw === '1';
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new GraceError('ERR_GRACE_OPTIONS', `options.${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function devWatcher(value: unknown): 'auto' | boolean {
  if (value === undefined) return DEFAULTS.devWatcher;
  if (value !== 'auto' && typeof value !== 'boolean') {
    throw new GraceError('ERR_GRACE_OPTIONS', `options.devWatcher must be 'auto', true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * `restartSignal` and `stopSignals`: real signal names this OS has, that a
 * process can catch, each given once; the restart signal must not also mean
 * stop (it would silently turn every restart into a stop).
 */
function signalOptions(restart: unknown, stop: unknown): { restartSignal: NodeJS.Signals | false; stopSignals: NodeJS.Signals[] } {
  const restartSignal = restart === false ? false : restart === undefined ? DEFAULTS.restartSignal : signalName('options.restartSignal', restart, 'a signal name or false');
  let stopSignals: NodeJS.Signals[] = [...DEFAULTS.stopSignals];
  if (stop !== undefined) {
    if (!Array.isArray(stop)) throw new GraceError('ERR_GRACE_OPTIONS', `options.stopSignals must be an array of signal names, like ['SIGINT', 'SIGTERM']; got ${describe(stop)}`);
    stopSignals = checkSignals('options.stopSignals', stop);
  }
  if (restartSignal !== false && stopSignals.includes(restartSignal)) {
    throw new GraceError('ERR_GRACE_OPTIONS', `options.restartSignal ${restartSignal} is also in options.stopSignals (${stopSignals.join(', ')}): one signal cannot both restart and stop`);
  }
  return { restartSignal, stopSignals };
}

function nonEmpty(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new GraceError('ERR_GRACE_OPTIONS', `options.${name} must be a non-empty path, got ${JSON.stringify(value)}`);
  }
  return value;
}

function hook<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new GraceError('ERR_GRACE_OPTIONS', `options.${name} must be a function, got ${typeof value}`);
  }
  return value;
}

function warmUp(value: ServeOptions['warmUp']): ResolvedWarmUp | undefined {
  if (value === undefined) return undefined;
  const bad = (what: string, got: unknown) => new GraceError('ERR_GRACE_OPTIONS', `options.warmUp${what}, got ${describe(got)}`);
  const options: WarmUpOptions = Array.isArray(value) ? { requests: value } : (value as WarmUpOptions);
  if (typeof options !== 'object' || options === null) throw bad(' must be a list of paths or { requests, … }', value);
  const { requests } = options;
  let resolved: ResolvedWarmUp['requests'];
  if (typeof requests === 'function') resolved = requests;
  else if (Array.isArray(requests) && requests.length > 0) resolved = requests.map((r, i) => warmUpRequest(r, i));
  else throw bad('.requests must be a non-empty list of paths (like \'/api/items\') or a function (send) => Promise<void>', requests);
  const count = (name: 'rounds' | 'concurrency') => {
    const v = options[name];
    if (v === undefined) return DEFAULTS.warmUp[name];
    if (!Number.isInteger(v) || v! < 1) throw bad(`.${name} must be a whole number of at least 1`, v);
    return v!;
  };
  if (options.failOnError !== undefined && typeof options.failOnError !== 'boolean') throw bad('.failOnError must be true or false', options.failOnError);
  return {
    requests: resolved,
    rounds: count('rounds'),
    concurrency: count('concurrency'),
    timeout: duration('warmUp.timeout', options.timeout, DEFAULTS.warmUp.timeout),
    failOnError: options.failOnError ?? DEFAULTS.warmUp.failOnError,
  };
}

function warmUpRequest(value: unknown, i: number): WarmUpRequest {
  const r = typeof value === 'string' ? { path: value } : (value as WarmUpRequest);
  if (typeof r !== 'object' || r === null || typeof r.path !== 'string' || !r.path.startsWith('/')) {
    throw new GraceError('ERR_GRACE_OPTIONS', `options.warmUp.requests[${i}] must be a path starting with '/' or { path, method?, headers?, body? }, got ${describe(value)}`);
  }
  return r;
}

function describe(value: unknown): string {
  return typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
}
