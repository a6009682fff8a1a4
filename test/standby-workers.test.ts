// `grace run --standby K`, through real processes: parked spares take the
// rolling reloads and the crash replacements, and go with the supervisor.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad } from '../bench/load.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';
import { CLI, FIXTURE_ARGS, get, isAlive, killQuietly, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture, type FixtureEvent } from './helpers.ts';

const node = process.execPath;
const LISTEN = { listen: [{ port: 0, host: '127.0.0.1' }] };

function supervise(t: TestContext, runArgs: string[]): Fixture {
  const app = startFixture(t, LISTEN, { GRACE_DEBUG: '1' }, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', ...runArgs, '--', node, ...FIXTURE_ARGS] });
  t.after(() => {
    for (const pid of spares(app)) killQuietly(pid);
  });
  return app;
}

/** Every spare booted so far. */
function spares(app: Fixture): number[] {
  return [...app.log.matchAll(/booting standby pid (\d+)/g)].map((m) => Number(m[1]));
}

/** The spares parked and not released (nor dropped) yet. */
function parkedSpares(app: Fixture): number[] {
  const parked = [...app.log.matchAll(/standby pid (\d+) parked/g)].map((m) => Number(m[1]));
  const used = new Set([...app.log.matchAll(/(?:releasing standby|standby) pid (\d+) (?:as the next|not used)/g)].map((m) => Number(m[1])));
  return parked.filter((pid) => !used.has(pid));
}

async function untilParked(app: Fixture, n: number): Promise<number[]> {
  await waitUntil(() => parkedSpares(app).length >= n, 20_000, () => `${n} parked spares\n${app.log}`);
  return parkedSpares(app);
}

/** Each slot's ready worker, not one of `exclude`. */
async function workersReady(app: Fixture, n: number, exclude: number[] = []): Promise<FixtureEvent[]> {
  const ready: FixtureEvent[] = [];
  for (let i = 0; i < n; i++) ready.push(await app.waitFor((e) => e.event === 'ready' && e.worker === String(i) && !exclude.includes(e.pid)));
  return ready;
}

/** The workers the pid file lists as serving, and its spares (-1) parked or booting; none while it cannot be read. */
function pidFileWorkers(pidFile: string): Array<{ index: number; pid: number; state: string }> {
  try {
    return readPidFile(pidFile).workers ?? [];
  } catch {
    return [];
  }
}

/** No spare is booted while reload `generation` goes on: between its start and its end in the log. */
function assertNoBootDuring(app: Fixture, generation: number, workers: number): void {
  const from = app.log.indexOf(`reloading to generation ${generation};`);
  const to = app.log.indexOf(`reload done: all ${workers} workers serve generation ${generation}`);
  assert.ok(from >= 0 && to > from, `reload ${generation} started and ended\n${app.log}`);
  assert.doesNotMatch(app.log.slice(from, to), /booting standby/, `no spare booted during reload ${generation}`);
}

test('--workers 2 --standby 2 under load: each reload releases both parked spares at once, 2 accept throughout, the refill waits for its end; no failed request', { timeout: 120_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--workers', '2', '--standby', '2', '--pid-file', pidFile]);
  let generation = await workersReady(app, 2);
  const port = portOf(generation[0]!);
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const loads = [true, false].map((keepAlive) => runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive, signal: stop.signal }));
  // The pid file is written after every step, and an old worker leaves only in the step its replacement is ready.
  await waitUntil(() => pidFileWorkers(pidFile).filter((w) => w.state === 'serving').length === 2);
  let fewest = Infinity;
  const sampler = setInterval(() => {
    const serving = pidFileWorkers(pidFile).filter((w) => w.state === 'serving').length;
    if (serving > 0) fewest = Math.min(fewest, serving);
  }, 2);
  t.after(() => clearInterval(sampler));
  const seen = generation.map((w) => w.pid);
  for (let round = 0; round < 2; round++) {
    const parked = await untilParked(app, 2);
    process.kill(app.proc.pid!, 'SIGUSR2');
    // The first two new workers to be ready, whatever slot each says it has.
    const fresh = () => app.events.filter((e) => e.event === 'ready' && !seen.includes(e.pid));
    await waitUntil(() => fresh().length >= 2, 30_000, () => `2 new workers ready\n${app.log}`);
    const next = fresh().slice(0, 2).sort((a, b) => Number(a.worker) - Number(b.worker));
    assert.deepEqual(next.map((w) => w.pid).sort(), parked.slice(0, 2).sort(), 'the new workers are the spares parked before the reload');
    // Both released in the reload's first step: each started before either was ready.
    const g = round + 2;
    const firstReady = app.log.search(new RegExp(`\\(pid \\d+, generation ${g}\\) is ready`));
    for (const w of next) assert.ok(app.log.indexOf(`started worker ${w.worker} (pid ${w.pid}, generation ${g}) (reload)`) < firstReady, `worker ${w.worker} started before any was ready\n${app.log}`);
    // Each released spare knows its slot and generation: it booted with neither, both come with the release.
    assert.deepEqual(next.map((w) => [w.worker, w.workers]), [['0', '2'], ['1', '2']]);
    for (const w of next) await app.waitForLog(`[w${w.worker} ${w.pid}] grace: Starting pid ${w.pid} (generation ${g})`);
    for (const old of generation) await waitForExit(old.pid);
    await app.waitForLog(`reload done: all 2 workers serve generation ${g}`);
    assertNoBootDuring(app, g, 2);
    generation = next;
    seen.push(...next.map((w) => w.pid));
  }
  clearInterval(sampler);
  assert.equal(fewest, 2, 'the pid file never listed fewer than 2 serving workers');
  stop.abort();
  const workers = new Set(seen);
  for (const samples of await Promise.all(loads)) {
    assert.ok(samples.count > 0);
    assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
    assert.deepEqual(samples.pid.filter((pid) => !workers.has(pid)), [], 'every answer came from a worker');
  }
  const answer = await get({ port }, '/');
  assert.ok(generation.some((w) => w.pid === answer.json.pid), `answered by the last generation: ${answer.json.pid}`);
});

test('a storm of reloads under load: the refills wait for each reload to end and coalesce; exactly K spares are left after it', { timeout: 120_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--workers', '2', '--standby', '2', '--pid-file', pidFile]);
  const [first] = await workersReady(app, 2);
  await untilParked(app, 2);
  const stop = new AbortController();
  t.after(() => stop.abort());
  const load = runLoad({ host: '127.0.0.1', port: portOf(first!), connections: 4, keepAlive: true, signal: stop.signal });
  // Each reload as soon as the last one is done, and a second signal while it goes on (refused).
  const reloads = 5;
  for (let g = 2; g < 2 + reloads; g++) {
    process.kill(app.proc.pid!, 'SIGUSR2');
    process.kill(app.proc.pid!, 'SIGUSR2');
    await app.waitForLog(`reload done: all 2 workers serve generation ${g}`, 30_000);
  }
  stop.abort();
  const samples = await load;
  assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
  for (let g = 2; g < 2 + reloads; g++) assertNoBootDuring(app, g, 2);
  // Once it is quiet: the pid file lists exactly 2 spares, both parked, and every other spare ever booted is a worker now or gone.
  const spareEntries = () => pidFileWorkers(pidFile).filter((w) => w.index === -1);
  await waitUntil(() => spareEntries().length === 2 && spareEntries().every((w) => w.state === 'standby'), 30_000, () => JSON.stringify(pidFileWorkers(pidFile)));
  const listed = new Set(pidFileWorkers(pidFile).map((w) => w.pid));
  for (const pid of spares(app).filter((pid) => !listed.has(pid))) await waitForExit(pid);
  assert.equal(spareEntries().length, 2);
});

test('--standby 1: a crashed worker is replaced by the parked spare, grace status lists the spares, a stop takes them too', { timeout: 90_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--workers', '1', '--standby', '1', '--pid-file', pidFile]);
  const [first] = await workersReady(app, 1);
  const [spare] = await untilParked(app, 1);
  process.kill(first!.pid, 'SIGKILL');
  const replacement = await app.waitFor((e) => e.event === 'ready' && e.pid !== first!.pid);
  assert.equal(replacement.pid, spare);
  const [refill] = await untilParked(app, 1);
  assert.notEqual(refill, spare);
  const status = () => JSON.parse(execFileSync(node, ['--import', 'tsx', CLI, 'status', '--pid-file', pidFile, '--json'], { encoding: 'utf8' })) as { workers: Array<{ index: number; pid: number; state: string }> };
  await waitUntil(() => status().workers.some((w) => w.pid === refill && w.state === 'standby'), 15_000, () => JSON.stringify(status()));
  assert.deepEqual(status().workers.map((w) => [w.index, w.pid, w.state]), [[0, spare, 'serving'], [-1, refill, 'standby']]);
  assert.match(execFileSync(node, ['--import', 'tsx', CLI, 'status', '--pid-file', pidFile], { encoding: 'utf8' }), new RegExp(`\\n-\\s+${refill}\\s+-\\s+standby`));
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
  await waitForExit(refill!);
  assert.equal(isAlive(spare!), false);
});

test('a wrapper command: the node it started is replaced on disk, so a spare is not used', { timeout: 90_000 }, async (t) => {
  const bin = tempDir(t);
  const copy = join(bin, 'node');
  copyFileSync(node, copy);
  // sh runs first and execs node: the spare parks in that node, whose binary the supervisor never named.
  const app = startFixture(t, LISTEN, { GRACE_DEBUG: '1' }, {
    file: node,
    args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', '1', '--', '/bin/sh', '-c', 'exec "$0" "$@"', copy, ...FIXTURE_ARGS],
  });
  t.after(() => {
    for (const pid of spares(app)) killQuietly(pid);
  });
  const [first] = await workersReady(app, 1);
  const [spare] = await untilParked(app, 1);
  copyFileSync(node, `${copy}.new`);
  renameSync(`${copy}.new`, copy);
  process.kill(app.proc.pid!, 'SIGUSR2');
  const [next] = await workersReady(app, 1, [first!.pid]);
  await app.waitForLog(new RegExp(`standby pid ${spare} not used: the node binary ${copy} changed on disk; starting a fresh process`));
  assert.notEqual(next!.pid, spare);
});

test('a command that replaces NODE_OPTIONS: the spare runs the app without parking, goes, and no more are booted; reloads start afresh', { timeout: 90_000 }, async (t) => {
  // The park is at the front of NODE_OPTIONS; this command sets its own before it execs node.
  const app = startFixture(t, LISTEN, { GRACE_DEBUG: '1' }, {
    file: node,
    args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', '1', '--', '/usr/bin/env', 'NODE_OPTIONS=', node, ...FIXTURE_ARGS],
  });
  t.after(() => {
    for (const pid of spares(app)) killQuietly(pid);
  });
  const [first] = await workersReady(app, 1);
  await app.waitForLog(/standby pid (\d+) said "ready" before it parked: the park preload did not run \(does the command replace NODE_OPTIONS\?\); restarts start afresh from now on/);
  const spare = spares(app)[0]!;
  await waitForExit(spare);
  process.kill(app.proc.pid!, 'SIGUSR2');
  const [next] = await workersReady(app, 1, [first!.pid, spare]);
  await app.waitForLog(/reload done/);
  assert.deepEqual(spares(app), [spare], 'no other spare booted');
  assert.doesNotMatch(app.log, /releasing standby/);
  assert.notEqual(next!.pid, spare);
});

test('the supervisor SIGKILLed: its parked spares exit', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--workers', '1', '--standby', '2']);
  const [worker] = await workersReady(app, 1);
  t.after(() => killQuietly(worker!.pid));
  const parked = await untilParked(app, 2);
  process.kill(app.proc.pid!, 'SIGKILL');
  for (const pid of parked) await waitForExit(pid);
});

test('--standby takes 1 to 64', { timeout: 60_000 }, () => {
  for (const [value, message] of [['0', /--standby must be a whole number from 1 to 64; got "0"/], ['65', /--standby must be a whole number from 1 to 64; got "65"/]] as const) {
    const run = spawnSync(node, ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', value, '--', node, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, message);
  }
});
