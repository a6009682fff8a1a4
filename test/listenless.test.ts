// `grace run` without --listen: queue consumers and cron-like workers, whose
// only grace part is Shutdown.handleSignals(), are supervised like servers:
// ready when they say so, replaced in a rolling reload with the job in hand
// finished, restarted after a failed start. Real processes; ordered by events.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, startFixture, tempDir, waitUntil } from './helpers.ts';

const QUEUE = new URL('./fixtures/queue-worker.ts', import.meta.url).pathname;
const node = process.execPath;

function supervise(t: TestContext, flags: string[], env: NodeJS.ProcessEnv = {}) {
  return startFixture(t, {}, { QUEUE_REPORT_STOP: '1', ...env }, { file: node, args: ['--import', 'tsx', CLI, 'run', ...flags, '--', node, '--import', 'tsx', QUEUE] });
}

function grace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
  });
}

test('a queue worker reloaded while a job runs: the job finishes, the new worker takes over, nothing is lost', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--pid-file', pidFile, '--stop-delay', '5000'], { GRACE_JOB_MS: '1000' });
  const old = await app.ready();
  await app.waitFor((e) => e.event === 'job-start' && e.pid === old.pid);
  await waitUntil(() => existsSync(pidFile));
  await app.waitForLog('with no socket (workers that do not listen)');
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== old.pid);
  assert.match(result.stdout, new RegExp(`^reloaded: workers ${old.pid} → ${next.pid}`));
  // The old worker finished the job in hand, closed its queue and exited 0; it took no job after.
  const exit = await app.waitFor((e) => e.event === 'exit' && e.pid === old.pid);
  assert.equal(exit.code, 0);
  const mine = app.events.filter((e) => e.pid === old.pid);
  const started = mine.filter((e) => e.event === 'job-start').map((e) => e.n);
  assert.deepEqual(mine.filter((e) => e.event === 'job-end').map((e) => e.n), started, 'every job started was finished');
  assert.ok(mine.some((e) => e.event === 'queue-closed'));
  // Retired, not stopped: no stop delay (a successor already works).
  const since = (pid: number, event: string) => app.events.find((e) => e.pid === pid && e.event === event)!.at as number;
  assert.ok(since(old.pid, 'shutdown-started') - since(old.pid, 'sigterm') < 4000, 'the reload skipped the 5000 ms stop delay');
  await app.waitFor((e) => e.event === 'job-start' && e.pid === next.pid);
  // A stop: the new one works on through the stop delay, then finishes its job; the supervisor exits 0.
  app.proc.kill('SIGTERM');
  const { code } = await app.closed(); // exited, and every line read: the worker's last ones too
  assert.equal(code, 0, app.log);
  assert.ok(since(next.pid, 'shutdown-started') - since(next.pid, 'sigterm') >= 4990, 'the stop waited out --stop-delay 5000');
  const theirs = app.events.filter((e) => e.pid === next.pid);
  assert.deepEqual(theirs.filter((e) => e.event === 'job-end').map((e) => e.n), theirs.filter((e) => e.event === 'job-start').map((e) => e.n));
});

test('a queue worker whose ready promise rejects is a failed start: it exits 1 and is restarted after a backoff', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, [], { QUEUE_CONNECT: 'fail' });
  await app.waitForLog('not ready: queue connection refused');
  await app.waitForLog(/generation 1 pid \d+ exited with code 1 before it was ready/);
  await app.waitForLog(/restarting the app in \d+ ms/);
  await app.waitForLog(/generation 2 pid \d+ exited with code 1 before it was ready/);
});

test('--stop-timeout: a queue worker whose job outlasts the stop delay and the stop timeout is killed, and the supervisor says so', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--stop-delay', '300', '--stop-timeout', '700'], { GRACE_JOB_MS: '20000' });
  const worker = await app.ready();
  await app.waitFor((e) => e.event === 'job-start' && e.pid === worker.pid);
  app.proc.kill('SIGTERM');
  await app.waitFor((e) => e.event === 'shutdown-started' && e.pid === worker.pid);
  await app.waitForLog('workers still running 1000 ms after SIGTERM: killing them');
  assert.deepEqual(await app.closed(), { code: 137, signal: null }, app.log);
});

test('a second stop signal during a queue worker\'s stop delay skips the rest of it: the job in hand still finishes, exit 0', { timeout: 60_000 }, async (t) => {
  // The lifecycle every process runs: as for a server, the second stop signal
  // ends the delay; only a third forces the shutdown.
  const app = supervise(t, ['--stop-delay', '20000'], { GRACE_JOB_MS: '1500' });
  const worker = await app.ready();
  await app.waitFor((e) => e.event === 'job-start' && e.pid === worker.pid);
  process.kill(worker.pid, 'SIGTERM');
  await app.waitFor((e) => e.event === 'sigterm' && e.pid === worker.pid);
  assert.ok(!app.events.some((e) => e.event === 'shutdown-started' && e.pid === worker.pid), 'the first waits out the stop delay');
  process.kill(worker.pid, 'SIGTERM');
  const exit = await app.waitFor((e) => e.event === 'exit' && e.pid === worker.pid, 15_000);
  assert.equal(exit.code, 0, app.log);
  const mine = app.events.filter((e) => e.pid === worker.pid);
  assert.deepEqual(mine.filter((e) => e.event === 'job-end').map((e) => e.n), mine.filter((e) => e.event === 'job-start').map((e) => e.n), 'the job in hand finished');
  assert.doesNotMatch(app.log, /shutdown forced/);
});
