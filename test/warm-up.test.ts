import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { resolveOptions } from '../src/options.ts';
import { get, killQuietly, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture, type FixtureEvent } from './helpers.ts';

const APP = new URL('./fixtures/warm-up-app.ts', import.meta.url).pathname;

interface Ready extends FixtureEvent {
  warm: number;
  warmWhileListening: number;
  warmDir: { entries: string[]; mode: string };
  tmpAfter: string[];
}

// tsx keeps its cache in TMPDIR too.
const warmDirs = (entries: string[]) => entries.filter((e) => e.startsWith('grace-warm-'));

/** The warm-up fixture with its own TMPDIR, so its private directory can be watched. */
function startApp(t: Parameters<typeof startFixture>[0], config: object): { app: Fixture; tmp: string } {
  const tmp = tempDir(t);
  const app = startFixture(t, config, { TMPDIR: tmp }, { file: process.execPath, args: ['--import', 'tsx', APP] });
  return { app, tmp };
}

for (const framework of ['http', 'express', 'fastify', 'koa']) {
  test(`warm-up requests go through the ${framework} app's handlers before the socket is adopted, over a private 0700 directory removed before serving`, { timeout: 60_000 }, async (t) => {
    const { app, tmp } = startApp(t, { framework, warmUp: { requests: ['/a', '/b?x=1'], rounds: 5 } });
    const ready = (await app.ready()) as Ready;
    assert.equal(ready.warm, 10, 'every warm-up request reached the handler before start() resolved');
    assert.equal(ready.warmWhileListening, 0, 'none while the real server listened');
    assert.equal(ready.warmDir.entries.length, 1);
    assert.equal(ready.warmDir.mode, '700');
    assert.deepEqual(warmDirs(ready.tmpAfter), [], 'the private directory is gone once serving');
    const answer = await get({ port: portOf(ready) }, '/c');
    assert.equal(answer.json.pid, ready.pid);
    assert.equal((answer.json as unknown as { warm: number }).warm, 10, 'a client request is not a warm-up one');
    assert.deepEqual(warmDirs(readdirSync(tmp)), []);
  });
}

test('on a restart, the new generation warms up before it accepts: no client is answered by it until its warm-up is over', { timeout: 90_000 }, async (t) => {
  // 40 slow warm-up requests, one at a time: about a second during which the old generation serves alone.
  const { app, tmp } = startApp(t, { warmUp: { requests: ['/slow'], rounds: 40, concurrency: 1 }, slowMs: 25 });
  const first = (await app.ready()) as Ready;
  const port = portOf(first);
  const answers: Array<{ pid: number; warm: number }> = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const r = await get({ port }, '/');
      answers.push(r.json as unknown as { pid: number; warm: number });
    }
  })();
  process.kill(first.pid, 'SIGUSR2');
  const second = (await app.handedOver(first.pid)) as Ready;
  await waitForExit(first.pid);
  // A few answers from the new generation, then stop.
  await waitUntil(() => answers.some((a) => a.pid === second.pid), 15_000, () => 'an answer from the new generation');
  polling = false;
  await poll;
  assert.equal(second.warm, 40);
  assert.equal(second.warmWhileListening, 0);
  const fromNew = answers.filter((a) => a.pid === second.pid);
  assert.ok(fromNew.length > 0, 'the new generation answered clients');
  assert.ok(answers.some((a) => a.pid === first.pid), 'the old generation answered while the new one warmed up');
  assert.deepEqual(fromNew.filter((a) => a.warm !== 40), [], 'the new generation answered no client before its warm-up was over');
  assert.deepEqual(warmDirs(readdirSync(tmp)), [], 'no warm-up directory is left');
  killQuietly(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
});

test('a requests function sends its own warm-up requests, once per round, and reads their answers', { timeout: 60_000 }, async (t) => {
  const { app } = startApp(t, { warmUpFunction: true });
  const ready = (await app.ready()) as Ready & { seenByFunction: string[] };
  assert.equal(ready.warm, 6);
  assert.deepEqual(ready.seenByFunction, ['200 200 /b', '200 200 /b', '200 200 /b']);
  await app.waitForLog(/grace: warmed up with 6 requests in \d+ ms/);
});

test('a failing warm-up request is a warning and the generation serves; with failOnError, start() fails with ERR_GRACE_WARM_UP', { timeout: 60_000 }, async (t) => {
  const { app: lenient } = startApp(t, { warmUp: { requests: ['/a', '/fail'], rounds: 2 } });
  const ready = (await lenient.ready()) as Ready;
  assert.equal(ready.warm, 4);
  await lenient.waitForLog(/warning: 2 of 4 warm-up requests failed \(first: \/fail: status 500\); serving anyway/);

  const { app: strict } = startApp(t, { warmUp: { requests: ['/a', '/fail'], rounds: 2, failOnError: true } });
  const failed = await strict.waitFor((e) => e.event === 'start-failed');
  assert.equal(failed.code, 'ERR_GRACE_WARM_UP');
  assert.match(String(failed.message), /2 of 4 warm-up requests failed/);
});

test('warm-up options are checked, naming the bad value', { timeout: 10_000 }, () => {
  const bad = (warmUp: unknown, message: RegExp) =>
    assert.throws(() => resolveOptions({ warmUp } as never), (err: Error & { code?: string }) => err.code === 'ERR_GRACE_OPTIONS' && message.test(err.message));
  bad([], /options\.warmUp\.requests must be a non-empty list of paths .*, got \[\]/);
  bad(['api'], /options\.warmUp\.requests\[0\] must be a path starting with '\/'.*got "api"/);
  bad({ requests: ['/'], rounds: 0 }, /options\.warmUp\.rounds must be a whole number of at least 1, got 0/);
  bad({ requests: ['/'], concurrency: 1.5 }, /options\.warmUp\.concurrency must be a whole number of at least 1, got 1\.5/);
  bad({ requests: ['/'], timeout: -1 }, /options\.warmUp\.timeout must be a non-negative number of milliseconds, got -1/);
  bad({ requests: ['/'], failOnError: 'yes' }, /options\.warmUp\.failOnError must be true or false, got "yes"/);
  bad('/', /options\.warmUp must be a list of paths or \{ requests, … \}, got "\/"/);
  const resolved = resolveOptions({ warmUp: ['/', { path: '/x', method: 'POST' }] }).warmUp!;
  assert.deepEqual(resolved, { requests: [{ path: '/' }, { path: '/x', method: 'POST' }], rounds: 100, concurrency: 4, timeout: 3000, failOnError: false });
  assert.equal(resolveOptions({}).warmUp, undefined);
});
