import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraceError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';
import { listen } from '../sockets/server-listen.js';

/*
 * Warming a generation before it accepts. A fresh process runs its first
 * requests in V8's interpreter, several times slower than the same requests a
 * second later; under load they queue behind each other, and that is a
 * restart's p99. So, after the ready hook and before the sockets are adopted,
 * grace sends requests through the app's own handlers, over a private
 * channel: a temporary http.Server that shares the target server's 'request'
 * listeners (plain http, Express, Fastify and Koa all serve through one),
 * listening on a unix socket in a fresh directory only this user can enter
 * (mkdtemp makes it 0700). No client can reach it, and it is closed and its
 * directory removed before the first real connection is accepted.
 *
 * Not warmed: TLS (the channel is plain HTTP), HTTP/2 servers, and servers
 * with no 'request' listener (net, gRPC).
 */

/** One warm-up request. A plain string is `{ path }`. */
export interface WarmUpRequest {
  /** Path and query, starting with '/'. */
  path: string;
  /** Default 'GET'. */
  method?: string;
  /** Added to the defaults (`host: localhost`, `x-grace-warm-up: 1`). */
  headers?: Record<string, string>;
  body?: string;
}

/** What a warm-up request got back (the body read whole, as UTF-8). */
export interface WarmUpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends one request through the private channel. Rejects on a socket error or at the warm-up's timeout. */
export type WarmUpSend = (request: string | WarmUpRequest) => Promise<WarmUpResponse>;

/**
 * Requests a generation sends itself, through its own handlers, before it
 * accepts its first client: so the first clients meet JIT-compiled code.
 * Every request carries `x-grace-warm-up: 1`, for an app that wants to leave
 * them out of its metrics.
 *
 * @example warmUp: { requests: ['/', '/api/items?limit=10'] }
 * @example warmUp: { requests: async (send) => { const { body } = await send('/login'); await send({ path: '/api', headers: { cookie: body } }); } }
 */
export interface WarmUpOptions {
  /**
   * The requests of one round, sent `rounds` times; or a function that sends
   * its own (called once per round, with `send`).
   */
  requests: ReadonlyArray<string | WarmUpRequest> | ((send: WarmUpSend) => Promise<void>);
  /** How many times the requests are sent. Default 100. */
  rounds?: number;
  /** Requests in flight at once, over keep-alive connections. Default 4. */
  concurrency?: number;
  /**
   * The whole warm-up's deadline: then requests in flight are cut (and count
   * as failed) and the generation goes on to serve. Default 3000.
   */
  timeout?: number;
  /**
   * A failed warm-up request (a socket error, a status of 500 or more, a
   * `requests` function that throws) is logged as a warning and the
   * generation serves anyway, unless this is true: then start() fails with
   * ERR_GRACE_WARM_UP, and on a restart the old generation keeps serving.
   * Default false.
   */
  failOnError?: boolean;
}

/** {@link WarmUpOptions} with its defaults (options.ts's DEFAULTS.warmUp) applied. */
export interface ResolvedWarmUp {
  requests: ReadonlyArray<WarmUpRequest> | ((send: WarmUpSend) => Promise<void>);
  rounds: number;
  concurrency: number;
  timeout: number;
  failOnError: boolean;
}

interface Tally {
  sent: number;
  failed: number;
  firstFailure: string | undefined;
}

/**
 * Warms every target that serves HTTP/1 through 'request' listeners. Resolves
 * once done (or at the timeout); rejects with ERR_GRACE_WARM_UP only when
 * `failOnError` is set and a request failed.
 */
export async function warmUp(targets: ReadonlyArray<{ server: Server }>, options: ResolvedWarmUp, logger: Log): Promise<void> {
  const started = performance.now();
  const tally: Tally = { sent: 0, failed: 0, firstFailure: undefined };
  const servers = targets.map((t) => t.server).filter(servesHttp1);
  if (servers.length === 0) {
    logger.warn('warmUp is set, but no server here serves HTTP/1 through a request listener: nothing to warm', { event: 'warm-up' });
    return;
  }
  for (const server of servers) await warmOne(server, options, tally, started + options.timeout);
  const ms = Math.round(performance.now() - started);
  const fields = { event: 'warm-up', requests: tally.sent, failed: tally.failed, durationMs: ms };
  if (tally.failed === 0) {
    logger.info(`warmed up with ${tally.sent} requests in ${ms} ms`, fields);
    return;
  }
  const message = `${tally.failed} of ${tally.sent} warm-up requests failed (first: ${tally.firstFailure})`;
  if (options.failOnError) throw new GraceError('ERR_GRACE_WARM_UP', message);
  logger.warn(`${message}; serving anyway`, fields);
}

// http2 servers have 'request' listeners too, but for other request objects.
function servesHttp1(server: Server): boolean {
  return server.listenerCount('request') > 0 && typeof (server as { updateSettings?: unknown }).updateSettings !== 'function';
}

async function warmOne(target: Server, options: ResolvedWarmUp, tally: Tally, deadline: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'grace-warm-'));
  const socketPath = join(dir, 'warm.sock');
  const channel = http.createServer();
  // The listeners as they are now: the app's handler (and grace's drainer, which ignores sockets it never saw).
  for (const listener of target.listeners('request')) channel.on('request', listener as (...args: unknown[]) => void);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const inFlight = new Set<http.ClientRequest>();
  const fail = (what: string) => {
    tally.failed++;
    tally.firstFailure ??= what;
  };
  const send: WarmUpSend = (request) => {
    const r = typeof request === 'string' ? { path: request } : request;
    tally.sent++;
    return new Promise((resolve, reject) => {
      if (performance.now() >= deadline) return reject(new Error(`${r.path}: the warm-up's ${options.timeout} ms timeout passed`));
      const req = http.request(
        { socketPath, agent, method: r.method ?? 'GET', path: r.path, headers: { host: 'localhost', 'x-grace-warm-up': '1', ...r.headers } },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
          res.on('error', reject);
        },
      );
      inFlight.add(req);
      req.on('close', () => inFlight.delete(req));
      req.on('error', (err) => reject(new Error(`${r.path}: ${err.message}`)));
      req.end(r.body);
    });
  };
  const timer = setTimeout(() => {
    for (const req of inFlight) req.destroy(new Error(`cut at the warm-up's ${options.timeout} ms timeout`));
  }, Math.max(0, deadline - performance.now()));
  try {
    await listen(channel, { path: socketPath });
    const { requests } = options;
    for (let round = 0; round < options.rounds && performance.now() < deadline; round++) {
      if (typeof requests === 'function') {
        await requests(send).catch((err: Error) => fail(err?.message ?? String(err)));
        continue;
      }
      // Up to `concurrency` at once, in the list's order.
      let next = 0;
      const worker = async () => {
        while (next < requests.length && performance.now() < deadline) {
          const r = requests[next++]!;
          try {
            const { status } = await send(r);
            if (status >= 500) fail(`${r.path}: status ${status}`);
          } catch (err) {
            fail((err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency, requests.length) }, worker));
    }
  } finally {
    clearTimeout(timer);
    agent.destroy();
    channel.closeAllConnections();
    await new Promise((resolve) => channel.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
