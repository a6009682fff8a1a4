import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { get, isAlive, killQuietly, portOf, startFixture, tempDir, waitForExit } from './helpers.ts';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const local = { port: 0, host: '127.0.0.1' };

function grace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function setup(t: TestContext, options: object = {}) {
  const dir = tempDir(t);
  const pidFile = join(dir, 'app.pid');
  const control = join(dir, 'control.json');
  writeFileSync(control, '{}');
  const app = startFixture(t, { listen: [local], control, options: { pidFile, ...options } });
  return { app, pidFile, setControl: (v: object) => writeFileSync(control, JSON.stringify(v)) };
}

test('grace reload: USR2 to the pid file, waits for the new generation, prints both pids', { timeout: 60_000 }, async (t) => {
  const { app, pidFile } = setup(t);
  const first = await app.ready();
  assert.equal(readFileSync(pidFile, 'utf8').split('\n')[0], String(first.pid));
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid); // its line comes on another pipe than the answer
  assert.equal(result.stdout.trim(), `reloaded: old pid ${first.pid}, new pid ${second.pid} (generation 2)`);
  assert.equal(isAlive(first.pid), false, 'the old generation has exited when reload returns');
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
  assert.equal(readFileSync(pidFile, 'utf8').split('\n')[0], String(second.pid));
  process.kill(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
  assert.throws(() => readFileSync(pidFile), /ENOENT/, 'a final stop removes the pid file');
});

test('grace reload fails, saying why, when the new generation crashes; the old one still serves', { timeout: 60_000 }, async (t) => {
  const { app, pidFile, setControl } = setup(t);
  const first = await app.ready();
  setControl({ crash: true });
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /exited with code 3 before it was ready; pid \d+ is still serving/);
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, first.pid);
});

test('grace reload fails when the new generation hangs past readyTimeout', { timeout: 60_000 }, async (t) => {
  const { app, pidFile, setControl } = setup(t, { readyTimeout: 1000 });
  const first = await app.ready();
  setControl({ hang: true });
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /was not ready within 1000 ms; pid \d+ is still serving/);
  assert.ok(isAlive(first.pid));
});

test('grace reload refuses a pid file naming a process grace did not write it for', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => killQuietly(other.pid!));
  const plain = join(dir, 'plain.pid');
  writeFileSync(plain, `${other.pid}\n`);
  let result = await grace(['reload', '--pid-file', plain]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`names pid ${other.pid} but was not written by grace`));
  const forged = join(dir, 'forged.pid');
  const state = { pid: other.pid, start: 1, generation: 1, serving: other.pid, state: 'serving', at: Date.now() };
  writeFileSync(forged, `${other.pid}\ngrace ${JSON.stringify(state)}\n`);
  result = await grace(['reload', '--pid-file', forged]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /is not the grace process that wrote it/);
  assert.ok(isAlive(other.pid!), 'no signal was sent to it');
  result = await grace(['reload']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /grace reload needs --pid-file FILE/);
});

test('grace reload refuses an app with hot restart turned off, without signalling it', { timeout: 30_000 }, async (t) => {
  const { app, pidFile } = setup(t, { restartSignal: false });
  const ready = await app.ready();
  const result = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /has hot restart turned off/);
  assert.ok(isAlive(ready.pid));
});

test('grace --help, grace COMMAND --help and grace --version answer on stdout with status 0', { timeout: 30_000 }, async () => {
  const help = await grace(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage:\n {2}grace reload --pid-file FILE/);
  assert.match(help.stdout, /\n {2}grace run \[--listen SPEC\]/);
  assert.match(help.stdout, /grace --version/);
  const run = await grace(['run', '--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^usage:\n {2}grace run /);
  assert.doesNotMatch(run.stdout, /grace reload/);
  const reload = await grace(['reload', '--help']);
  assert.equal(reload.code, 0);
  assert.match(reload.stdout, /^usage:\n {2}grace reload /);
  assert.doesNotMatch(reload.stdout, /grace run/);
  assert.equal((await grace(['help', 'run'])).stdout, run.stdout);
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const shown = await grace(['--version']);
  assert.deepEqual([shown.code, shown.stdout, shown.stderr], [0, `${version}\n`, '']);
});

test('grace run -- APP --help is the app\'s --help, not grace\'s', { timeout: 30_000 }, async () => {
  // Not grace's usage: grace runs the app `x` (with no socket: a worker that does not listen), which is not found.
  const result = await grace(['run', '--', 'x', '--help']);
  assert.equal(result.code, 127, result.stderr);
  assert.match(result.stderr, /cannot run "x": not found/);
  assert.doesNotMatch(result.stdout, /usage:/);
});

test('an unknown option or a missing value is a usage error (status 2) naming it, not a stack', { timeout: 30_000 }, async () => {
  const cases: Array<[string[], RegExp, RegExp]> = [
    [['reload', '--pid-file', 'x', '--bogus'], /^grace: grace reload has no option --bogus\n/, /usage:\n {2}grace reload/],
    [['run', '--listen', '0', '-x', '--', 'true'], /^grace: grace run has no option -x\n/, /usage:\n {2}grace run/],
    [['run', 'oops', '--', 'true'], /^grace: grace run takes no argument "oops" before --\n/, /usage:\n {2}grace run/],
    [['reload', '--pid-file'], /^grace: --pid-file needs a value\n/, /usage:\n {2}grace reload/],
    [['--bogus'], /^grace: unknown option --bogus\n/, /usage:\n {2}grace reload/],
    [['frob'], /^grace: unknown command "frob"\n/, /usage:\n {2}grace reload/],
  ];
  for (const [args, message, usage] of cases) {
    const result = await grace(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, message);
    assert.match(result.stderr, usage);
    assert.doesNotMatch(result.stderr, /\n {4}at |ERR_PARSE_ARGS/, 'no stack, no internal code');
    assert.equal(result.stdout, '');
  }
});
