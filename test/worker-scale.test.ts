// `grace scale N` and SIGTTIN / SIGTTOU on a running `grace run`, through
// real processes under load: workers added serve, workers scaled away drain
// and exit 0, `grace status` and the pid file follow, no request fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad } from '../bench/load.ts';
import { CLI, FIXTURE_ARGS, get, isAlive, portOf, startFixture, tempDir, waitUntil } from './helpers.ts';

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
  return JSON.parse(readFileSync(path, 'utf8').split('\n')[1]!.slice('grace '.length));
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

  const down = await grace(['scale', '1', '--pid-file', pidFile]);
  assert.equal(down.code, 0, down.stderr);
  const gone = three.workers.slice(1).map((w) => w.pid);
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
  app.proc.kill('SIGTTOU');
  await waitUntil(() => !isAlive(added) && pidFileState(pidFile).size === 1);
  app.proc.kill('SIGTTOU');
  await app.waitForLog('SIGTTOU: already at 1 worker (from 1 to 1024); not scaling');

  stop.abort();
  for (const samples of await Promise.all(loads)) {
    assert.ok(samples.count > 0);
    assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
  }
  app.proc.kill('SIGTERM');
  await waitUntil(() => app.proc.exitCode !== null);
  assert.equal(app.proc.exitCode, 0, app.log);
});

test('grace scale refuses a count outside 1…1024 (exit 2), and a pid file that is no grace run', { timeout: 30_000 }, async (t) => {
  for (const n of ['0', '1025', 'many']) {
    const result = await grace(['scale', n, '--pid-file', '/nonexistent']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /the worker count must be a whole number from 1 to 1024/);
  }
  const missing = await grace(['scale', '2', '--pid-file', join(tempDir(t), 'none.pid')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /pid file .* cannot be read/);
});
