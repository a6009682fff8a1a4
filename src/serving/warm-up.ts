import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http as httpModule } from '../platform/builtin.js';
import { GraceError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import { listen } from '../sockets/server-listen.js';
import { socketPathIn } from '../sockets/unix-socket.js';

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
 * directory removed before the first real connection is accepted, and in
 * every other outcome: a failure, a stop during the warm-up (which aborts
 * it), an exit. The socket's path is never cut short at sun_path's 107
 * bytes: under a long TMPDIR it is reached through the directory's
 * descriptor (unix-socket.ts's socketPathIn), or made under /tmp.
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
  /** Requests sent. */
  sent: number;
  /** Requests that failed (a list of requests). */
  failed: number;
  /** Rounds begun, and those whose requests function threw (a function). */
  rounds: number;
  failedRounds: number;
  firstFailure: string | undefined;
}

/** What a warm-up needs from the generation running it. */
export interface WarmUpContext {
  logger: Log;
  host: ProcessHost;
  /** Aborted by a stop: no request is sent after it, those in flight are cut, and warmUp() resolves. */
  signal: AbortSignal;
}

/**
 * Warms every target that serves HTTP/1 through 'request' listeners. Resolves
 * once done (or at the timeout, or once aborted); rejects with
 * ERR_GRACE_WARM_UP only when `failOnError` is set and the warm-up failed.
 */
export async function warmUp(targets: ReadonlyArray<{ server: Server }>, options: ResolvedWarmUp, { logger, host, signal }: WarmUpContext): Promise<void> {
  const started = performance.now();
  const tally: Tally = { sent: 0, failed: 0, rounds: 0, failedRounds: 0, firstFailure: undefined };
  const servers = targets.map((t) => t.server).filter(servesHttp1);
  if (servers.length === 0) {
    logger.warn('warmUp is set, but no server here serves HTTP/1 through a request listener: nothing to warm', { event: 'warm-up' });
    return;
  }
  let failure: string | undefined;
  for (const server of servers) {
    if (signal.aborted) break;
    let channel: Channel;
    try {
      channel = await openChannel(server, host);
    } catch (err) {
      failure = `warm-up could not open its private channel: ${(err as Error).message}`;
      break;
    }
    try {
      await sendAll(channel.socketPath, options, tally, started + options.timeout, signal);
    } finally {
      await channel.close();
    }
  }
  const ms = Math.round(performance.now() - started);
  const fields = { event: 'warm-up', requests: tally.sent, failed: tally.failed, failedRounds: tally.failedRounds, durationMs: ms };
  if (signal.aborted) {
    logger.info(`warm-up stopped after ${tally.sent} requests in ${ms} ms: pid ${host.pid} is stopping`, { ...fields, event: 'warm-up-stopped' });
    return;
  }
  const isFunction = typeof options.requests === 'function';
  failure ??= failureOf(tally, isFunction);
  if (failure === undefined) {
    if (tally.sent > 0) logger.info(`warmed up with ${tally.sent} requests in ${ms} ms`, fields);
    else logger.warn(`warm-up sent no request: ${isFunction ? 'the requests function sent none' : `its ${options.timeout} ms timeout passed before the first`}`, fields);
    return;
  }
  if (options.failOnError) throw new GraceError('ERR_GRACE_WARM_UP', failure);
  logger.warn(`${failure}; serving anyway`, fields);
}

// A list counts failed requests; a function counts the rounds it threw in
// (it reads its own answers, and may send none before it throws).
function failureOf(tally: Tally, isFunction: boolean): string | undefined {
  const first = ` (first: ${tally.firstFailure})`;
  if (isFunction) return tally.failedRounds === 0 ? undefined : `the warm-up requests function failed in ${tally.failedRounds} of ${tally.rounds} rounds${first}`;
  return tally.failed === 0 ? undefined : `${tally.failed} of ${tally.sent} warm-up requests failed${first}`;
}

// http2 servers have 'request' listeners too, but for other request objects.
function servesHttp1(server: Server): boolean {
  return server.listenerCount('request') > 0 && typeof (server as { updateSettings?: unknown }).updateSettings !== 'function';
}

interface Channel {
  socketPath: string;
  /** Closes the server and its connections, then removes the socket and its directory. */
  close(): Promise<void>;
}

/** A server sharing `target`'s request listeners, on a socket in a fresh 0700 directory. */
async function openChannel(target: Server, host: ProcessHost): Promise<Channel> {
  const { dir, socket } = privateSocket();
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    socket.release();
    rmSync(dir, { recursive: true, force: true });
  };
  // Should the process end mid-warm-up (process.exit, an uncaught error), the directory goes too.
  const stopWatchingExit = host.onExit(remove);
  const server = httpModule().createServer();
  // The listeners as they are now: the app's handler (and grace's drainer, which ignores sockets it never saw).
  for (const listener of target.listeners('request')) server.on('request', listener as (...args: unknown[]) => void);
  const close = async () => {
    server.closeAllConnections();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
    stopWatchingExit();
    remove();
  };
  try {
    await listen(server, { path: socket.path });
  } catch (err) {
    await close();
    throw err;
  }
  return { socketPath: socket.path, close };
}

// Under TMPDIR (the user's choice); only where its name cannot be reached
// within sun_path (no /proc), under /tmp.
function privateSocket(base = tmpdir()): { dir: string; socket: ReturnType<typeof socketPathIn> } {
  const dir = mkdtempSync(join(base, 'grace-warm-'));
  try {
    return { dir, socket: socketPathIn(dir, 'warm.sock') };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    if (base === '/tmp') throw err;
    return privateSocket('/tmp');
  }
}

async function sendAll(socketPath: string, options: ResolvedWarmUp, tally: Tally, deadline: number, signal: AbortSignal): Promise<void> {
  const agent = new (httpModule().Agent)({ keepAlive: true, maxSockets: options.concurrency });
  const inFlight = new Set<http.ClientRequest>();
  const going = () => performance.now() < deadline && !signal.aborted;
  const noteFailure = (what: string) => {
    tally.firstFailure ??= what;
  };
  const send: WarmUpSend = (request) => {
    const r = typeof request === 'string' ? { path: request } : request;
    tally.sent++;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Error(`${r.path}: the warm-up was stopped`));
      if (performance.now() >= deadline) return reject(new Error(`${r.path}: the warm-up's ${options.timeout} ms timeout passed`));
      const req = httpModule().request(
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
  const cut = (why: string) => {
    for (const req of inFlight) req.destroy(new Error(why));
  };
  const timer = setTimeout(() => cut(`cut at the warm-up's ${options.timeout} ms timeout`), Math.max(0, deadline - performance.now()));
  const onAbort = () => cut('cut: the warm-up was stopped');
  signal.addEventListener('abort', onAbort);
  try {
    const { requests } = options;
    for (let round = 0; round < options.rounds && going(); round++) {
      tally.rounds++;
      if (typeof requests === 'function') {
        await requests(send).catch((err: Error) => {
          tally.failedRounds++;
          noteFailure(err?.message ?? String(err));
        });
        continue;
      }
      // Up to `concurrency` at once, in the list's order.
      let next = 0;
      const worker = async () => {
        while (next < requests.length && going()) {
          const r = requests[next++]!;
          try {
            const { status } = await send(r);
            if (status >= 500) throw new Error(`${r.path}: status ${status}`);
          } catch (err) {
            tally.failed++;
            noteFailure((err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency, requests.length) }, worker));
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    agent.destroy();
  }
}
