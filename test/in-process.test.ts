// gracehttp driven inside the test process, with signal handling off, for the
// behaviour that needs no second process.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gracehttp, Shutdown, type GraceError, type Logger } from '../src/index.ts';
import { Net } from '../src/sockets/net.ts';
import { realProcess } from '../src/platform/process-host.ts';
import { startWith } from '../src/api/serve.ts';

const quiet = { restartSignal: false, stopSignals: [], exit: false } as const;

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

test('a failing ready hook rejects with ERR_GRACE_READY and closes the server', { timeout: 10_000 }, async () => {
  const server = http.createServer();
  await assert.rejects(
    startWith({ net: new Net() }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false, ready: () => Promise.reject(new Error('db down')) }),
    (err: GraceError) => err.code === 'ERR_GRACE_READY' && /the ready hook failed: db down/.test(err.message),
  );
  assert.equal(server.listening, false);
});

test('stop() is idempotent and resolves done; restart() after stop is refused', { timeout: 10_000 }, async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await startWith({ net: new Net() }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false });
  const events: string[] = [];
  graceful.on('stopping', ({ reason }) => events.push(`stopping ${reason}`));
  graceful.on('stopped', ({ reason }) => events.push(`stopped ${reason}`));
  const first = graceful.stop();
  assert.equal(graceful.stop(), first);
  await first;
  await graceful.done;
  assert.deepEqual(events, ['stopping stop', 'stopped stop']);
  await assert.rejects(graceful.restart(), (err: GraceError) => err.code === 'ERR_GRACE_NOT_SERVING');
});

test('where sockets cannot be passed (win32) it serves and stops, says so once, and refuses restarts', { timeout: 10_000 }, async () => {
  const logger = recordingLogger();
  const host = { ...realProcess, platform: 'win32' as const };
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await startWith({ host, net: new Net({ host }) }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger });
  const { port } = graceful.addresses()[0] as AddressInfo;
  const body = await new Promise<string>((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, (res) => res.setEncoding('utf8').on('data', resolve)));
  assert.equal(body, 'ok');
  await assert.rejects(graceful.restart(), /hot restart is not available on win32/);
  await graceful.stop();
  assert.equal(logger.lines.filter((l) => l.includes('hot restart is not available on win32; serving with graceful stop only')).length, 1);
});

test('invalid options are refused with ERR_GRACE_OPTIONS naming the option', async () => {
  const server = http.createServer();
  await assert.rejects(
    gracehttp.start(server, 0, { ...quiet, shutdownTimeout: -1 }),
    (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && err.message.includes('shutdownTimeout'),
  );
  await assert.rejects(gracehttp.serve([], quiet), (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS');
});

test('a shutdown that finishes early leaves no timer behind', { timeout: 10_000 }, async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const shutdown = new Shutdown({ logger: false, timeout: 60_000 });
  shutdown.register(async () => {}, { name: 'quick' });
  await shutdown.shutdown();
  assert.equal(timers(), before);
});

test('a deadline reached before the drain phase still destroys open connections', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false });
  shutdown.register(() => new Promise(() => {}), { name: 'stuck intake', phase: 'intake' });
  const server = http.createServer(() => {}); // never answers
  const arrived = once(server, 'request');
  const graceful = await startWith({ net: new Net() }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false, shutdown, shutdownTimeout: 300 });
  const { port } = graceful.addresses()[0] as AddressInfo;
  const hung = new Promise<string>((resolve) => {
    http.get({ port, host: '127.0.0.1', agent: false }).on('error', (err) => resolve(err.message));
  });
  await arrived;
  const stopped = new Promise<number>((resolve) => graceful.once('stopped', ({ forced }) => resolve(forced)));
  await graceful.stop();
  assert.equal(await stopped, 1);
  assert.match(await hung, /socket hang up/);
});

test('a response sent after checkContinue still gets Connection: close while draining', { timeout: 10_000 }, async () => {
  const server = http.createServer();
  server.on('checkContinue', (_req, res) => {
    res.writeContinue();
    setTimeout(() => res.end('late'), 400);
  });
  const asked = once(server, 'checkContinue');
  const graceful = await startWith({ net: new Net() }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false, idleGrace: 50 });
  const { port } = graceful.addresses()[0] as AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  const response = new Promise<http.IncomingMessage>((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', agent, headers: { expect: '100-continue' } }, resolve);
    req.on('continue', () => req.end('body'));
  });
  await asked;
  const stopping = graceful.stop();
  const res = await response;
  res.resume();
  assert.equal(res.headers.connection, 'close');
  await stopping;
  agent.destroy();
});

test('hot restart is refused as pid 1, where the old generation exiting would end the container', { timeout: 10_000 }, async () => {
  const host = { ...realProcess, pid: 1 };
  const logger = recordingLogger();
  const server = http.createServer();
  const graceful = await startWith({ host, net: new Net({ host }) }, server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger });
  await assert.rejects(graceful.restart(), /hot restart is not available as pid 1/);
  await graceful.stop();
});

test('a second gracehttp instance on the same process sockets is refused with a pointer to the array form', { timeout: 10_000 }, async () => {
  const net = new Net();
  const first = await startWith({ net }, http.createServer(), { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false });
  await assert.rejects(
    startWith({ net }, http.createServer(), { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false }),
    /already serving in this process: pass every server to one call/,
  );
  await first.stop();
  const again = await startWith({ net }, http.createServer(), { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false });
  await again.stop();
});

test('serve(server) with no spec listens on PORT from the environment, and says what to pass when there is none', { timeout: 10_000 }, async () => {
  const host = { ...realProcess, env: { PORT: '0' }, protocolEnv: {} };
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await startWith({ host, net: new Net({ host }) }, server, undefined, { ...quiet, logger: false });
  const { port, address } = graceful.addresses()[0] as AddressInfo;
  assert.ok(port > 0 && (address === '::' || address === '0.0.0.0'), JSON.stringify(graceful.addresses()));
  await graceful.stop();

  for (const [env, message] of [
    [{}, /no inherited socket \(LISTEN_FDS\) and no PORT in the environment; pass one, e\.g\. serve\(server, \{ port: 8080 \}\)/],
    [{ PORT: 'http' }, /PORT="http" in the environment is not a port/],
  ] as const) {
    const bare = { ...realProcess, env, protocolEnv: {} };
    const unserved = http.createServer();
    await assert.rejects(
      startWith({ host: bare, net: new Net({ host: bare }) }, unserved, undefined, { ...quiet, logger: false }),
      (err: GraceError) => err.code === 'ERR_GRACE_LISTEN_SPEC' && message.test(err.message),
    );
    assert.equal(unserved.listening, false);
  }
  await assert.rejects(
    gracehttp.start([{ server: http.createServer() } as unknown as gracehttp.ServeTarget], quiet),
    (err: GraceError) => err.code === 'ERR_GRACE_LISTEN_SPEC' && /needs a listen spec for each server; only serve\(server\) has a default/.test(err.message),
  );
});
