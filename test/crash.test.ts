// Crash handling (handleCrashes) and a worker with no server: real processes,
// real signals, the exit status and the log as a user sees them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Fixture, get, portOf, startFixture, tempDir, waitForExit, waitUntil } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

for (const path of ['/throw', '/reject']) {
  test(`an error nobody caught (${path}) stops gracefully: other clients' requests finish, the crashed one is cut at the deadline, exit 1, logged once with its stack`, { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], options: { handleCrashes: true, shutdownTimeout: 2000 } });
    const ready = await app.ready();
    const port = portOf(ready);
    const inFlight = get({ port }, '/sleep?ms=1000&report');
    await app.waitFor((e) => e.event === 'request-start');
    // The handler crashed before it answered: nothing can tell its response
    // from any slow one, so the drain waits for it until shutdownTimeout.
    const crashed = get({ port }, path).then(
      () => assert.fail('the crashed request was answered'),
      (err: NodeJS.ErrnoException) => err,
    );
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.json.pid, ready.pid);
    const cut = await crashed;
    assert.equal(cut.code, 'ECONNRESET', `cut by the server at its deadline, not by the client's timeout: ${cut.message}`);
    const { code } = await app.closed();
    assert.equal(code, 1);
    const what = path === '/throw' ? 'uncaught exception' : 'unhandled rejection';
    assert.equal(app.log.split(`${what}: boom from ${path}`).length - 1, 1, app.log);
    assert.match(app.log, new RegExp(`boom from \\${path}\\n\\s+at `), 'the stack follows the line');
    assert.deepEqual(
      app.events.filter((e) => e.event === 'stopped').map((e) => [e.reason, e.forced]),
      [['crash', 1]],
    );
    await app.waitForLog(/destroyed 1 connection\(s\) still open after 2000 ms/);
  });
}

test('a crash whose request was answered drains clean, and still exits 1', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { handleCrashes: true } });
  const ready = await app.ready();
  assert.equal((await get({ port: portOf(ready) }, '/reject?answer')).json.pid, ready.pid);
  const { code } = await app.closed();
  assert.equal(code, 1);
  assert.deepEqual(
    app.events.filter((e) => e.event === 'stopped').map((e) => [e.reason, e.forced]),
    [['crash', 0]],
  );
});

for (const crashOnStop of ['throw', 'reject'] as const) {
  test(`a crash (${crashOnStop}) during a stop's drain: the stop goes on, requests in flight finish, exit 1`, { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], crashOnStop, options: { handleCrashes: true } });
    const ready = await app.ready();
    const inFlight = get({ port: portOf(ready) }, '/sleep?ms=1000&report');
    await app.waitFor((e) => e.event === 'request-start');
    process.kill(ready.pid, 'SIGTERM');
    const res = await inFlight;
    assert.equal(res.json.pid, ready.pid);
    const { code } = await app.closed();
    await app.waitForLog(/boom while stopping; while stopping; the stop goes on/);
    assert.deepEqual(
      app.events.filter((e) => e.event === 'stopped').map((e) => [e.reason, e.forced]),
      [['signal', 0]],
    );
    assert.equal(code, 1, 'a process that crashed exits 1, whatever stop it was in');
  });
}

test('a crash while a new generation is in its ready hook: the port stays served, the new pid takes over, the old exits 1', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  writeFileSync(control, '{}');
  const app = startFixture(t, { listen: [local], control, reportReadyHook: true, options: { handleCrashes: true } });
  const first = await app.ready();
  const port = portOf(first);
  writeFileSync(control, JSON.stringify({ readyDelay: 1500 }));
  // A client on fresh connections all along: none may be refused.
  const refused: string[] = [];
  const answeredBy = new Set<number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        answeredBy.add((await get({ port }, '/')).json.pid);
      } catch (err) {
        refused.push(String(err));
      }
    }
  })();
  t.after(() => (polling = false));
  process.kill(first.pid, 'SIGUSR2');
  const hook = await app.waitFor((e) => e.event === 'ready-hook' && e.pid !== first.pid);
  const crash = await get({ port }, '/reject?answer');
  assert.equal(crash.json.pid, first.pid, 'the old generation crashed while the new one was in its ready hook');
  const second = await app.handedOver(first.pid);
  assert.equal(second.pid, hook.pid);
  const exit = await app.waitFor((e) => e.event === 'exit' && e.pid === first.pid);
  assert.equal(exit.code, 1);
  await waitForExit(first.pid);
  // Past the old one's exit, the new pid answers on the same port.
  answeredBy.clear();
  await waitUntil(() => answeredBy.has(second.pid), 15_000, () => `pid ${second.pid} to answer; refused: ${refused.join(', ')}`);
  polling = false;
  await poller;
  assert.deepEqual(refused, []);
  await app.waitForLog(/unhandled rejection: boom from \/reject; while pid \d+ starts: serving until it is ready/);
  assert.deepEqual(
    app.events.filter((e) => e.event === 'stopped' && e.pid === first.pid).map((e) => [e.reason, e.forced]),
    [['handover', 0]],
  );
});

test('a crash while a new generation starts, and that generation never gets ready: the stop the crash put off begins, exit 1', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  writeFileSync(control, '{}');
  const app = startFixture(t, { listen: [local], control, reportReadyHook: true, options: { handleCrashes: true, readyTimeout: 60_000 } });
  const first = await app.ready();
  const port = portOf(first);
  writeFileSync(control, JSON.stringify({ hang: true }));
  process.kill(first.pid, 'SIGUSR2');
  const hung = await app.waitFor((e) => e.event === 'ready-hook' && e.pid !== first.pid);
  assert.equal((await get({ port }, '/reject?answer')).json.pid, first.pid);
  assert.equal((await get({ port }, '/')).json.pid, first.pid, 'still served while the new generation starts');
  // The new generation dies in its ready hook, after the crash: the restart fails.
  process.kill(hung.pid, 'SIGKILL');
  // Both are gone now (the old one exited, the new one was killed): every line either wrote is read at 'close'.
  assert.deepEqual(await app.closed(), { code: 1, signal: null });
  assert.match(app.log, /restart failed: .*; pid \d+ had crashed, so it stops/);
  assert.deepEqual(
    app.events.filter((e) => e.event === 'stopped').map((e) => [e.pid, e.reason, e.forced]),
    [[first.pid, 'crash', 0]],
  );
  await waitForExit(hung.pid);
});

test('without handleCrashes, Node\'s default stands: the process dies at once', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local] });
  const ready = await app.ready();
  await get({ port: portOf(ready) }, '/throw').catch(() => undefined);
  const { code } = await app.closed();
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
  assert.deepEqual(await worker.closed(), { code: 0, signal: null }, 'not killed by the signal (status 143)');
  const events = worker.events.map((e) => `${e.event}${e.n === undefined ? '' : e.n}`);
  assert.deepEqual(events.slice(events.indexOf('job-start1')), ['job-start1', 'job-end1', 'queue-closed', 'exit']);
});

test('a second SIGTERM forces a worker\'s stop: exit 1, the unfinished job named', { timeout: 30_000 }, async (t) => {
  const worker = startWorker(t, { GRACE_JOB_MS: '600000' });
  const started = await worker.waitFor((e) => e.event === 'job-start');
  process.kill(started.pid, 'SIGTERM');
  await waitUntil(() => /SIGTERM: shutting down/.test(worker.log));
  process.kill(started.pid, 'SIGTERM');
  const { code } = await worker.closed();
  assert.equal(code, 1);
  assert.match(worker.log, /shutdown forced; unfinished: .*consumer/);
});
