import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { resolveOptions } from '../src/generation/options.ts';
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
  bad({ requests: ['/'], timeout: -1 }, /options\.warmUp\.timeout must be a number of milliseconds from 0 to 2147483647 .*got -1/);
  bad({ requests: ['/'], failOnError: 'yes' }, /options\.warmUp\.failOnError must be true or false, got "yes"/);
  bad('/', /options\.warmUp must be a list of paths or \{ requests, … \}, got "\/"/);
  const resolved = resolveOptions({ warmUp: ['/', { path: '/x', method: 'POST' }] }).warmUp!;
  assert.deepEqual(resolved, { requests: [{ path: '/' }, { path: '/x', method: 'POST' }], rounds: 100, concurrency: 4, timeout: 3000, failOnError: false });
  assert.equal(resolveOptions({}).warmUp, undefined);
});

/** Every unix socket file under `dir`, at any depth. */
function socketsUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((e) => lstatSync(join(dir, e)).isSocket());
}

test('with a TMPDIR too long for a socket path (150 bytes), warm-up runs inside its private directory, two restarts in a row work, and nothing is left behind', { timeout: 90_000 }, async (t) => {
  const parent = tempDir(t);
  const tmp = join(parent, 'x'.repeat(150 - Buffer.byteLength(parent) - 1));
  mkdirSync(tmp);
  assert.equal(Buffer.byteLength(tmp), 150);
  const app = startFixture(t, { warmUp: { requests: ['/a', '/b'], rounds: 3 } }, { TMPDIR: tmp }, { file: process.execPath, args: ['--import', 'tsx', APP] });
  let current = (await app.ready()) as Ready;
  const port = portOf(current);
  for (let restart = 0; restart <= 2; restart++) {
    assert.equal(current.warm, 6, `generation ${restart + 1} was warmed`);
    assert.deepEqual(current.warmDir.entries.length, 1, 'its private directory was in TMPDIR');
    assert.equal(current.warmDir.mode, '700');
    assert.deepEqual(warmDirs(current.tmpAfter), [], 'and gone once serving');
    assert.equal((await get({ port }, '/')).json.pid, current.pid);
    if (restart === 2) break;
    process.kill(current.pid, 'SIGUSR2');
    const next = (await app.handedOver(current.pid)) as Ready;
    await waitForExit(current.pid);
    current = next;
  }
  process.kill(current.pid, 'SIGTERM');
  await waitForExit(current.pid);
  assert.deepEqual(readdirSync(parent), [basename(tmp)], "nothing in TMPDIR's parent");
  assert.deepEqual(warmDirs(readdirSync(tmp)), [], 'no warm-up directory in TMPDIR');
  assert.deepEqual(socketsUnder(parent), [], 'no socket file anywhere');
});

test('a stop during warm-up aborts it, removes its directory, and exits 0 at once (no "still busy" wait)', { timeout: 60_000 }, async (t) => {
  // 80 requests of 50 ms, one at a time: a 4 s warm-up.
  const { app, tmp } = startApp(t, { warmUp: { requests: ['/slow'], rounds: 80, concurrency: 1, timeout: 10_000 }, slowMs: 50 });
  await app.waitFor((e) => e.event === 'warming');
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null });
  assert.match(app.log, /Stopping pid \d+ on SIGTERM/);
  assert.doesNotMatch(app.log, /still busy/);
  const ready = app.events.find((e) => e.event === 'ready') as Ready | undefined;
  assert.ok(!ready || ready.warm < 80, 'the warm-up was cut short');
  assert.deepEqual(warmDirs(readdirSync(tmp)), [], 'no warm-up directory is left');
  assert.deepEqual(socketsUnder(tmp), []);
});

test('a process that dies of an uncaught error during warm-up leaves no warm-up directory behind', { timeout: 60_000 }, async (t) => {
  const { app, tmp } = startApp(t, { warmUp: { requests: ['/slow'], rounds: 80, concurrency: 1, timeout: 10_000 }, slowMs: 50, crashOnWarm: true });
  assert.equal((await app.closed()).code, 1);
  assert.match(app.log, /crash during warm-up/);
  assert.deepEqual(warmDirs(readdirSync(tmp)), []);
  assert.deepEqual(socketsUnder(tmp), []);
});

test('warmUp.timeout: requests still in flight at the deadline are cut and count as failed, and the generation serves without waiting for them', { timeout: 60_000 }, async (t) => {
  const { app } = startApp(t, { warmUp: { requests: ['/slow'], rounds: 1, timeout: 300 }, slowMs: 30_000 });
  const ready = (await app.ready()) as Ready & { warmFinished: number };
  assert.equal(ready.warm, 1);
  assert.equal(ready.warmFinished, 0, 'serving before the slow handler finished');
  await app.waitForLog(/warning: 1 of 1 warm-up requests failed \(first: \/slow: cut at the warm-up's 300 ms timeout\); serving anyway/);
  assert.equal((await get({ port: portOf(ready) }, '/')).json.pid, ready.pid);
});

test('warmUp.concurrency: at most that many warm-up requests reach the app at once, and that many do', { timeout: 60_000 }, async (t) => {
  const { app } = startApp(t, { warmUp: { requests: Array(6).fill('/slow'), rounds: 2, concurrency: 3, timeout: 30_000 }, slowMs: 400 });
  const ready = (await app.ready()) as Ready & { maxWarmInFlight: number };
  assert.equal(ready.warm, 12);
  assert.equal(ready.maxWarmInFlight, 3);
});

test('a warm-up that sent nothing says why: a requests function that failed before sending is counted per round (not "1 of 0 requests"), a 0 ms timeout is named', { timeout: 60_000 }, async (t) => {
  const { app } = startApp(t, { warmUpThrows: true });
  const ready = (await app.ready()) as Ready;
  assert.equal(ready.warm, 0);
  await app.waitForLog(/warning: the warm-up requests function failed in 2 of 2 rounds \(first: no session\); serving anyway/);
  assert.doesNotMatch(app.log, / of 0 /);

  const { app: none } = startApp(t, { warmUp: { requests: ['/a'], timeout: 0 } });
  assert.equal(((await none.ready()) as Ready).warm, 0);
  await none.waitForLog(/warning: warm-up sent no request: its 0 ms timeout passed before the first/);
});
