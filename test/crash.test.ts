// Crash handling (handleCrashes) and a worker with no server: real processes,
// real signals, the exit status and the log as a user sees them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { Fixture, get, portOf, startFixture, waitUntil } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

for (const path of ['/throw', '/reject']) {
  test(`an error nobody caught (${path}) stops gracefully: other clients' requests finish, exit 1, logged once with its stack`, { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], options: { handleCrashes: true } });
    const ready = await app.ready();
    const port = portOf(ready);
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const inFlight = get({ port }, '/sleep?ms=1500', { agent });
    // The slow request is in the server before the crash: wait until it is accepted.
    await new Promise((r) => setTimeout(r, 200));
    await get({ port }, path).catch(() => undefined); // never answered: the handler crashed
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.json.pid, ready.pid);
    const [code] = await once(app.proc, 'exit');
    assert.equal(code, 1);
    const what = path === '/throw' ? 'uncaught exception' : 'unhandled rejection';
    assert.equal(app.log.split(`${what}: boom from ${path}`).length - 1, 1, app.log);
    assert.match(app.log, new RegExp(`boom from \\${path}\\n\\s+at `), 'the stack follows the line');
    assert.equal(app.events.find((e) => e.event === 'stopped')?.reason, 'crash');
  });
}

test('without handleCrashes, Node\'s default stands: the process dies at once', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local] });
  const ready = await app.ready();
  await get({ port: portOf(ready) }, '/throw').catch(() => undefined);
  const [code] = await once(app.proc, 'exit');
  assert.equal(code, 1);
  assert.ok(!app.events.some((e) => e.event === 'stopped'), 'no graceful stop ran');
});

const WORKER = new URL('./fixtures/queue-worker.ts', import.meta.url).pathname;

function startWorker(t: Parameters<typeof startFixture>[0], env: NodeJS.ProcessEnv): Fixture {
  return startFixture(t, {}, env, { file: process.execPath, args: ['--import', 'tsx', WORKER] });
}

test('a queue worker with Shutdown.handleSignals() finishes its job in hand on SIGTERM and exits 0', { timeout: 30_000 }, async (t) => {
  const worker = startWorker(t, { GRACE_JOB_MS: '800' });
  const started = await worker.waitFor((e) => e.event === 'job-start');
  process.kill(started.pid, 'SIGTERM');
  const [code, signal] = await once(worker.proc, 'exit');
  assert.deepEqual([code, signal], [0, null], 'not killed by the signal (status 143)');
  const events = worker.events.map((e) => `${e.event}${e.n === undefined ? '' : e.n}`);
  assert.deepEqual(events.slice(events.indexOf('job-start1')), ['job-start1', 'job-end1', 'queue-closed', 'exit']);
});

test('a second SIGTERM forces a worker\'s stop: exit 1, the unfinished job named', { timeout: 30_000 }, async (t) => {
  const worker = startWorker(t, { GRACE_JOB_MS: '600000' });
  const started = await worker.waitFor((e) => e.event === 'job-start');
  process.kill(started.pid, 'SIGTERM');
  await waitUntil(() => /SIGTERM: shutting down/.test(worker.log));
  process.kill(started.pid, 'SIGTERM');
  const [code] = await once(worker.proc, 'exit');
  assert.equal(code, 1);
  assert.match(worker.log, /shutdown forced; unfinished: .*consumer/);
});
