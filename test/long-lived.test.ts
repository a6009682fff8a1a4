// Long-lived connections across a restart and a stop, through real
// processes, real `ws`, socket.io and SSE clients: WebSockets handed to grace
// close with 1001 at once, bare ones at upgradeTimeout, event streams end
// cleanly, every client comes back on the new pid, and the old process exits
// 0 (docs/long-lived.md). Under `grace run`: long-lived-workers.test.ts.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import { test, type TestContext } from 'node:test';
import { io as socketIo } from 'socket.io-client';
import { WebSocketServer } from 'ws';
import { LiveEventSource, LiveWebSocket, type Target } from '../bench/live-clients.ts';
import { gracehttp, type GraceError } from '../src/index.ts';
import { ClosePace } from '../src/serving/close-pace.ts';
import { testService, type Reply } from './fixtures/grpc-service.ts';
import { portOf, startFixture, waitUntil, type Fixture } from './helpers.ts';

const LIVE_APP = new URL('./fixtures/live-app.ts', import.meta.url).pathname;
const GRPC_APP = new URL('./fixtures/grpc-app.ts', import.meta.url).pathname;
const GrpcClient = grpc.makeGenericClientConstructor(testService, 'Test');
const local = { port: 0, host: '127.0.0.1' };

function live(t: TestContext, config: object): Fixture {
  return startFixture(t, config, {}, { file: process.execPath, args: ['--import', 'tsx', LIVE_APP] });
}

function clients(t: TestContext, target: Target, webSockets: number, eventSources: number) {
  const ws = Array.from({ length: webSockets }, () => new LiveWebSocket(target));
  const sse = Array.from({ length: eventSources }, () => new LiveEventSource(target));
  const all = [...ws, ...sse];
  t.after(() => all.forEach((c) => c.stop()));
  return { ws, sse, all, on: (accept: (pid: number) => boolean) => Promise.all(all.map((c) => c.connectedTo(accept))) };
}

async function exitOf(app: Fixture, pid: number): Promise<number> {
  return (await app.waitFor((e) => e.event === 'exit' && e.pid === pid)).code as number;
}

test('USR2 with webSockets given: every WebSocket closes with 1001, every event stream ends cleanly, all come back on the new pid, the old one exits 0 at once', { timeout: 60_000 }, async (t) => {
  // upgradeTimeout far beyond the waits below: the close handshakes end the drain, not the bound.
  const app = live(t, { listen: local, webSockets: 'handed', options: { upgradeTimeout: 60_000 } });
  const first = await app.ready();
  const c = clients(t, { host: '127.0.0.1', port: portOf(first) }, 5, 5);
  await c.on((pid) => pid === first.pid);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  await c.on((pid) => pid === second.pid);
  assert.equal(await exitOf(app, first.pid), 0);
  assert.deepEqual(c.ws.map((w) => w.closeCodes), c.ws.map(() => [1001]));
  assert.deepEqual(c.sse.map((s) => s.ends), c.sse.map(() => ['clean']));
  assert.ok(c.sse.every((s) => s.retryMs === 100), 'the last chunk set the reconnection time');
  assert.deepEqual(app.events.find((e) => e.event === 'stopped' && e.pid === first.pid)?.forced, 0);
  assert.match(app.log, /closing 10 long-lived connection\(s\) over \d+ ms: 5 WebSocket client\(s\) with 1001 going away, 5 event stream\(s\)/);
  assert.doesNotMatch(app.log, /forced|upgraded connection/);
});

test('USR2 with WebSockets grace was not given: closed at upgradeTimeout with a warning naming webSockets; event streams end at once; exit 0', { timeout: 60_000 }, async (t) => {
  const app = live(t, { listen: local, webSockets: 'bare', options: { upgradeTimeout: 1000 } });
  const first = await app.ready();
  const c = clients(t, { host: '127.0.0.1', port: portOf(first) }, 3, 3);
  await c.on((pid) => pid === first.pid);
  const signalled = performance.now();
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  await Promise.all(c.sse.map((s) => s.connectedTo((pid) => pid === second.pid)));
  await Promise.all(c.ws.map((w) => w.connectedTo((pid) => pid === second.pid)));
  assert.ok(performance.now() - signalled >= 1000, 'nothing closes a bare WebSocket before the bound');
  assert.equal(await exitOf(app, first.pid), 0);
  assert.deepEqual(c.ws.map((w) => w.closeCodes), c.ws.map(() => [1006]));
  assert.deepEqual(c.sse.map((s) => s.ends), c.sse.map(() => ['clean']));
  assert.match(app.log, /closing 3 upgraded connection\(s\) \(WebSockets\) still open 1000 ms into the drain.*webSockets: wss/);
  assert.doesNotMatch(app.log, /forced/);
});

test('socket.io given as webSockets: its clients reconnect to the new pid and the old one exits 0 at once', { timeout: 60_000 }, async (t) => {
  const app = live(t, { listen: local, webSockets: 'socket.io', options: { upgradeTimeout: 60_000 } });
  const first = await app.ready();
  const url = `http://127.0.0.1:${portOf(first)}`;
  const pids: number[][] = [];
  const sockets = Array.from({ length: 3 }, (_, i) => {
    pids[i] = [];
    const socket = socketIo(url, { reconnectionDelay: 50, reconnectionDelayMax: 200 });
    socket.on('hello', ({ pid }: { pid: number }) => pids[i]!.push(pid));
    return socket;
  });
  t.after(() => sockets.forEach((s) => s.disconnect()));
  await waitUntil(() => pids.every((p) => p.includes(first.pid)));
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  await waitUntil(() => pids.every((p) => p.at(-1) === second.pid), 15_000, () => `socket.io clients on ${second.pid}: ${JSON.stringify(pids)}`);
  assert.equal(await exitOf(app, first.pid), 0);
  assert.doesNotMatch(app.log, /forced|upgraded connection/);
});

test('h2c: an event stream on an HTTP/2 session gets GOAWAY, then ends cleanly with its last chunk; the old process exits 0', { timeout: 30_000 }, async (t) => {
  const app = live(t, { listen: local, kind: 'h2c' });
  const first = await app.ready();
  const session = http2.connect(`http://127.0.0.1:${portOf(first)}`);
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/events' });
  let body = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await app.waitFor((e) => e.event === 'event-stream');
  const goaway = once(session, 'goaway');
  const ended = once(stream, 'end');
  process.kill(first.pid, 'SIGUSR2');
  await goaway;
  await ended;
  assert.equal(body, `data: {"pid":${first.pid}}\n\n\nretry: 100\n\n`);
  assert.equal(await exitOf(app, first.pid), 0);
});

/** GET /stream, an endless chunked response: resolves how it ended. */
function endlessStream(port: number): { started: Promise<void>; ended: Promise<'end' | 'cut'> } {
  let started!: () => void;
  const ended = new Promise<'end' | 'cut'>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
      started();
      res.resume();
      res.on('error', () => {});
      res.on('end', () => resolve('end'));
      res.on('close', () => resolve('cut'));
    }).on('error', () => resolve('cut'));
  });
  return { started: new Promise((resolve) => (started = resolve)), ended };
}

test('an endless chunked response the app ends on shutdown.signal ends cleanly at a restart; exit 0', { timeout: 30_000 }, async (t) => {
  const app = live(t, { listen: local, endStreamsOnSignal: true, options: { upgradeTimeout: 60_000 } });
  const first = await app.ready();
  const stream = endlessStream(portOf(first));
  await stream.started;
  process.kill(first.pid, 'SIGUSR2');
  assert.equal(await stream.ended, 'end');
  assert.equal(await exitOf(app, first.pid), 0);
});

test('an endless chunked response nobody ends is named at upgradeTimeout, waited for, and cut at shutdownTimeout: forced, exit 1', { timeout: 30_000 }, async (t) => {
  const app = live(t, { listen: local, options: { upgradeTimeout: 300, shutdownTimeout: 1500 } });
  const first = await app.ready();
  const stream = endlessStream(portOf(first));
  await stream.started;
  process.kill(first.pid, 'SIGTERM');
  await app.waitForLog(/1 response\(s\), stream\(s\) or gRPC call\(s\) still open 300 ms into the drain: waiting for them until the deadline \(1500 ms\).*shutdown\.signal/);
  assert.equal(await stream.ended, 'cut');
  assert.equal(await exitOf(app, first.pid), 1);
  assert.match(app.log, /destroyed 1 connection\(s\) still open after 1500 ms/);
});

test('a gRPC server stream the app ends on shutdown.signal with UNAVAILABLE: the client calls again and reaches the new pid; exit 0', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: local, endStreamsOnSignal: true }, {}, { file: process.execPath, args: ['--import', 'tsx', GRPC_APP] });
  const first = await app.ready();
  const client = new GrpcClient(`127.0.0.1:${portOf(first)}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => client.close());
  const watch = () => {
    const call = client.makeServerStreamRequest('/grace.test.Test/Count', testService.count.requestSerialize, testService.count.responseDeserialize, { n: 1e6, everyMs: 50 });
    const firstPid = once(call, 'data').then(([reply]) => (reply as Reply).pid);
    const status = new Promise<number>((resolve) => call.on('error', (err: grpc.ServiceError) => resolve(err.code)).on('end', () => resolve(grpc.status.OK)));
    return { call, firstPid, status };
  };
  const before = watch();
  assert.equal(await before.firstPid, first.pid);
  process.kill(first.pid, 'SIGUSR2');
  assert.equal(await before.status, grpc.status.UNAVAILABLE);
  const second = await app.handedOver(first.pid);
  const after = watch();
  assert.equal(await after.firstPid, second.pid);
  after.call.cancel();
  assert.equal(await exitOf(app, first.pid), 0);
});

test('closes are spread one per millisecond, within reconnectSpread, in order; 0 closes them all at once', async () => {
  const ran: number[] = [];
  const all = new ClosePace(0);
  for (let i = 0; i < 5; i++) all.add(() => ran.push(i));
  all.start();
  assert.deepEqual(ran, [0, 1, 2, 3, 4], 'with no window, every close at start');

  ran.length = 0;
  const spread = new ClosePace(2000);
  for (let i = 0; i < 50; i++) spread.add(() => ran.push(i));
  assert.equal(spread.spreadMs, 50, '1 ms per connection while the window allows');
  spread.start();
  assert.ok(ran.length < 50, 'not all at once');
  await waitUntil(() => ran.length === 50, 5000);
  assert.deepEqual(ran, Array.from({ length: 50 }, (_, i) => i));
  spread.add(() => ran.push(50));
  assert.equal(ran.at(-1), 50, 'a latecomer after the last close goes at once');

  const capped = new ClosePace(100);
  for (let i = 0; i < 5000; i++) capped.add(() => {});
  assert.equal(capped.spreadMs, 100, 'never longer than reconnectSpread');
});

test('upgradeTimeout, reconnectSpread and webSockets are checked, by name, with what is expected', async () => {
  const quiet = { restartSignal: false, stopSignals: [], exit: false, logger: false } as const;
  const refused = (options: gracehttp.ServeOptions, message: RegExp) =>
    assert.rejects(gracehttp.start(http.createServer(), 0, { ...quiet, ...options }), (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && message.test(err.message));
  await refused({ upgradeTimeout: -1 }, /options\.upgradeTimeout must be a number of milliseconds from 0 to 2147483647/);
  await refused({ reconnectSpread: 2 ** 31 }, /options\.reconnectSpread must be a number of milliseconds from 0 to 2147483647.*got 2147483648/);
  await refused({ webSockets: {} as never }, /options\.webSockets must be a WebSocket server: ws' WebSocketServer \(with clientTracking on, the default\) or socket\.io's Server; got an object with neither clients/);
  const untracked = new WebSocketServer({ noServer: true, clientTracking: false });
  await refused({ webSockets: [new WebSocketServer({ noServer: true }), untracked] }, /options\.webSockets\[1\] must be a WebSocket server.*got a WebSocketServer with neither clients/);
});
