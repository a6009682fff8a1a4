// `grace scale N` and SIGTTIN / SIGTTOU on a running `grace run`, through
// real processes under load: workers added serve, workers scaled away drain
// and exit 0, `grace status` and the pid file follow, no request fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad } from '../bench/load.ts';
import { readStat } from '../src/platform/proc.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';
import { CLI, FIXTURE_ARGS, get, isAlive, portOf, startFixture, tempDir, waitUntil, type Response } from './helpers.ts';

const node = process.execPath;

function supervise(t: TestContext, runArgs: string[]) {
  return startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, {}, { file: node, args: ['--import', 'tsx', CLI, 'run', ...runArgs, '--', node, ...FIXTURE_ARGS] });
}

function grace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
  });
}

/** The pid file's grace line. */
function pidFileState(path: string): { size: number; workers: Array<{ index: number; pid: number; state: string }> } {
  const { size, workers } = readPidFile(path);
  return { size: size!, workers: workers! };
}

test('grace scale up and down, and SIGTTIN / SIGTTOU, under load: 0 failed requests, scaled-away workers drain and exit 0', { timeout: 120_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--pid-file', pidFile]);
  const first = await app.ready();
  const port = portOf(first);
  await waitUntil(() => pidFileState(pidFile).workers.some((w) => w.state === 'serving'));
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const loads = [true, false].map((keepAlive) => runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive, signal: stop.signal }));

  const up = await grace(['scale', '3', '--pid-file', pidFile]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /^scaled: 1 → 3 workers serving \(pids \d+, \d+, \d+\)/);
  const three = pidFileState(pidFile);
  assert.equal(three.size, 3);
  assert.deepEqual(three.workers.map((w) => [w.index, w.state]), [[0, 'serving'], [1, 'serving'], [2, 'serving']]);
  assert.equal(three.workers[0]!.pid, first.pid, 'slot 0 kept its worker');
  const status = JSON.parse((await grace(['status', '--pid-file', pidFile, '--json'])).stdout);
  assert.equal(status.workers.filter((w: { state: string }) => w.state === 'serving').length, 3);
  // The new ones accept on the same socket.
  const seen = new Set<number>();
  for (let i = 0; i < 2000 && seen.size < 3; i++) seen.add((await get({ port }, '/')).json.pid);
  assert.deepEqual([...seen].sort(), three.workers.map((w) => w.pid).sort());

  // A slow request in flight on each worker about to be scaled away: their drain must answer it.
  const gone = three.workers.slice(1).map((w) => w.pid);
  const slow: Array<Promise<Response>> = [];
  const busy = () => new Set(app.events.filter((e) => e.event === 'request-start' && gone.includes(e.pid)).map((e) => e.pid));
  while (busy().size < gone.length && slow.length < 200) {
    slow.push(get({ port }, '/sleep?ms=1500&report'));
    await waitUntil(() => app.events.filter((e) => e.event === 'request-start').length >= slow.length, 15_000, () => 'the slow request in a handler');
  }
  assert.equal(busy().size, gone.length, 'a slow request reached each worker to be scaled away');
  const down = await grace(['scale', '1', '--pid-file', pidFile]);
  assert.equal(down.code, 0, down.stderr);
  const answered = await Promise.all(slow);
  for (const pid of gone) assert.ok(answered.some((r) => r.status === 200 && r.json.pid === pid), `scaled-away pid ${pid} answered the request it had in hand`);
  for (const pid of gone) assert.equal(isAlive(pid), false, `scaled-away pid ${pid} has exited once grace scale returned`);
  // Their lines come through the supervisor: maybe after their exit.
  const goneExits = () => app.events.filter((e) => e.event === 'exit' && gone.includes(e.pid));
  await waitUntil(() => goneExits().length >= 2, 15_000, () => `the scaled-away workers' exit events\n${app.log}`);
  assert.deepEqual(goneExits().map((e) => e.code), [0, 0], 'drained, not killed');
  assert.deepEqual(pidFileState(pidFile).workers.map((w) => [w.index, w.pid]), [[0, first.pid]]);

  // One more, one fewer, by signal (as Unicorn).
  app.proc.kill('SIGTTIN');
  await waitUntil(() => pidFileState(pidFile).workers.filter((w) => w.state === 'serving').length === 2);
  const added = pidFileState(pidFile).workers.find((w) => w.index === 1)!.pid;
  assert.equal((await app.waitFor((e) => e.event === 'ready' && e.pid === added)).worker, '1', 'the worker SIGTTIN added started in slot 1');
  app.proc.kill('SIGTTOU');
  await waitUntil(() => !isAlive(added) && pidFileState(pidFile).size === 1);
  const addedExit = await app.waitFor((e) => e.event === 'exit' && e.pid === added);
  assert.equal(addedExit.code, 0, 'the worker SIGTTOU took away drained, not killed');
  app.proc.kill('SIGTTOU');
  await app.waitForLog('SIGTTOU: already at 1 worker (from 1 to 1024); not scaling');

  stop.abort();
  for (const samples of await Promise.all(loads)) {
    assert.ok(samples.count > 0);
    assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
  }
  app.proc.kill('SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
});

test('grace scale refuses a count outside 1…1024 (exit 2), and a pid file that is no grace run', { timeout: 30_000 }, async (t) => {
  for (const n of ['0', '1025', 'many']) {
    const result = await grace(['scale', n, '--pid-file', '/nonexistent']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /the worker count must be a whole number from 1 to 1024/);
  }
  const dir = tempDir(t);
  const missing = await grace(['scale', '2', '--pid-file', join(dir, 'none.pid')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /pid file .* cannot be read/);

  // A direct-mode app's pid file (no "size"): refused before any signal, which would stop (SIGTTIN/SIGTTOU's default) an app that does not handle it.
  const pidFile = join(dir, 'app.pid');
  const direct = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile } });
  const ready = await direct.ready();
  await waitUntil(() => existsSync(pidFile));
  const refused = await grace(['scale', '2', '--pid-file', pidFile, '--timeout', '2000']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr, `grace: pid ${ready.pid} from ${pidFile} is not a grace run supervisor that can scale (grace run writes "size" in its pid file)\n`);
  assert.notEqual(readStat(ready.pid)?.state, 'T', 'the app was not stopped by a signal');
  assert.equal((await get({ port: portOf(ready) }, '/')).json.pid, ready.pid);
});
