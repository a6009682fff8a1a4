// Health and readiness probes: the `health` serve option and gracehttp.health(),
// through real HTTP, in each framework grace documents, as real processes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeFileSync } from 'node:fs';
import { gracehttp, type GraceError } from '../src/index.ts';
import { resolveOptions } from '../src/generation/options.ts';
import { healthHandler, resolveHealth } from '../src/serving/health.ts';
import { resolveLogger } from '../src/platform/logger.ts';
import { Fixture, get, killQuietly, tempDir, waitUntil, type Response } from './helpers.ts';

const APP = new URL('./fixtures/health-app.ts', import.meta.url).pathname;
const quiet = { restartSignal: false, stopSignals: [], exit: false, logger: false } as const;

function startApp(t: TestContext, framework: string, mount: 'option' | 'handler', env: NodeJS.ProcessEnv = {}) {
  const control = join(tempDir(t), 'db');
  writeFileSync(control, 'ok');
  const app = new Fixture({}, { FRAMEWORK: framework, MOUNT: mount, CONTROL: control, ...env }, { file: process.execPath, args: ['--import', 'tsx', APP] });
  t.after(() => killQuietly(app.proc.pid!));
  const exited = app.closed().then(({ code }) => code); // exited, and its output read to the end
  return { app, exited, setDb: (state: 'ok' | 'fail' | 'throw' | 'hang') => writeFileSync(control, state) };
}

/** A request on `agent`'s one connection, reporting whether that connection was already open. */
function onConnection(agent: http.Agent, port: number, path: string): Promise<Response & { reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: body.startsWith('{') ? JSON.parse(body) : undefined, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
  });
}

for (const framework of ['http', 'express', 'fastify', 'koa']) {
  for (const mount of ['option', 'handler'] as const) {
    test(`${framework}, health ${mount === 'option' ? 'as a serve option' : 'from gracehttp.health()'}: ready while serving, checks named when they fail or time out, 503 from the first moment of a stop, live while draining`, { timeout: 60_000 }, async (t) => {
      const { app, exited, setDb } = startApp(t, framework, mount);
      const { port } = await app.waitFor((e) => e.event === 'ready');
      const target = { port: port as number };

      const ready = await get(target, '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(JSON.parse(ready.body), { status: 'ready', checks: { db: 'ok' } });
      assert.equal(ready.headers['cache-control'], 'no-store');
      assert.equal(ready.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse((await get(target, '/livez')).body), { status: 'live' });
      assert.equal((await get(target, '/readyz?verbose=1')).status, 200, 'the query does not matter');
      // Everything else is the app's.
      assert.equal((await get(target, '/')).body, `${framework} app, pid ${app.proc.pid}\n`);

      for (const [state, result] of [['fail', 'failed'], ['throw', 'error'], ['hang', 'timeout']] as const) {
        setDb(state);
        const failing = await get(target, '/readyz');
        assert.equal(failing.status, 503, state);
        assert.deepEqual(JSON.parse(failing.body), { status: 'unavailable', checks: { db: result } });
        assert.equal((await get(target, '/livez')).status, 200, 'a failing check is not a dead process');
      }
      setDb('ok');
      assert.equal((await get(target, '/readyz')).status, 200);
      if (mount === 'option') {
        // Logged once each way (stderr may arrive after the response).
        await app.waitForLog('readiness check db failing (failed)');
        await app.waitForLog('readiness check db passes again');
        assert.equal(app.log.match(/readiness check db failing/g)?.length, 1);
      }

      // Two keep-alive connections, opened and probed before the stop.
      const readiness = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const liveness = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.after(() => (readiness.destroy(), liveness.destroy()));
      const before = await onConnection(readiness, target.port, '/readyz');
      assert.equal(before.status, 200);
      assert.equal(before.headers.connection, 'keep-alive');
      assert.equal((await onConnection(liveness, target.port, '/livez')).status, 200);

      app.proc.kill('SIGTERM');
      await app.waitForLog(`Stopping pid ${app.proc.pid} on SIGTERM`);
      // The stop holds on these idle connections (idleGrace is long): the
      // same connections now hear "going away" and are closed after it.
      const during = await onConnection(readiness, target.port, '/readyz');
      assert.equal(during.reused, true, 'probed on the connection opened before the stop');
      assert.equal(during.status, 503);
      assert.deepEqual(JSON.parse(during.body), { status: 'unavailable' });
      assert.equal(during.headers.connection, 'close');
      const live = await onConnection(liveness, target.port, '/livez');
      assert.equal(live.reused, true);
      assert.equal(live.status, 200);
      assert.equal(live.headers.connection, 'close');
      // Those were the last connections: the drain ends and the process exits cleanly.
      assert.equal(await exited, 0, app.log);
    });
  }
}

for (const mount of ['option', 'handler'] as const) {
  test(`with a stop delay (health ${mount === 'option' ? 'as a serve option' : 'from gracehttp.health()'}), new connections get readiness 503 while the app still serves them; a second SIGTERM ends the delay`, { timeout: 30_000 }, async (t) => {
    const { app, exited } = startApp(t, 'express', mount, { GRACE_STOP_DELAY: '60000' });
    const { port } = await app.waitFor((e) => e.event === 'ready');
    const target = { port: port as number };
    assert.equal((await get(target, '/readyz')).status, 200);

    app.proc.kill('SIGTERM');
    await app.waitForLog(`Leaving: pid ${app.proc.pid}`);
    const leaving = await get(target, '/readyz');
    assert.equal(leaving.status, 503);
    assert.deepEqual(JSON.parse(leaving.body), { status: 'unavailable' });
    assert.equal(leaving.headers.connection, 'close');
    assert.equal((await get(target, '/livez')).status, 200);
    assert.equal((await get(target, '/')).body, `express app, pid ${app.proc.pid}\n`, 'still accepting and serving the app');

    app.proc.kill('SIGTERM');
    await app.waitForLog(`Stopping pid ${app.proc.pid}`);
    assert.equal(await exited, 0, app.log);
  });
}

test('gracehttp.health() answers 503 before anything is served in the process, 200 while it is, 503 again from stop()', { timeout: 20_000 }, async (t) => {
  const probes = gracehttp.health({ logger: false });
  const plain = http.createServer((req, res) => probes(req, res) || res.end('app'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.after(() => plain.close());
  const target = { port: (plain.address() as { port: number }).port };
  assert.equal((await get(target, '/readyz')).status, 503);
  assert.equal((await get(target, '/livez')).status, 200);

  const served = http.createServer((_req, res) => res.end('served'));
  const graceful = await gracehttp.start(served, { port: 0, host: '127.0.0.1' }, quiet);
  const ready = await get(target, '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready', checks: {} });
  assert.equal((await get(target, '/other')).body, 'app');

  let stoppedServing: Response | undefined;
  graceful.once('stopping', () => void get(target, '/readyz').then((r) => (stoppedServing = r)));
  await graceful.stop();
  await waitUntil(() => stoppedServing !== undefined);
  assert.equal(stoppedServing!.status, 503);
  assert.equal(stoppedServing!.headers.connection, 'close');
  assert.equal((await get(target, '/readyz')).status, 503, 'after the stop');
});

test('HEAD is answered without a body; other methods on a health path get 405', { timeout: 10_000 }, async (t) => {
  const probes = gracehttp.health({ logger: false });
  const plain = http.createServer((req, res) => probes(req, res) || res.end('app'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.after(() => plain.close());
  const target = { port: (plain.address() as { port: number }).port };
  const head = await get(target, '/livez', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  const post = await get(target, '/livez', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('probes that arrive while checks run share one run', async () => {
  let calls = 0;
  let pass!: (ok: boolean) => void;
  const options = resolveHealth({ checks: { db: () => (calls++, new Promise<boolean>((r) => (pass = r))) }, checkTimeout: 10_000 })!;
  const handler = healthHandler(options, () => true, resolveLogger(false));
  const responses = [fakeResponse(), fakeResponse()];
  for (const res of responses) assert.equal(handler(fakeRequest('/readyz'), res as unknown as http.ServerResponse), true);
  assert.equal(handler(fakeRequest('/'), responses[0] as unknown as http.ServerResponse), false);
  assert.equal(calls, 1);
  pass(true);
  const ended = await Promise.all(responses.map((r) => r.ended));
  assert.deepEqual(ended, [200, 200]);
  handler(fakeRequest('/readyz'), fakeResponse() as unknown as http.ServerResponse);
  assert.equal(calls, 2, 'a probe after the run starts a new one');
});

test('health options are checked, naming the bad value', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ ready: 'readyz' }, /options\.health\.ready must be a path starting with '\/'.*"readyz"/],
    [{ live: '/same', ready: '/same' }, /options\.health\.live and options\.health\.ready must differ/],
    [{ checks: { db: true } }, /options\.health\.checks\.db must be a function.*got boolean/],
    [{ checks: [] }, /options\.health\.checks must be an object/],
    [{ checkTimeout: 0 }, /options\.health\.checkTimeout must be a number of milliseconds above 0 and at most 2147483647 .*got 0/],
    ['yes', /options\.health must be true, false or \{/],
  ];
  for (const [health, message] of bad) {
    assert.throws(
      () => resolveOptions({ health: health as gracehttp.HealthOptions }),
      (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && message.test(err.message),
      JSON.stringify(health),
    );
  }
  assert.throws(() => gracehttp.health({ checkTimeout: -1 }), /health\(\)\.checkTimeout must be a number of milliseconds above 0/);
  assert.deepEqual(resolveOptions({ health: true }).health, { live: '/livez', ready: '/readyz', checks: [], checkTimeout: 500 });
  assert.equal(resolveOptions({}).health, undefined);
});

function fakeRequest(url: string) {
  return { url, method: 'GET', httpVersionMajor: 1 } as http.IncomingMessage;
}

function fakeResponse() {
  let done!: (status: number) => void;
  const res = {
    ended: new Promise<number>((r) => (done = r)),
    statusCode: 0,
    headersSent: false,
    writableEnded: false,
    destroyed: false,
    shouldKeepAlive: true,
    setHeader() {},
    end() {
      done(res.statusCode);
    },
  };
  return res;
}
