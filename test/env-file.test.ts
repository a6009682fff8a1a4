import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, startFixture, tempDir, waitForExit, type Fixture } from './helpers.ts';

// Configuration follows the deploy: an env file edited between restarts
// reaches the next generation, in both modes, while a variable set in the
// real environment keeps its precedence (node's rule) and a key removed from
// the file is gone.

const node = process.execPath;
const ENV_APP = new URL('./fixtures/env-app.ts', import.meta.url).pathname;
const PROBE = { ENV_PROBE: 'GREETING,REAL,GONE,ADDED', REAL: 'real', GREETING: undefined, GONE: undefined, ADDED: undefined };

function nextReady(app: Fixture, seen: number[]) {
  return app.waitFor((e) => e.event === 'ready' && !seen.includes(e.pid));
}

test('direct mode: node --env-file: a restart sees the file as it is now; the real environment still wins', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, '.env');
  writeFileSync(envFile, 'GREETING=one\nREAL=file\nGONE=bye\n');
  const app = startFixture(t, {}, PROBE, { file: node, args: [`--env-file=${envFile}`, '--import', 'tsx', ENV_APP] });
  const first = await app.ready();
  assert.deepEqual(first.env, { GREETING: 'one', REAL: 'real', GONE: 'bye', ADDED: null });

  writeFileSync(envFile, 'GREETING=two\nREAL=file2\nADDED=new\n');
  process.kill(first.pid, 'SIGUSR2');
  const second = await nextReady(app, [first.pid]);
  assert.deepEqual(second.env, { GREETING: 'two', REAL: 'real', GONE: null, ADDED: 'new' });
  await waitForExit(first.pid);

  // From the second generation on, the same: what it took from the file is not real.
  writeFileSync(envFile, 'GREETING=three\nREAL=file3\n');
  process.kill(second.pid, 'SIGUSR2');
  const third = await nextReady(app, [first.pid, second.pid]);
  assert.deepEqual(third.env, { GREETING: 'three', REAL: 'real', GONE: null, ADDED: null });
  process.kill(third.pid, 'SIGTERM');
  await waitForExit(third.pid);
});

test('direct mode with a standby: the generation parked before the edit gets the env file as it is at the restart', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, '.env');
  writeFileSync(envFile, 'GREETING=one\nREAL=file\nGONE=bye\n');
  const app = startFixture(t, {}, { ...PROBE, GRACE_STANDBY: '1', GRACE_DEBUG: '1' }, { file: node, args: [`--env-file=${envFile}`, '--import', 'tsx', ENV_APP] });
  const first = await app.ready();
  await app.waitForLog(/standby pid \d+ parked/);
  const standby = Number(/standby pid (\d+) parked/.exec(app.log)![1]);

  // Its node read the file when it booted: the restart must give it the file as it is now.
  writeFileSync(envFile, 'GREETING=two\nREAL=file2\nADDED=new\n');
  process.kill(first.pid, 'SIGUSR2');
  const second = await nextReady(app, [first.pid]);
  assert.equal(second.pid, standby, 'the parked standby took over');
  assert.deepEqual(second.env, { GREETING: 'two', REAL: 'real', GONE: null, ADDED: 'new' });
  await waitForExit(first.pid);
  process.kill(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
});

// Node >= 20.19 / 22.9.
const noIfExists = spawnSync(node, ['--env-file-if-exists=/nonexistent/.env', '-e', '0']).status !== 0 && 'this node has no --env-file-if-exists';

test('direct mode: node --env-file-if-exists: a file created after the start reaches the next generation', { timeout: 60_000, skip: noIfExists }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, '.env');
  const app = startFixture(t, {}, PROBE, { file: node, args: [`--env-file-if-exists=${envFile}`, '--import', 'tsx', ENV_APP] });
  const first = await app.ready();
  assert.deepEqual(first.env, { GREETING: null, REAL: 'real', GONE: null, ADDED: null });
  writeFileSync(envFile, 'GREETING=hello\nREAL=file\n');
  process.kill(first.pid, 'SIGUSR2');
  const second = await nextReady(app, [first.pid]);
  assert.deepEqual(second.env, { GREETING: 'hello', REAL: 'real', GONE: null, ADDED: null });
  rmSync(envFile);
  process.kill(second.pid, 'SIGUSR2');
  const third = await nextReady(app, [first.pid, second.pid]);
  assert.deepEqual(third.env, { GREETING: null, REAL: 'real', GONE: null, ADDED: null });
  process.kill(third.pid, 'SIGTERM');
  await waitForExit(third.pid);
});

test('grace run --env-file: each reload and each crash replacement reads the file as it is then', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, 'app.env');
  writeFileSync(envFile, 'GREETING=one\nREAL=file\nGONE=bye\n');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--env-file', envFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, PROBE, { file: node, args: run });
  const first = await app.ready();
  assert.deepEqual(first.env, { GREETING: 'one', REAL: 'real', GONE: 'bye', ADDED: null });

  writeFileSync(envFile, 'GREETING=two\nREAL=file2\nADDED=new\n');
  process.kill(app.proc.pid!, 'SIGUSR2');
  const second = await nextReady(app, [first.pid]);
  assert.deepEqual(second.env, { GREETING: 'two', REAL: 'real', GONE: null, ADDED: 'new' });

  writeFileSync(envFile, 'GREETING=three\n');
  process.kill(second.pid, 'SIGKILL');
  const third = await nextReady(app, [first.pid, second.pid]);
  assert.deepEqual(third.env, { GREETING: 'three', REAL: 'real', GONE: null, ADDED: null });
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
});

test('grace run --env-file: a file that cannot be read stops the start, named; at a reload it fails the reload', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'missing.env');
  // Node checks a script's own `--env-file F` too (up to a `--`), and exits 9
  // ("node: F: not found") before the script runs: the `--` ends node's
  // arguments, so grace's own check is what runs here, on every Node version.
  const start = await new Promise<{ code: unknown; stderr: string }>((resolve) => {
    execFile(node, ['--import', 'tsx', '--', CLI, 'run', '--listen', '127.0.0.1:0', '--env-file', missing, '--', node, ENV_APP], { timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ code: err?.code, stderr }),
    );
  });
  assert.equal(start.code, 1, start.stderr);
  assert.match(start.stderr, new RegExp(`^grace: cannot read env file ${missing}: ENOENT`));

  const envFile = join(dir, 'app.env');
  writeFileSync(envFile, 'GREETING=one\n');
  const pidFile = join(dir, 'grace.pid');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--env-file', envFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, PROBE, { file: node, args: run });
  const first = await app.ready();
  rmSync(envFile);
  const reload = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(node, ['--import', 'tsx', CLI, 'reload', '--pid-file', pidFile, '--timeout', '20000'], (err, _out, errText) => resolve({ code: err ? (err.code as number) : 0, stderr: errText }));
  });
  assert.equal(reload.code, 1, reload.stderr);
  assert.match(reload.stderr, /cannot read env file .*app\.env: ENOENT/);
  assert.match(reload.stderr, new RegExp(`still serving: pid ${first.pid}`));
  process.kill(app.proc.pid!, 'SIGTERM');
  await waitForExit(app.proc.pid!);
});
