import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { get, portOf, startFixture, waitForExit } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

/** A raw client connection, so the test sees exactly what the server sends and when it closes. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let data = '';
  socket.setEncoding('utf8').on('data', (c) => (data += c));
  const closed = once(socket, 'close');
  return {
    socket,
    closed,
    received: () => data,
    request(path: string) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
    },
    async responses(count: number) {
      while ((data.match(/HTTP\/1\.1 /g) ?? []).length < count || !data.endsWith('}')) await new Promise((r) => setTimeout(r, 10));
      return data;
    },
  };
}

test('SIGTERM lets an in-flight request finish with Connection: close, then exits 0', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { idleGrace: 200 } });
  const ready = await app.ready();
  const port = portOf(ready);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const inFlight = get({ port }, '/sleep?ms=800&report', { agent });
  await app.waitFor((e) => e.event === 'request-start');
  process.kill(ready.pid, 'SIGTERM');
  const res = await inFlight;
  assert.equal(res.json.pid, ready.pid);
  assert.equal(res.headers.connection, 'close');
  assert.deepEqual(await app.closed(), { code: 0, signal: null });
  const stopped = app.events.find((e) => e.event === 'stopped');
  assert.deepEqual([stopped?.reason, stopped?.forced], ['signal', 0]);
});

test('idle keep-alive and silent connections are closed after idleGrace; new connections are refused', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { idleGrace: 300 } });
  const ready = await app.ready();
  const port = portOf(ready);
  const idle = await connect(port);
  idle.request('/');
  await idle.responses(1);
  assert.match(idle.received(), /Connection: keep-alive/i);
  const silent = await connect(port);
  const busy = await connect(port);
  busy.request('/sleep?ms=1500&report');
  await app.waitFor((e) => e.event === 'request-start');
  const start = Date.now();
  process.kill(ready.pid, 'SIGTERM');
  await Promise.all([idle.closed, silent.closed]);
  assert.ok(Date.now() - start >= 250, 'idle connections get the grace window first');
  await assert.rejects(get({ port }, '/'), /ECONNREFUSED/);
  await busy.closed;
  assert.match(busy.received(), /Connection: close/i);
  assert.match(busy.received(), new RegExp(`"pid":${ready.pid}`));
  await waitForExit(ready.pid);
});

test('a request on an idle keep-alive connection during the drain is answered with Connection: close', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { idleGrace: 2000 } });
  const ready = await app.ready();
  const port = portOf(ready);
  const client = await connect(port);
  client.request('/');
  await client.responses(1);
  process.kill(ready.pid, 'SIGTERM');
  await app.waitForLog('Stopping pid'); // logged as the drain starts, in the same tick
  client.request('/');
  await client.closed;
  const second = client.received().split('HTTP/1.1 ')[2] ?? '';
  assert.match(second, /^200/);
  assert.match(second, /Connection: close/i);
  await waitForExit(ready.pid);
});

test('pipelined requests in flight when draining starts are all answered', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { idleGrace: 200 } });
  const ready = await app.ready();
  const client = await connect(portOf(ready));
  const pipelined = ['/sleep?ms=600&report', '/sleep?ms=10', '/'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
  client.socket.write(pipelined);
  await app.waitFor((e) => e.event === 'request-start');
  process.kill(ready.pid, 'SIGTERM');
  await client.closed;
  const statuses = client.received().match(/HTTP\/1\.1 200/g) ?? [];
  assert.equal(statuses.length, 3, client.received());
});

test('a request hung past shutdownTimeout is destroyed and the process exits with status 1, saying the stop was forced', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { shutdownTimeout: 700 } });
  const ready = await app.ready();
  const hung = get({ port: portOf(ready) }, '/hang?report');
  await app.waitFor((e) => e.event === 'request-start');
  process.kill(ready.pid, 'SIGTERM');
  await assert.rejects(hung, /socket hang up|ECONNRESET/);
  assert.deepEqual(await app.closed(), { code: 1, signal: null });
  assert.match(app.log, /the stop was forced: exit status 1/);
  const stopped = app.events.find((e) => e.event === 'stopped');
  assert.equal(stopped?.forced, 1);
  assert.match(app.log, /destroyed 1 connection\(s\) still open after 700 ms/);
});

for (const second of ['SIGTERM', 'SIGINT'] as const) {
  test(`SIGTERM, then ${second} during the drain: the second stop signal forces the stop at once, exit 1`, { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], options: { shutdownTimeout: 60_000 } });
    const ready = await app.ready();
    const hung = get({ port: portOf(ready) }, '/hang?report');
    await app.waitFor((e) => e.event === 'request-start');
    process.kill(ready.pid, 'SIGTERM');
    await app.waitForLog('Stopping pid');
    process.kill(ready.pid, second);
    await assert.rejects(hung);
    await waitForExit(ready.pid, 5000); // long before the 60 s shutdownTimeout
    assert.deepEqual(await app.closed(), { code: 1, signal: null });
    assert.match(app.log, new RegExp(`${second} during shutdown: closing remaining connections now`));
    assert.equal(app.events.find((e) => e.event === 'stopped')?.forced, 1);
  });
}
