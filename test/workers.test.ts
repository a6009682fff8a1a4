// `grace run --workers N`, through real processes, sockets and signals: the
// workers share the supervisor's sockets, a rolling reload loses nothing, a
// new worker that fails aborts it, a dead or bloated worker is replaced in
// its slot, a stop drains them all, and `grace status` tells the truth.
// Nothing here asserts timing: only counts, pids and exit statuses.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad } from '../bench/load.ts';
import { assertInOrder, CLI, fakeSystemdNotify, FIXTURE_ARGS, get, isAlive, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture, type FixtureEvent, type Target } from './helpers.ts';

const node = process.execPath;

function supervise(t: TestContext, runArgs: string[], config: object, env: NodeJS.ProcessEnv = {}) {
  return startFixture(t, config, env, { file: node, args: ['--import', 'tsx', CLI, 'run', ...runArgs, '--', node, ...FIXTURE_ARGS] });
}

/** The `grace` command to its exit: status, stdout, stderr. */
function grace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

/** Each slot's first ready worker, in slot order. */
async function workersReady(app: Fixture, n: number, exclude: number[] = []): Promise<FixtureEvent[]> {
  const ready: FixtureEvent[] = [];
  for (let i = 0; i < n; i++) ready.push(await app.waitFor((e) => e.event === 'ready' && e.worker === String(i) && !exclude.includes(e.pid)));
  return ready;
}

/** Requests on fresh connections, `parallel` at a time, until every pid in `want` has answered (at most `max` requests). */
async function answeredBy(port: number | Target, want: number[], max = 4000, parallel = 16): Promise<Map<number, number>> {
  const target = typeof port === 'number' ? { port } : port;
  const seen = new Map<number, number>();
  let sent = 0;
  const loop = async () => {
    while (sent < max && !want.every((pid) => seen.has(pid))) {
      sent++;
      const { json } = await get(target, '/');
      seen.set(json.pid, (seen.get(json.pid) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, loop));
  return seen;
}

test('--workers 2: two processes serve the same socket, each knowing its slot', { timeout: 90_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const [w0, w1] = await workersReady(app, 2);
  assert.notEqual(w0!.pid, w1!.pid);
  assert.equal(w0!.workers, '2');
  const port = portOf(w0!);
  assert.equal(portOf(w1!), port);
  const seen = await answeredBy(port, [w0!.pid, w1!.pid]);
  assert.deepEqual([...seen.keys()].sort(), [w0!.pid, w1!.pid].sort(), 'both workers answered, and nobody else');
  await app.waitForLog('all 2 workers are ready');
});

test('--workers 2: rolling reloads under load lose no request, and each slot keeps its index', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile], { listen: [{ port: 0, host: '127.0.0.1' }] });
  let generation = await workersReady(app, 2);
  const port = portOf(generation[0]!);
  await waitUntil(() => existsSync(pidFile));
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const loads = [true, false].map((keepAlive) => runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive, signal: stop.signal }));
  const seenPids = generation.map((w) => w.pid);
  for (let i = 0; i < 2; i++) {
    const result = await grace(['reload', '--pid-file', pidFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^reloaded: workers \d+, \d+ → \d+, \d+ \(generation \d+\)/);
    const next = await workersReady(app, 2, seenPids);
    for (const old of generation) assert.equal(isAlive(old.pid), false, `old worker ${old.pid} has exited once reload returned`);
    generation = next;
    seenPids.push(...next.map((w) => w.pid));
  }
  stop.abort();
  for (const samples of await Promise.all(loads)) {
    assert.ok(samples.count > 0);
    assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
  }
  // Every retired worker drained and exited 0 (its lines come through the supervisor, maybe after its exit).
  const retiredExits = () => app.events.filter((e) => e.event === 'exit' && seenPids.slice(0, 4).includes(e.pid));
  await waitUntil(() => retiredExits().length >= 4, 15_000, () => `the retired workers' exit events\n${app.log}`);
  const exits = retiredExits();
  assert.deepEqual(exits.map((e) => e.code), [0, 0, 0, 0]);
});

test('a new worker that crashes aborts the reload: the old workers keep serving, and grace reload exits 1 naming it', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const control = join(dir, 'control.json');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile], { listen: [{ port: 0, host: '127.0.0.1' }], control });
  const old = await workersReady(app, 2);
  await waitUntil(() => app.log.includes('all 2 workers are ready'));
  writeFileSync(control, JSON.stringify({ crashOnStart: true }));
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /worker 0 failed: worker 0 \(generation 2\) pid \d+ exited with code 3 before it was ready; the reload to generation 2 was abandoned/);
  assert.match(result.stderr, new RegExp(`still serving: pids ${old[0]!.pid}, ${old[1]!.pid}`));
  assert.ok(old.every((w) => isAlive(w.pid)));
  await app.waitFor((e) => e.event === 'crashing'); // relayed by the supervisor: it may come after the answer
  assert.equal(app.events.filter((e) => e.event === 'crashing').length, 1, 'one new worker at a time (--surge 1): only one was tried');
  const seen = await answeredBy(portOf(old[0]!), old.map((w) => w.pid));
  assert.deepEqual([...seen.keys()].sort(), old.map((w) => w.pid).sort());
  const status = JSON.parse((await grace(['status', '--pid-file', pidFile, '--json'])).stdout);
  assert.equal(status.state, 'failed');
  assert.deepEqual(status.workers.map((w: { pid: number; state: string }) => [w.pid, w.state]), old.map((w) => [w.pid, 'serving']));
  // Fixed: the next reload goes through.
  writeFileSync(control, '{}');
  const again = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(again.code, 0, again.stderr);
});

test('a new worker that misses --ready-timeout aborts the reload the same way', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const control = join(dir, 'control.json');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile, '--ready-timeout', '10000'], {
    listen: [{ port: 0, host: '127.0.0.1' }],
    control,
    reportReadyHook: true, // so a hung worker's pid is known, and killed when the test ends
  });
  const old = await workersReady(app, 2);
  await waitUntil(() => app.log.includes('all 2 workers are ready'));
  writeFileSync(control, JSON.stringify({ hang: true }));
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /worker 0 failed: worker 0 \(generation 2\) pid \d+ was not ready within 10000 ms/);
  assert.ok(old.every((w) => isAlive(w.pid)));
  const seen = await answeredBy(portOf(old[0]!), old.map((w) => w.pid));
  assert.deepEqual([...seen.keys()].sort(), old.map((w) => w.pid).sort());
});

test('a reload while a crashed worker\'s restart hangs replaces that start with the new code, and grace reload exits 0', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const control = join(dir, 'control.json');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile, '--ready-timeout', '60000'], {
    listen: [{ port: 0, host: '127.0.0.1' }],
    control,
    reportReadyHook: true,
  });
  const [, w1] = await workersReady(app, 2);
  writeFileSync(control, JSON.stringify({ hang: true }));
  process.kill(w1!.pid, 'SIGKILL');
  const hung = await app.waitFor((e) => e.event === 'ready-hook' && e.pid !== w1!.pid && app.events.filter((x) => x.event === 'ready-hook').indexOf(e) >= 2);
  writeFileSync(control, '{}');
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  await waitForExit(hung.pid);
  await app.waitForLog(/SIGUSR2: reloading to generation 3; pid \d+ serves until its replacement is ready; 1 slot down takes the new code first/);
});

test('a killed worker is replaced in its slot while the other keeps serving', { timeout: 90_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const [w0, w1] = await workersReady(app, 2);
  process.kill(w1!.pid, 'SIGKILL');
  const replacement = await app.waitFor((e) => e.event === 'ready' && e.worker === '1' && e.pid !== w1!.pid);
  await app.waitForLog(new RegExp(`worker 1 pid ${w1!.pid} exited with SIGKILL while serving`));
  assert.ok(isAlive(w0!.pid), 'worker 0 was left alone');
  const seen = await answeredBy(portOf(w0!), [w0!.pid, replacement.pid]);
  assert.deepEqual([...seen.keys()].sort(), [w0!.pid, replacement.pid].sort());
});

test('--max-memory replaces a worker over the limit gracefully: a new one first, the old one drained', { timeout: 90_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--max-memory', '400M'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const ready = await workersReady(app, 2);
  const grew = await get({ port: portOf(ready[0]!) }, '/grow?mb=500');
  const bloated = ready.find((w) => w.pid === grew.json.pid)!;
  const replacement = await app.waitFor((e) => e.event === 'ready' && e.worker === bloated.worker && e.pid !== bloated.pid, 30_000);
  await waitForExit(bloated.pid);
  await app.waitForLog(`retiring worker ${bloated.worker} (pid ${bloated.pid}, generation 1)`);
  // The supervisor's own lines, in the order it acted: the new one is ready before the old one retires.
  assertInOrder(app.log, [
    new RegExp(`worker ${bloated.worker} pid ${bloated.pid} uses \\d+ MiB, over --max-memory 400 MiB: replacing it`),
    `worker ${bloated.worker} (pid ${replacement.pid}, generation 2) is ready`,
    `retiring worker ${bloated.worker} (pid ${bloated.pid}, generation 1)`,
  ]);
  // Its lines come through the supervisor: maybe after its exit.
  const exit = await app.waitFor((e) => e.event === 'exit' && e.pid === bloated.pid);
  assert.equal(exit.code, 0, 'retired and drained, not killed');
  assert.ok(app.events.some((e) => e.event === 'stopped' && e.pid === bloated.pid));
  const other = ready.find((w) => w !== bloated)!;
  assert.ok(isAlive(other.pid), 'the other worker was left alone');
  assert.ok(isAlive(replacement.pid));
});

test('SIGTERM drains every worker under one deadline: in-flight requests finish, and the supervisor exits 0', { timeout: 90_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const ready = await workersReady(app, 2);
  const port = portOf(ready[0]!);
  const agent = new http.Agent({ keepAlive: false });
  const slow = Array.from({ length: 8 }, () => get({ port }, '/sleep?ms=1500&report', { agent }));
  await waitUntil(() => app.events.filter((e) => e.event === 'request-start').length === 8, 15_000, () => 'all 8 requests in a handler');
  process.kill(app.proc.pid!, 'SIGTERM');
  const answers = await Promise.all(slow);
  assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
  const { code } = await app.closed(); // every relayed line read
  assert.equal(code, 0);
  for (const w of ready) assert.equal(isAlive(w.pid), false);
  assert.deepEqual(app.events.filter((e) => e.event === 'exit').map((e) => e.code), [0, 0]);
});

test('the supervisor exits non-zero, naming the worker, when a worker does not stop cleanly', { timeout: 90_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2'], { listen: [{ port: 0, host: '127.0.0.1' }], exitCodeOnStop: 5 });
  await workersReady(app, 2);
  process.kill(app.proc.pid!, 'SIGTERM');
  const { code } = await app.closed();
  assert.equal(code, 5);
  assert.match(app.log, /worker 0 did not stop cleanly: code 5/);
  assert.match(app.log, /worker 1 did not stop cleanly: code 5/);
});

test('grace status shows each worker: slot, pid, generation, state, uptime, RSS and restarts', { timeout: 90_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const launched = Date.now();
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const [w0, w1] = await workersReady(app, 2);
  const w0Seen = Date.now(); // worker 0 started before this
  process.kill(w1!.pid, 'SIGKILL'); // its replacement starts after this
  const w1b = await app.waitFor((e) => e.event === 'ready' && e.worker === '1' && e.pid !== w1!.pid);
  const w1bSeen = Date.now();
  await waitUntil(() => app.log.includes(`worker 1 (pid ${w1b.pid}, generation 2) is ready`));
  let status: { pid: number; state: string; generation: number; workers: Array<{ index: number; pid: number; generation: number; state: string; rss: number; uptimeMs: number; restarts: number }> };
  let asked = 0;
  await waitUntil(() => {
    asked = Date.now();
    status = JSON.parse(execFileText(['status', '--pid-file', pidFile, '--json']));
    return status.workers.every((w) => w.state === 'serving') && status.workers[1]!.pid === w1b.pid;
  });
  assert.equal(status!.pid, app.proc.pid);
  assert.equal(status!.state, 'serving');
  assert.deepEqual(status!.workers.map((w) => [w.index, w.pid, w.generation, w.state, w.restarts]), [
    [0, w0!.pid, 1, 'serving', 0],
    [1, w1b.pid, 2, 'serving', 1],
  ]);
  for (const w of status!.workers) {
    assert.ok(w.rss > 1024 * 1024, `rss ${w.rss}`);
  }
  // Uptime runs from each worker's own start: bounded by what the test saw, and the replacement's is shorter.
  const answered = Date.now();
  const [u0, u1] = status!.workers.map((w) => w.uptimeMs) as [number, number];
  assert.ok(u0 >= asked - w0Seen && u0 <= answered - launched, `worker 0 up ${u0} ms: within [${asked - w0Seen}, ${answered - launched}]`);
  assert.ok(u1 >= asked - w1bSeen && u1 <= answered - w0Seen, `worker 1 up ${u1} ms: within [${asked - w1bSeen}, ${answered - w0Seen}]`);
  assert.ok(u0 > u1, `worker 0 (up ${u0} ms) started before the replacement in slot 1 (up ${u1} ms)`);
  const text = execFileText(['status', '--pid-file', pidFile]);
  assert.match(text, new RegExp(`^pid ${app.proc.pid}: serving, generation 1, 2 serving\n`));
  assert.match(text, new RegExp(`\n0 +${w0!.pid} +1 +serving +\\S+ +[\\d.]+ MiB +0\n1 +${w1b.pid} +2 +serving +\\S+ +[\\d.]+ MiB +1\n`));
  // Then the crash, with the worker's last lines of stderr.
  assert.match(text, new RegExp(`\nlast worker failure \\(\\d+s ago\\): worker 1 pid ${w1!.pid} exited with SIGKILL while serving\n( {2}\\| .*\n)*$`));
});

/** Synchronous, for use inside waitUntil's check. */
function execFileText(args: string[]): string {
  return execFileSync(node, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
}

test('systemd Type=notify: READY=1 once all workers are ready, RELOADING=1 then READY=1 around a rolling reload', { timeout: 90_000 }, async (t) => {
  const notify = fakeSystemdNotify(t);
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2'], { listen: [{ port: 0, host: '127.0.0.1' }] }, notify.env);
  const first = await workersReady(app, 2);
  await waitUntil(() => notify.calls().length >= 1);
  process.kill(app.proc.pid!, 'SIGUSR2');
  await workersReady(app, 2, first.map((w) => w.pid));
  await waitUntil(() => notify.calls().filter((l) => l.includes('READY=1')).length >= 2);
  const lines = notify.calls();
  assert.ok(lines.every((l) => l.startsWith(`--pid=${app.proc.pid} `)), lines.join('\n'));
  assert.deepEqual(lines.map((l) => l.split(' ')[1]), ['READY=1', 'RELOADING=1', 'READY=1']);
});

test('--workers 2 on a unix socket: both serve it, across a reload', { timeout: 90_000 }, async (t) => {
  const path = join(tempDir(t), 'app.sock');
  const app = supervise(t, ['--listen', path, '--workers', '2'], { listen: [path] });
  const first = await workersReady(app, 2);
  process.kill(app.proc.pid!, 'SIGHUP');
  const next = await workersReady(app, 2, first.map((w) => w.pid));
  for (const w of first) await waitForExit(w.pid);
  const want = next.map((w) => w.pid);
  const seen = await answeredBy({ socketPath: path }, want);
  assert.deepEqual([...seen.keys()].sort(), want.sort(), 'both new workers answered on the unix socket, and nobody else');
});

for (const [args, message] of [
  [['--workers', '0'], /--workers must be a whole number from 1 to 1024, or max; got "0"/],
  [['--workers', 'abc'], /--workers must be a whole number from 1 to 1024, or max; got "abc"/],
  [['--surge', '0'], /--surge must be a whole number from 1 to 1024; got "0"/],
  [['--max-memory', 'lots'], /--max-memory takes a size from 1 byte to 9007199254740991 bytes \(8 PiB\), in bytes or with K, M or G/],
] as const) {
  test(`grace run ${args.join(' ')} is a usage error (exit 2)`, { timeout: 60_000 }, async () => {
    const result = await grace(['run', '--listen', '127.0.0.1:0', ...args, '--', node, '-e', '0']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
  });
}
