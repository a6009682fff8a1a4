import type http from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Server } from 'node:net';
import { deadline } from '../platform/deadline.js';
import { checkDuration } from '../platform/duration.js';
import { GraceError } from '../platform/errors.js';
import { resolveLogger, type Log, type Logger } from '../platform/logger.js';
import { currentGeneration } from '../platform/current-generation.js';

/*
 * Health and readiness for load balancers and kubelets, without app code.
 *
 * Readiness follows the generation's lifecycle (`Graceful.isReady()`): 503
 * while starting and from the first moment of a stop, so an instance leaves
 * rotation while its listener still accepts; then the app's own checks, run
 * together, each under a timeout, shared by probes that arrive while they run
 * (a slow database is asked once, not once per probe). Liveness is 200 as
 * long as the process answers, draining included: a kubelet that restarted a
 * draining pod would cut the requests the drain is finishing.
 *
 * Installed as a serve option, the handler takes the server's 'request'
 * listeners as they are when `serve()` / `start()` is called (Express, Fastify
 * and Koa attach theirs when the server is made) and answers the health paths
 * before them. grace's drain listener is put in front of it afterwards, so the
 * drain still sees every request, probes included, and makes them close their
 * connection once draining. Listeners an app adds after `serve()` would see
 * the probes too: attach them before.
 */

/** Health paths and readiness checks. Durations are milliseconds. */
export interface HealthOptions {
  /** Liveness path: 200 while the process answers, draining included. Default `'/livez'`. */
  live?: string;
  /** Readiness path: 200 while serving and every check passes, else 503. Default `'/readyz'`. */
  ready?: string;
  /**
   * Readiness checks by name, run on each readiness probe while serving (probes
   * that arrive while they run share the result). A check passes when it
   * returns or resolves `true`; `false`, a throw, a rejection or the timeout
   * fail it, and the body names it.
   */
  checks?: Record<string, () => boolean | Promise<boolean>>;
  /** How long each check may take. Default 500 (below kubelet's default probe timeout of 1 s). */
  checkTimeout?: number;
}

/** The standalone handler's options: {@link HealthOptions} and where to log failing checks. */
export interface HealthHandlerOptions extends HealthOptions {
  /** Where a check that starts or stops failing is logged (default: stderr); `false` silences it. */
  logger?: Logger | false;
}

/** Options after validation; `undefined` when health is off. */
export interface ResolvedHealth {
  live: string;
  ready: string;
  checks: Array<[name: string, check: () => boolean | Promise<boolean>]>;
  checkTimeout: number;
}

/** The defaults of {@link HealthOptions}. */
export const HEALTH_DEFAULTS = { live: '/livez', ready: '/readyz', checkTimeout: 500 } as const;

/** Validates the `health` serve option (or the standalone handler's options). */
export function resolveHealth(value: unknown, name = 'options.health'): ResolvedHealth | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) value = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GraceError('ERR_GRACE_OPTIONS', `${name} must be true, false or { live?, ready?, checks?, checkTimeout? }, got ${JSON.stringify(value)}`);
  }
  const options = value as HealthHandlerOptions;
  const path = (key: 'live' | 'ready') => {
    const p = options[key] ?? HEALTH_DEFAULTS[key];
    if (typeof p !== 'string' || !/^\/[^?#\s]*$/.test(p)) {
      throw new GraceError('ERR_GRACE_OPTIONS', `${name}.${key} must be a path starting with '/' (no query or spaces), like '${HEALTH_DEFAULTS[key]}'; got ${JSON.stringify(p)}`);
    }
    return p;
  };
  const live = path('live');
  const ready = path('ready');
  if (live === ready) throw new GraceError('ERR_GRACE_OPTIONS', `${name}.live and ${name}.ready must differ, both are ${JSON.stringify(live)}`);
  const checks = options.checks ?? {};
  if (typeof checks !== 'object' || checks === null || Array.isArray(checks)) {
    throw new GraceError('ERR_GRACE_OPTIONS', `${name}.checks must be an object of named functions, like { db: () => pool.ping() }; got ${JSON.stringify(checks)}`);
  }
  for (const [check, fn] of Object.entries(checks)) {
    if (typeof fn !== 'function') throw new GraceError('ERR_GRACE_OPTIONS', `${name}.checks.${check} must be a function returning a boolean or a promise of one, got ${typeof fn}`);
  }
  const checkTimeout = checkDuration(`${name}.checkTimeout`, options.checkTimeout ?? HEALTH_DEFAULTS.checkTimeout, { positive: true });
  return { live, ready, checks: Object.entries(checks), checkTimeout };
}

/** How each check came out: `ok`, `failed` (false), `error` (threw or rejected) or `timeout`. */
export type CheckResult = 'ok' | 'failed' | 'error' | 'timeout';

/** The JSON body of a health response. */
export interface HealthBody {
  status: 'live' | 'ready' | 'unavailable';
  /** Readiness only, once serving: each check's result. */
  checks?: Record<string, CheckResult>;
}

/**
 * Answers a request if it is for a health path (then returns `true`), else
 * leaves it alone and returns `false`. Works on http, https and http2
 * compatibility requests.
 */
export type HealthHandler = (req: http.IncomingMessage | Http2ServerRequest, res: http.ServerResponse | Http2ServerResponse) => boolean;

/**
 * A handler for apps that route requests themselves: answers `live` and
 * `ready` (default `/livez`, `/readyz`) from the generation `gracehttp`
 * serves in this process, and returns `false` for any other request. Before
 * `serve()` and after its stop, readiness is 503.
 *
 * @example app.use((req, res, next) => probes(req, res) || next()) // Express
 * @example koa.use((ctx, next) => (probes(ctx.req, ctx.res) ? (ctx.respond = false) : next()))
 */
export function health(options: HealthHandlerOptions = {}): HealthHandler {
  const resolved = resolveHealth(options, 'health()')!;
  return healthHandler(resolved, servingInThisProcess, resolveLogger(options.logger));
}

// Read at each probe: the generation may start after the handler was made.
// The slot is shared by every copy of the package (an app may load both the
// ESM and the CommonJS build), so a copy of another version may hold it.
function servingInThisProcess(): boolean {
  const generation = currentGeneration();
  return typeof generation?.isReady === 'function' && generation.isReady();
}

/** The handler, reading readiness from `isReady`. */
export function healthHandler(options: ResolvedHealth, isReady: () => boolean, log: Log): HealthHandler {
  let running: Promise<Record<string, CheckResult>> | undefined;
  // Which checks failed on the previous run: logged when that changes, not on every probe.
  const failing = new Set<string>();
  const runChecks = () =>
    (running ??= Promise.all(options.checks.map(async ([name, check]) => [name, await runCheck(check, options.checkTimeout)] as const))
      .then((results) => {
        for (const [name, result] of results) noteResult(name, result);
        return Object.fromEntries(results);
      })
      .finally(() => (running = undefined)));
  const noteResult = (name: string, result: CheckResult) => {
    if (result === 'ok' && failing.delete(name)) log.info(`readiness check ${name} passes again`, { event: 'health-check-recovered', check: name });
    if (result !== 'ok' && !failing.has(name)) {
      failing.add(name);
      log.warn(`readiness check ${name} failing (${result}): /readyz answers 503`, { event: 'health-check-failed', check: name, result });
    }
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (path !== options.live && path !== options.ready) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, undefined, isReady());
      return true;
    }
    const ready = isReady();
    if (path === options.live) send(req, res, 200, { status: 'live' }, ready);
    else if (!ready) send(req, res, 503, { status: 'unavailable' }, ready);
    else if (options.checks.length === 0) send(req, res, 200, { status: 'ready', checks: {} }, ready);
    else {
      void runChecks().then((checks) => {
        // A stop may have begun while the checks ran.
        const stillReady = isReady();
        const ok = stillReady && Object.values(checks).every((c) => c === 'ok');
        send(req, res, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable', checks }, stillReady);
      });
    }
    return true;
  };
}

function runCheck(check: () => boolean | Promise<boolean>, timeout: number): Promise<CheckResult> {
  const outcome = (async (): Promise<CheckResult> => ((await check()) === true ? 'ok' : 'failed'))().catch((): CheckResult => 'error');
  return deadline(outcome, timeout, 'timeout', { ref: false });
}

function send(req: http.IncomingMessage | Http2ServerRequest, res: http.ServerResponse | Http2ServerResponse, status: number, body: HealthBody | undefined, ready: boolean): void {
  const r = res as http.ServerResponse;
  if (r.headersSent || r.writableEnded || r.destroyed) return; // the client went away while checks ran
  const text = body === undefined ? '' : `${JSON.stringify(body)}\n`;
  r.statusCode = status;
  r.setHeader('cache-control', 'no-store');
  if (status === 405) r.setHeader('allow', 'GET, HEAD');
  if (body) r.setHeader('content-type', 'application/json');
  r.setHeader('content-length', Buffer.byteLength(text));
  // Not serving (starting, stopping): let the prober's next connection find
  // whoever serves. HTTP/2 has no Connection header (its session closes with GOAWAY).
  if (!ready && req.httpVersionMajor < 2) r.shouldKeepAlive = false;
  r.end(req.method === 'HEAD' ? undefined : text);
}

/**
 * Answers the health paths on each server ahead of the app: the 'request'
 * listeners a server has now are moved behind one that answers probes and
 * passes every other request on to them, in order. A server that emits no
 * 'request' (net, gRPC) never calls it.
 */
export function installHealth(servers: Server[], options: ResolvedHealth | undefined, isReady: () => boolean, log: Log): void {
  if (!options) return;
  const handler = healthHandler(options, isReady, log);
  for (const server of servers) {
    const app = server.rawListeners('request') as Array<(...args: unknown[]) => void>;
    server.removeAllListeners('request');
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (handler(req, res)) return;
      for (const listener of app) listener.call(server, req, res);
    });
  }
}
