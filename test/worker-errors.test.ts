import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, startFixture, tempDir, waitForExit } from './helpers.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';
import { SlotStderr, StderrTail, TAIL_BYTES } from '../src/supervisor/worker-stderr.ts';

// Why a worker failed, where the operator looks: `grace reload` and `grace
// status` carry the app's own error text (its last lines of stderr), and a
// crash loop prints its stack once, then counts.

const node = process.execPath;
const ENV_APP = new URL('./fixtures/env-app.ts', import.meta.url).pathname;

function grace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
  });
}

test('a failed reload: grace reload prints the worker\'s exit and its own error text; grace status keeps them', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, 'app.env');
  const pidFile = join(dir, 'grace.pid');
  writeFileSync(envFile, 'GREETING=one\n');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--env-file', envFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, { CRASH_WITH: undefined }, { file: node, args: run });
  const first = await app.ready();
  // The release's configuration is broken: the new code throws as it starts.
  writeFileSync(envFile, 'CRASH_WITH=DATABASE_URL is not set: cannot connect\n');
  const reload = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(reload.code, 1, reload.stderr);
  assert.match(reload.stderr, /^grace: generation 2 pid \d+ exited with code 1 before it was ready; still serving: pid \d+\nits last \d+ lines of stderr \(pid \d+\):\n/);
  assert.match(reload.stderr, /\n {2}Error: DATABASE_URL is not set: cannot connect\n/);
  assert.match(reload.stderr, new RegExp(`still serving: pid ${first.pid}`));
  // The supervisor passed the worker's stderr through as well (read from another pipe than the answer).
  await app.waitForLog(/Error: DATABASE_URL is not set: cannot connect/);

  const status = await grace(['status', '--pid-file', pidFile]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /\nlast worker failure \(\d+s ago\): generation 2 pid \d+ exited with code 1 before it was ready\n/);
  assert.match(status.stdout, /\n {2}\| Error: DATABASE_URL is not set: cannot connect\n/);
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
});

test('a crash loop at first start: the pid file says why, and the same stack is printed once, then counted', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, { CRASH_WITH: 'the same boom every time' }, { file: node, args: run });
  await app.waitForLog(/not shown again: 2 more times/, 30_000);
  const stacks = app.log.match(/Error: the same boom every time\n/g) ?? [];
  assert.equal(stacks.length, 1, app.log);
  const state = readPidFile(pidFile);
  assert.equal(state.state, 'starting');
  assert.match(state.lastFailure?.message ?? '', /exited with code 1 before it was ready/);
  assert.ok(state.lastFailure?.stderr.includes('Error: the same boom every time'), JSON.stringify(state.lastFailure));
  const status = await grace(['status', '--pid-file', pidFile]);
  assert.match(status.stdout, /^pid \d+: starting, generation 0, 0 serving\n/);
  assert.match(status.stdout, /\n {2}\| Error: the same boom every time\n/);
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
});

test('the stderr kept for a report is bounded: the last 20 lines, in at most 4 KiB', () => {
  const tail = new StderrTail();
  for (let i = 1; i <= 30; i++) tail.push(Buffer.from(`line ${i}\n`));
  assert.deepEqual(tail.lines(), Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
  tail.push(Buffer.from(`${'x'.repeat(10_000)}end\n`));
  const [long] = tail.lines();
  assert.equal(tail.lines().length, 1);
  assert.ok(long!.startsWith('…') && long!.endsWith('xend') && long!.length <= TAIL_BYTES + 1, `${long!.length}`);
});

test('failures with no output are not counted as the same error', () => {
  const shown: Buffer[] = [];
  const slot = new SlotStderr((bytes) => shown.push(bytes));
  assert.deepEqual(slot.attach(undefined).failed(), { repeated: 0 });
  assert.deepEqual(slot.attach(undefined).failed(), { repeated: 0 });
  assert.deepEqual(shown, []);
});

test('grace run whose stderr is closed (its log collector went away) keeps running: a reload still works', { timeout: 60_000 }, async (t) => {
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, { CRASH_WITH: undefined }, { file: node, args: run });
  const first = await app.ready();
  app.proc.stderr!.destroy(); // the reading end: every later write to the supervisor's stderr fails (EPIPE)
  process.kill(app.proc.pid!, 'SIGUSR2'); // the supervisor and both workers log to it
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await waitForExit(first.pid);
  process.kill(app.proc.pid!, 'SIGUSR2');
  await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid && e.pid !== second.pid);
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
});
