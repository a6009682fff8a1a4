// GRACE_PID_FILE stands in for --pid-file in every command (run, status,
// reload, scale, stop); the flag wins; an empty one is refused as an empty
// --pid-file is. Real processes: the supervisor, then each command, with
// only the variable naming the file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, FIXTURE_ARGS, startFixture, tempDir, waitUntil } from './helpers.ts';

const node = process.execPath;
const local = { port: 0, host: '127.0.0.1' };

/** The `grace` command to its exit, with `env` over the test's environment. */
function grace(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

test('GRACE_PID_FILE alone names the pid file for grace run, status, reload, scale and stop', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const env = { GRACE_PID_FILE: pidFile };
  const app = startFixture(t, { listen: [local] }, env, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--', node, ...FIXTURE_ARGS] });
  await app.ready();
  await waitUntil(() => existsSync(pidFile), 10_000, () => `grace run to write ${pidFile}\n${app.log}`);

  const status = await grace(['status'], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^pid ${app.proc.pid}: serving, generation 1, 1 serving\n`));
  const reload = await grace(['reload'], env);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^reloaded: workers \d+ → \d+ \(generation 2\)\n$/);
  const scale = await grace(['scale', '2'], env);
  assert.equal(scale.code, 0, scale.stderr);
  assert.match(scale.stdout, /^scaled: 1 → 2 workers serving/);
  const stop = await grace(['stop'], env);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, new RegExp(`^stopped: pid ${app.proc.pid} and its workers \\d+, \\d+ exited within \\d+ ms\n$`));
  assert.deepEqual(await app.closed(), { code: 0, signal: null });
});

test('--pid-file wins over GRACE_PID_FILE, in grace run and in the commands that read it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const [flagged, unused] = [join(dir, 'flag.pid'), join(dir, 'env.pid')];
  const env = { GRACE_PID_FILE: unused };
  const app = startFixture(t, { listen: [local] }, env, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', flagged, '--', node, ...FIXTURE_ARGS] });
  await app.ready();
  await waitUntil(() => existsSync(flagged), 10_000, () => `grace run to write ${flagged}\n${app.log}`);
  assert.ok(!existsSync(unused), 'nothing written where GRACE_PID_FILE points');
  const status = await grace(['status', '--pid-file', flagged], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^pid ${app.proc.pid}: serving`));
  assert.equal((await grace(['status'], env)).code, 3, 'the variable alone names a file that is not there');
  process.kill(app.proc.pid!, 'SIGTERM');
  await app.closed();
});

test('an empty GRACE_PID_FILE is refused (exit 2) as an empty --pid-file is, unless the flag is given', { timeout: 30_000 }, async () => {
  const empty = { GRACE_PID_FILE: '' };
  for (const result of await Promise.all([grace(['status'], empty), grace(['run', '--', 'grace-test-no-such-command'], empty)])) {
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^grace: GRACE_PID_FILE is set but empty: set it to the pid file's path, or unset it\n\nusage:/);
  }
  // Neither given: the command says both ways.
  const { GRACE_PID_FILE: _, ...unset } = process.env;
  const none = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, 'stop'], { env: unset }, (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }));
  });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^grace: grace stop needs --pid-file FILE \(or GRACE_PID_FILE=FILE in its environment\)\n/);
  const flagWins = await grace(['status', '--pid-file', join('/nonexistent', 'app.pid')], empty);
  assert.equal(flagWins.code, 3, flagWins.stderr);
});
