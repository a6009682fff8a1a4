// `grace run` at its edges, through real processes: the supervisor killed
// (alone or with its process group) takes its workers with it, a crash loop
// exits non-zero, and a reload during one starts the fixed code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, FIXTURE_ARGS, get, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture, type FixtureEvent } from './helpers.ts';

const node = process.execPath;

/** `grace run` with the fixture app; with `setsid`, the supervisor leads a process group of its own. */
function supervise(t: TestContext, runArgs: string[], config: object, options: { setsid?: boolean } = {}): Fixture {
  const args = ['--import', 'tsx', CLI, 'run', ...runArgs, '--', node, ...FIXTURE_ARGS];
  // setsid execs in place (the child is no group leader), so the pid is the supervisor's.
  const command = options.setsid ? { file: 'setsid', args: [node, ...args] } : { file: node, args };
  return startFixture(t, config, {}, command);
}

/** The `grace` command to its exit: status, stdout, stderr. */
function grace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

async function workersReady(app: Fixture, n: number): Promise<FixtureEvent[]> {
  const ready: FixtureEvent[] = [];
  for (let i = 0; i < n; i++) ready.push(await app.waitFor((e) => e.event === 'ready' && (n === 1 || e.worker === String(i))));
  return ready;
}

// Well within the fixture's drain (nothing is in flight), far below "never".
const ORPHAN_EXIT_MS = 10_000;

test('kill -9 of grace run: its worker drains and exits, and a new grace run binds the same port at once', { timeout: 60_000 }, async (t) => {
  const first = supervise(t, ['--listen', '127.0.0.1:0'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const [worker] = await workersReady(first, 1);
  const port = portOf(worker!);
  first.proc.kill('SIGKILL');
  await waitForExit(worker!.pid, ORPHAN_EXIT_MS);
  // It stopped, not crashed: its exit status 0 (on stdout; its stderr went
  // through the supervisor, which is gone, so what it logged there is lost).
  await first.waitFor((e) => e.event === 'exit' && e.pid === worker!.pid && e.code === 0);
  const second = supervise(t, ['--listen', `127.0.0.1:${port}`], { listen: [{ port, host: '127.0.0.1' }] });
  const [next] = await workersReady(second, 1);
  assert.equal((await get({ port }, '/')).json.pid, next!.pid);
});

test('kill -9 of grace run\'s process group: both workers exit, and a new grace run serves the same unix socket', { timeout: 60_000 }, async (t) => {
  const path = join(tempDir(t), 'app.sock');
  const first = supervise(t, ['--listen', path, '--workers', '2'], { listen: [path] }, { setsid: true });
  const workers = await workersReady(first, 2);
  process.kill(-first.proc.pid!, 'SIGKILL');
  for (const w of workers) await waitForExit(w.pid, ORPHAN_EXIT_MS);
  const second = supervise(t, ['--listen', path], { listen: [path] });
  const [next] = await workersReady(second, 1);
  assert.equal((await get({ socketPath: path }, '/')).json.pid, next!.pid);
});

test('kill -9 of grace run while its worker is still starting: the worker gives up and exits', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  writeFileSync(control, JSON.stringify({ readyDelay: 60_000 }));
  const app = supervise(t, ['--listen', '127.0.0.1:0'], { listen: [{ port: 0, host: '127.0.0.1' }], control, reportReadyHook: true });
  const starting = await app.waitFor((e) => e.event === 'ready-hook');
  app.proc.kill('SIGKILL');
  await waitForExit(starting.pid, ORPHAN_EXIT_MS);
});

test('direct mode: a new generation still starting when its parent is killed exits, and a fresh start binds the port', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], control, reportReadyHook: true });
  const gen1 = await app.ready();
  const port = portOf(gen1);
  writeFileSync(control, JSON.stringify({ readyDelay: 60_000 }));
  process.kill(gen1.pid, 'SIGUSR2');
  const child = await app.waitFor((e) => e.event === 'ready-hook' && e.pid !== gen1.pid);
  process.kill(gen1.pid, 'SIGKILL');
  await waitForExit(child.pid, ORPHAN_EXIT_MS);
  await app.waitForLog(new RegExp(`parent pid ${gen1.pid} is gone .*: stopping pid ${child.pid}`));
  writeFileSync(control, '{}');
  const fresh = startFixture(t, { listen: [{ port, host: '127.0.0.1' }] });
  const ready = await fresh.ready();
  assert.equal((await get({ port }, '/')).json.pid, ready.pid);
});

for (const workers of [1, 2]) {
  test(`a crash loop then SIGTERM: grace run --workers ${workers} exits with the app's status (3), not 0`, { timeout: 60_000 }, async (t) => {
    const control = join(tempDir(t), 'control.json');
    writeFileSync(control, JSON.stringify({ crashOnStart: true }));
    const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', String(workers)], { listen: [{ port: 0, host: '127.0.0.1' }], control });
    // Every slot has failed a start at least once.
    await app.waitForLog(workers === 1 ? /restarting the app in/ : /restarting worker 1 in[\s\S]*restarting worker 0 in|restarting worker 0 in[\s\S]*restarting worker 1 in/);
    app.proc.kill('SIGTERM');
    const { code } = await app.closed();
    assert.equal(code, 3, app.log);
    await app.waitForLog(workers === 1 ? /the app never became ready \(its last start exited with code 3\): exit status 3/ : /worker 0 never became ready/);
  });
}

const CRASH_UNTIL_FIXED = new URL('./fixtures/crash-until-fixed.ts', import.meta.url).pathname;

for (const workers of [1, 2]) {
  test(`a crash loop fixed by editing the file: grace reload starts the new code and exits 0 (--workers ${workers})`, { timeout: 60_000 }, async (t) => {
    const dir = tempDir(t);
    const [socket, pidFile, file] = ['app.sock', 'grace.pid', 'version'].map((name) => join(dir, name));
    writeFileSync(file, 'broken');
    const command = { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', socket!, '--pid-file', pidFile!, '--workers', String(workers), '--', node, '--import', 'tsx', CRASH_UNTIL_FIXED] };
    const app = startFixture(t, {}, { FIXED_FILE: file, BOOT_MS: '8000' }, command);
    // A crash loop: every slot crashed and is starting again, slowly (and failing):
    // no start reads the file again before the reload.
    await waitUntil(() => app.events.filter((e) => e.event === 'booting').length === 2 * workers, 30_000, () => `a restart\n${app.log}`);
    assert.match(readFileSync(pidFile!, 'utf8'), /"state":"starting"/, 'the pid file is there, saying nothing serves');
    const status = await grace(['status', '--pid-file', pidFile!]);
    assert.equal(status.code, 1, `nothing serves: ${status.stderr}`);
    assert.match(status.stdout, /: starting, generation 0, 0 serving/);
    writeFileSync(file!, 'fixed');
    const result = await grace(['reload', '--pid-file', pidFile!]);
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}\n${app.log}`);
    // Nothing served before the reload: said so, not an empty list ("workers  → 4310").
    assert.match(result.stdout, new RegExp(`^reloaded: nothing serving → workers \\d+${', \\d+'.repeat(workers - 1)} \\(generation \\d+\\)\n$`));
    assert.match((await get({ socketPath: socket! }, '/')).body, /"version":"fixed"/, 'fixed');
    for (const text of [result.stdout, result.stderr, app.log]) assert.doesNotMatch(text, /pid 0\b|\(pids? \)/);
    await app.waitForLog(/SIGUSR2: reloading to generation \d+; nothing serves now/);
  });
}

test('an app that served, then crash-loops after a bad deploy: grace reload of the fixed file exits 0, naming no pid 0', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const [socket, pidFile, file] = ['app.sock', 'grace.pid', 'version'].map((name) => join(dir, name));
  writeFileSync(file!, 'fixed');
  const command = { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', socket!, '--pid-file', pidFile!, '--', node, '--import', 'tsx', CRASH_UNTIL_FIXED] };
  const app = startFixture(t, {}, { FIXED_FILE: file, BOOT_MS: '8000', GRACE_WORKER: '0' }, command);
  const first = await app.waitFor((e) => e.event === 'ready');
  writeFileSync(file!, 'broken');
  process.kill(first.pid, 'SIGKILL');
  // Its first broken start crashed at once; the second is starting, slowly.
  await waitUntil(() => app.events.filter((e) => e.event === 'booting' && e.version === 'broken').length === 2, 30_000, () => `a crash loop\n${app.log}`);
  writeFileSync(file!, 'fixed');
  const result = await grace(['reload', '--pid-file', pidFile!]);
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}\n${app.log}`);
  assert.match((await get({ socketPath: socket! }, '/')).body, /"version":"fixed"/);
  for (const text of [result.stdout, result.stderr, app.log]) assert.doesNotMatch(text, /pid 0\b|\(pids? \)/);
});

test('a refused SIGUSR2 logs only its refusal, not "reloading" first', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  const app = supervise(t, ['--listen', '127.0.0.1:0'], { listen: [{ port: 0, host: '127.0.0.1' }], control, reportReadyHook: true });
  const [first] = await workersReady(app, 1);
  writeFileSync(control, JSON.stringify({ readyDelay: 60_000 }));
  process.kill(app.proc.pid!, 'SIGUSR2');
  await app.waitFor((e) => e.event === 'ready-hook' && e.pid !== first!.pid);
  process.kill(app.proc.pid!, 'SIGHUP');
  await app.waitForLog(/reload refused: a reload to generation 2 is in progress/);
  assert.equal(app.log.match(/reloading/g)?.length, 1, app.log);
  await app.waitForLog(/SIGHUP: reload refused/);
  await app.waitForLog(new RegExp(`SIGUSR2: reloading to generation 2; pid ${first!.pid} serves until the new generation is ready`));
});

test('a reload during a crash loop that is not fixed fails: grace reload exits 1 saying nothing serves, naming no pid 0', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const [socket, pidFile, file] = ['app.sock', 'grace.pid', 'version'].map((name) => join(dir, name));
  writeFileSync(file!, 'broken');
  const command = { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', socket!, '--pid-file', pidFile!, '--', node, '--import', 'tsx', CRASH_UNTIL_FIXED] };
  const app = startFixture(t, {}, { FIXED_FILE: file, BOOT_MS: '1000' }, command);
  await waitUntil(() => app.events.filter((e) => e.event === 'booting').length === 2, 30_000, () => `a crash loop\n${app.log}`);
  const result = await grace(['reload', '--pid-file', pidFile!]);
  assert.equal(result.code, 1, `${result.stdout}${result.stderr}\n${app.log}`);
  assert.match(result.stderr, /exited with code 3 before it was ready; nothing serves/);
  for (const text of [result.stdout, result.stderr, app.log]) assert.doesNotMatch(text, /pid 0\b|\(pids? \)/);
  await app.waitForLog(/reload failed: .*; nothing serving \(the app is restarted after a backoff\)/);
});
