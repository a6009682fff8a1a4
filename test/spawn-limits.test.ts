// What the kernel refuses a new process, through real processes: a spawn
// that hits the open-file limit (EMFILE) fails that start alone, named, and
// the old generation serves on; an environment too large for execve (E2BIG)
// is refused before the spawn, naming the variable and its env file: at the
// first start grace run exits 1, at a reload or restart that start fails.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, FIXTURE_ARGS, get, isAlive, killQuietly, portOf, startFixture, tempDir, waitForExit, type Fixture } from './helpers.ts';

const node = process.execPath;
const LISTEN = { listen: [{ port: 0, host: '127.0.0.1' }] };

function grace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
  });
}

const noPrlimit = spawnSync('prlimit', ['--version']).status !== 0 && 'no prlimit (util-linux) to lower a running process\'s open-file limit';

/**
 * Lowers `pid`'s open-file limit (RLIMIT_NOFILE, soft) so that only two fd
 * numbers are free below it: enough for a file opened and closed (the pid
 * file), too few for a spawn (two socket pairs and libuv's exec pipe at the
 * least). Counted from /proc/PID/fd now, not guessed; returns the undo.
 */
function starveFds(pid: number): () => void {
  const [soft, hard] = execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'], { encoding: 'utf8' }).trim().split(/\s+/);
  const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let limit = 0;
  for (let free = 0; free < 2; limit++) if (!open.has(limit)) free++;
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${hard}`]);
  return () => execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`]);
}

function supervise(t: TestContext, runArgs: string[]): { app: Fixture; pidFile: string } {
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = startFixture(t, LISTEN, { GRACE_DEBUG: '1' }, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', pidFile, ...runArgs, '--', node, ...FIXTURE_ARGS] });
  t.after(() => {
    for (const [, pid] of app.log.matchAll(/booting standby pid (\d+)/g)) killQuietly(Number(pid));
  });
  return { app, pidFile };
}

test('grace run: a reload whose spawn hits EMFILE fails, named; the old worker serves on, and a reload once fds are free works', { timeout: 60_000, skip: noPrlimit }, async (t) => {
  const { app, pidFile } = supervise(t, []);
  const first = await app.ready();
  const port = portOf(first);
  const restore = starveFds(app.proc.pid!);
  const failed = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /could not start the generation 2: spawn \S+ EMFILE \(too many open files in this process/);
  assert.match(failed.stderr, new RegExp(`still serving: pid ${first.pid}`));
  assert.equal((await get({ port }, '/')).json.pid, first.pid);
  assert.ok(isAlive(app.proc.pid!), 'the supervisor lives');

  restore();
  const reloaded = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await waitForExit(first.pid);
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null });
});

test('grace run --standby 1: a spare that cannot be spawned (EMFILE) is skipped; the reload after it fails, named, and the one after works', { timeout: 90_000, skip: noPrlimit }, async (t) => {
  const { app, pidFile } = supervise(t, ['--standby', '1']);
  const first = await app.ready();
  const port = portOf(first);
  await app.waitForLog(/standby pid (\d+) parked/);
  const spare = Number(/standby pid (\d+) parked/.exec(app.log)![1]);

  // The parked spare needs no new fd: it takes the reload; its refill cannot be spawned.
  let restore = starveFds(app.proc.pid!);
  const byTheSpare = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(byTheSpare.code, 0, byTheSpare.stderr);
  await app.ready(spare);
  await app.waitForLog(/standby pid \(none\) could not start \(EMFILE\) while booting/);
  await waitForExit(first.pid);
  restore();

  // No spare now: the reload spawns afresh, and that fails.
  restore = starveFds(app.proc.pid!);
  const failed = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /spawn \S+ EMFILE/);
  assert.match(failed.stderr, new RegExp(`still serving: pid ${spare}`));
  assert.equal((await get({ port }, '/')).json.pid, spare);
  assert.ok(isAlive(app.proc.pid!), 'the supervisor lives');

  restore();
  const reloaded = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const third = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid && e.pid !== spare);
  await waitForExit(spare);
  assert.equal((await get({ port }, '/')).json.pid, third.pid);
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null });
});

test('direct mode with a standby: a restart whose spawn hits EMFILE fails, named, and so does the standby\'s; the old generation serves on', { timeout: 60_000, skip: noPrlimit }, async (t) => {
  const dir = tempDir(t);
  const code = join(dir, 'code.mjs');
  execFileSync('sh', ['-c', `echo 'export const version = "v1";' > '${code}'`]);
  const app = startFixture(t, {}, { GRACE_DEBUG: '1', STANDBY_CODE: code }, { file: node, args: ['--import', 'tsx', new URL('./fixtures/standby-app.ts', import.meta.url).pathname] });
  t.after(() => {
    for (const [, pid] of app.log.matchAll(/booting standby pid (\d+)/g)) killQuietly(Number(pid));
  });
  const first = await app.ready();
  const port = portOf(first);
  await app.waitForLog(/standby pid (\d+) parked/);
  const standby = Number(/standby pid (\d+) parked/.exec(app.log)![1]);
  // Without its standby, the restart must spawn.
  process.kill(standby, 'SIGKILL');
  await app.waitForLog(`standby pid ${standby} exited with SIGKILL while parked`);

  const restore = starveFds(first.pid);
  process.kill(first.pid, 'SIGUSR2');
  const failure = await app.waitFor((e) => e.event === 'restart-failed');
  assert.match(String(failure.message), /could not start the new generation: spawn \S+ EMFILE \(too many open files in this process/);
  // After the failure it boots a new standby, which cannot be spawned either.
  await app.waitForLog(/standby pid \(none\) could not start \(EMFILE\) while booting/);
  assert.equal((await get({ port }, '/')).json.pid, first.pid);

  restore();
  process.kill(first.pid, 'SIGUSR2');
  const next = await app.handedOver(first.pid);
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
  process.kill(next.pid, 'SIGTERM');
  await waitForExit(next.pid);
});

const ENV_APP = new URL('./fixtures/env-app.ts', import.meta.url).pathname;
const onLinux = process.platform !== 'linux' && 'E2BIG\'s limits are Linux\'s';

/** `count` variables of `bytes` each, as env file lines. */
function largeVariables(prefix: string, count: number, bytes: number): string {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}=${'x'.repeat(bytes)}\n`).join('');
}

test('grace run: an env file with a variable over 128 KiB, or 10 MB in all, stops the first start with status 1, naming the variable and the file', { timeout: 60_000, skip: onLinux }, async (t) => {
  const dir = tempDir(t);
  const one = join(dir, 'one.env');
  writeFileSync(one, `SMALL=1\nBIG=${'x'.repeat(200_000)}\n`);
  const many = join(dir, 'many.env');
  writeFileSync(many, largeVariables('V', 100, 100_000));
  for (const [file, expected] of [
    [one, new RegExp(`^grace: the environment variable BIG \\(from env file ${one}\\) is 200005 bytes \\(as NAME=value\\): Linux starts no process with one over 131072 bytes \\(E2BIG\\)\n$`)],
    [many, new RegExp(`^grace: the environment and command line come to \\d+ bytes, over the \\d+ bytes Linux gives a new process .*; the largest variables: V\\d+ \\(from env file ${many}\\) 100005 bytes, `)],
  ] as const) {
    const started = await new Promise<{ code: unknown; stderr: string }>((resolve) => {
      execFile(node, ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--env-file', file, '--', node, ENV_APP], { timeout: 30_000, maxBuffer: 1 << 20 }, (err, _out, stderr) =>
        resolve({ code: err?.code, stderr }),
      );
    });
    assert.equal(started.code, 1, started.stderr);
    assert.match(started.stderr, expected);
  }
});

test('grace run: a reload whose env file grew too large fails, naming the largest variables; the old worker serves on, and a reload of a fixed file works', { timeout: 60_000, skip: onLinux }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, 'app.env');
  const pidFile = join(dir, 'grace.pid');
  writeFileSync(envFile, 'GREETING=one\n');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--env-file', envFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, { ENV_PROBE: 'GREETING' }, { file: node, args: run });
  const first = await app.ready();
  const port = portOf(first);
  writeFileSync(envFile, `GREETING=two\n${largeVariables('HUGE', 100, 100_000)}`);
  const failed = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, new RegExp(`could not start the generation 2: the environment and command line come to \\d+ bytes, .*the largest variables: HUGE\\d+ \\(from env file ${envFile}\\) 100008 bytes`));
  assert.match(failed.stderr, new RegExp(`still serving: pid ${first.pid}`));
  assert.equal((await get({ port }, '/')).json.pid, first.pid);

  writeFileSync(envFile, 'GREETING=three\n');
  const reloaded = await grace(['reload', '--pid-file', pidFile, '--timeout', '20000']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.deepEqual(next.env, { GREETING: 'three' });
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal((await app.closed()).code, 0);
  assert.equal(app.log.match(/^grace: error: could not start/gm)?.length, 1, `one failed start, not a loop:\n${app.log}`);
});

test('direct mode: a restart whose env file now holds a variable over 128 KiB fails, naming it and the file; the old generation serves on', { timeout: 60_000, skip: onLinux }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, '.env');
  writeFileSync(envFile, 'GREETING=one\n');
  const app = startFixture(t, {}, { ENV_PROBE: 'GREETING' }, { file: node, args: [`--env-file=${envFile}`, '--import', 'tsx', ENV_APP] });
  const first = await app.ready();
  writeFileSync(envFile, `GREETING=two\nBIG=${'x'.repeat(200_000)}\n`);
  process.kill(first.pid, 'SIGUSR2');
  await app.waitForLog(
    `restart failed: could not start the next generation: the environment variable BIG (from env file ${envFile}) is 200005 bytes (as NAME=value): Linux starts no process with one over 131072 bytes (E2BIG); still serving with pid ${first.pid}`,
  );
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, first.pid);

  writeFileSync(envFile, 'GREETING=three\n');
  process.kill(first.pid, 'SIGUSR2');
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.deepEqual(next.env, { GREETING: 'three' });
  await waitForExit(first.pid);
  process.kill(next.pid, 'SIGTERM');
  await waitForExit(next.pid);
});
