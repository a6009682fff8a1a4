import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, FIXTURE_ARGS, isAlive, killQuietly, startFixture, tempDir, waitUntil } from './helpers.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';

// `grace stop --pid-file F [--timeout MS]`: SIGTERM, then wait for the
// process and every worker to exit; the exit status says how it went.

const node = process.execPath;

function graceStop(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, ['--import', 'tsx', CLI, 'stop', ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr }),
    );
  });
}

test('grace stop: exit 0 once a direct-mode app has stopped', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'app.pid');
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile } });
  const { pid } = await app.ready();
  const result = await graceStop(['--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^stopped: pid ${pid} exited within \\d+ ms\\n$`));
  assert.equal(isAlive(pid), false);
});

test('grace stop: exit 0 once the supervisor and every worker have exited', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const args = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile, '--', node, ...FIXTURE_ARGS];
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, {}, { file: node, args });
  await waitUntil(() => app.events.filter((e) => e.event === 'ready').length === 2);
  await waitUntil(() => {
    try {
      return readPidFile(pidFile).state === 'serving';
    } catch {
      return false;
    }
  });
  const workers = app.events.filter((e) => e.event === 'ready').map((e) => e.pid);
  const result = await graceStop(['--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  const listed = /^stopped: pid (\d+) and its workers (\d+), (\d+) exited within \d+ ms\n$/.exec(result.stdout);
  assert.ok(listed, result.stdout);
  assert.equal(Number(listed[1]), app.proc.pid);
  assert.deepEqual([Number(listed[2]), Number(listed[3])].sort(), [...workers].sort());
  for (const pid of [app.proc.pid!, ...workers]) assert.equal(isAlive(pid), false, `pid ${pid}`);
});

test('grace stop under --standby: the parked spare is waited for and named as a spare, not a worker', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const args = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', '1', '--pid-file', pidFile, '--', node, ...FIXTURE_ARGS];
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, {}, { file: node, args });
  const { pid: worker } = await app.ready();
  let spare = 0;
  await waitUntil(() => {
    try {
      const state = readPidFile(pidFile);
      spare = state.workers?.find((w) => w.state === 'standby')?.pid ?? 0;
      return state.state === 'serving' && spare > 0;
    } catch {
      return false;
    }
  });
  t.after(() => killQuietly(spare));
  const result = await graceStop(['--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.replace(/\d+ ms/, 'N ms'), `stopped: pid ${app.proc.pid}, its worker ${worker} and its parked spare ${spare} exited within N ms\n`);
  for (const pid of [app.proc.pid!, worker, spare]) assert.equal(isAlive(pid), false, `pid ${pid}`);
});

test('grace stop: exit 1 naming the pid still running at --timeout; a second stop waits it out', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'app.pid');
  // The stop delay keeps it serving 3 s after SIGTERM: far past a 200 ms timeout.
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile, stopDelay: 3000 } });
  const { pid } = await app.ready();
  const late = await graceStop(['--pid-file', pidFile, '--timeout', '200']);
  assert.equal(late.code, 1, late.stderr);
  assert.equal(late.stderr, `grace: timed out after 200 ms: still running: pid ${pid} (app)\n`);
  assert.equal(isAlive(pid), true);
  await app.waitFor((e) => e.event === 'leaving');
  const done = await graceStop(['--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(isAlive(pid), false);
});

test('grace stop: exit 2 for a usage error, naming it', { timeout: 30_000 }, async () => {
  const none = await graceStop([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^grace: grace stop needs --pid-file FILE \(or GRACE_PID_FILE=FILE in its environment\)\n\nusage:\n {2}grace stop --pid-file FILE/);
  const negative = await graceStop(['--pid-file', 'x', '--timeout', '-1']);
  assert.equal(negative.code, 2);
  assert.match(negative.stderr, /^grace: --timeout/);
});
