import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { makeCertificate, portOf, startFixture, tempDir, waitForExit, type Fixture } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

/** This pid's events after it logged that shutdown started. */
function afterShutdown(app: Fixture, pid: number, event: string) {
  const mine = app.events.filter((e) => e.pid === pid);
  const start = mine.findIndex((e) => e.event === 'shutdown-started');
  assert.ok(start >= 0, `pid ${pid} never started shutting down`);
  return mine.slice(start).filter((e) => e.event === event);
}

test('a worker mid-task at USR2 finishes that task in the old process and starts no other', { timeout: 60_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], workerTaskMs: 700 });
  const first = await app.ready();
  await app.waitFor((e) => e.event === 'task-start' && e.pid === first.pid); // mid-task: it takes 700 ms
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await app.waitFor((e) => e.event === 'exit' && e.pid === first.pid); // its last line: every task line before it is read
  const started = app.events.filter((e) => e.pid === first.pid && e.event === 'task-start').map((e) => e.n);
  const ended = app.events.filter((e) => e.pid === first.pid && e.event === 'task-end').map((e) => e.n);
  assert.deepEqual(ended, started, 'every task the old process started, it finished');
  assert.deepEqual(afterShutdown(app, first.pid, 'task-start'), []);
  await app.waitFor((e) => e.event === 'task-start' && e.pid === second.pid);
});

test('an interval job starts no run after shutdown began', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], jobEveryMs: 30 });
  const ready = await app.ready();
  await app.waitFor((e) => e.event === 'job-run' && (e.n as number) >= 3);
  process.kill(ready.pid, 'SIGTERM');
  await app.closed();
  assert.deepEqual(afterShutdown(app, ready.pid, 'job-run'), []);
  assert.ok(app.events.filter((e) => e.event === 'job-run').every((e) => e.shuttingDown === false));
});

async function upgradedSocket(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('utf8').on('data', (c) => (data += c));
  socket.on('error', () => {});
  socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
  while (!data.includes('101 Switching Protocols')) await new Promise((r) => setTimeout(r, 10));
  return { socket, closed: once(socket, 'close').then(() => performance.now()), received: () => data };
}

test('upgraded sockets are not cut when the server stops listening; they are destroyed at the deadline', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], upgrade: 'keep', options: { shutdownTimeout: 1200 } });
  const ready = await app.ready();
  const ws = await upgradedSocket(portOf(ready));
  const stoppedAt = performance.now();
  process.kill(ready.pid, 'SIGTERM');
  await app.waitFor((e) => e.event === 'shutdown-started');
  await new Promise((r) => setTimeout(r, 600)); // deliberate: past idleGrace (500 ms), half way to the deadline
  assert.equal(ws.socket.destroyed, false, 'still open after the drain began');
  ws.socket.write('still here\n');
  const closedAt = await ws.closed;
  assert.ok(closedAt - stoppedAt >= 1100, `closed after ${closedAt - stoppedAt} ms`);
  await app.closed();
  assert.match(app.log, /destroyed 1 connection\(s\) still open after 1200 ms/);
});

test('an app-registered closer says goodbye on upgraded sockets, and the stop does not wait for the deadline', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], upgrade: 'close', options: { shutdownTimeout: 20_000 } });
  const ready = await app.ready();
  const ws = await upgradedSocket(portOf(ready));
  const stoppedAt = performance.now();
  process.kill(ready.pid, 'SIGTERM');
  const closedAt = await ws.closed;
  assert.match(ws.received(), /bye\n$/);
  assert.ok(closedAt - stoppedAt < 5000);
  await waitForExit(ready.pid, 5000);
});

test('on SIGTERM, HTTP/2 sessions get GOAWAY and their in-flight streams complete', { timeout: 30_000 }, async (t) => {
  const tls = makeCertificate(tempDir(t));
  const app = startFixture(t, { kind: 'http2', listen: [local], tls });
  const ready = await app.ready();
  const session = http2.connect(`https://127.0.0.1:${portOf(ready)}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/sleep?ms=800&report' });
  let body = '';
  stream.setEncoding('utf8').on('data', (c) => (body += c));
  const ended = once(stream, 'end');
  await app.waitFor((e) => e.event === 'request-start');
  const goaway = once(session, 'goaway');
  process.kill(ready.pid, 'SIGTERM');
  await goaway;
  await ended;
  assert.equal(JSON.parse(body).pid, ready.pid);
  await waitForExit(ready.pid);
});
