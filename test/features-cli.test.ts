// Documented flags of the `grace` command that no other test exercises, each
// through real processes: `grace run --stop-timeout`, `--surge K`, `--workers
// max`, `grace reload --timeout`, and `grace status` for a direct-mode app.
// The app is test/fixtures/app.ts. Nothing waits on a sleep to order things:
// each step waits for an event, a log line or an exit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, FIXTURE_ARGS, get, isAlive, killQuietly, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture, type FixtureEvent } from './helpers.ts';

const node = process.execPath;
const local = { port: 0, host: '127.0.0.1' };

const FEATURES_APP = ['--import', 'tsx', new URL('./fixtures/features-app.ts', import.meta.url).pathname];

function supervise(t: TestContext, runArgs: string[], config: object, app = FIXTURE_ARGS, env: NodeJS.ProcessEnv = {}): Fixture {
  return startFixture(t, config, env, { file: node, args: ['--import', 'tsx', CLI, 'run', ...runArgs, '--', node, ...app] });
}

/** The `grace` command to its exit: status, stdout, stderr. */
function grace(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

/** The supervisor's exit status, shell style. */
async function exitStatus(app: Fixture): Promise<number> {
  const { code, signal } = await app.closed(); // exited, and every line it relayed read
  return code ?? 128 + (signal ? constants.signals[signal] : 0);
}

/** Each slot's first ready worker not in `exclude`, in slot order. */
async function workersReady(app: Fixture, n: number, exclude: number[] = []): Promise<FixtureEvent[]> {
  const ready: FixtureEvent[] = [];
  for (let i = 0; i < n; i++) ready.push(await app.waitFor((e) => e.event === 'ready' && e.worker === String(i) && !exclude.includes(e.pid)));
  return ready;
}

test('grace run --stop-timeout: a worker whose request outlasts it is killed, and the supervisor exits 137', { timeout: 60_000 }, async (t) => {
  // The app itself would wait 30 s for the request: the supervisor's deadline comes first.
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--stop-timeout', '500'], { shutdownTimeout: 30_000 }, FEATURES_APP);
  const worker = await app.ready();
  const hung = get({ port: portOf(worker) }, '/hang');
  hung.catch(() => {});
  await app.waitFor((e) => e.event === 'hang-received');
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal(await exitStatus(app), 137, 'the app was killed (128 + SIGKILL), and the supervisor says so');
  await assert.rejects(hung, /socket hang up|ECONNRESET/);
  await app.waitForLog(/workers still running 500 ms after SIGTERM: killing them/);
  assert.ok(!isAlive(worker.pid));
  assert.equal(app.events.filter((e) => e.event === 'stopped').length, 0, 'the app never finished its drain');
});

test('grace run --surge 2: a rolling reload of 2 workers starts both replacements before either old one retires', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const control = join(dir, 'control.json');
  writeFileSync(control, '{}');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--surge', '2', '--ready-timeout', '60000'], { listen: [local], control, reportReadyHook: true }, FIXTURE_ARGS, { GRACE_DEBUG: '1' });
  const old = await workersReady(app, 2);
  const oldPids = old.map((w) => w.pid);
  // The supervisor writes its own lines in the order it acts: both starts come before the first retirement (with surge 1, worker 1 starts after worker 0 retired).
  process.kill(app.proc.pid!, 'SIGUSR2');
  await app.waitForLog('all 2 workers serve generation 2');
  const at = (line: RegExp) => app.log.search(line);
  const retired = at(/retiring worker \d \(pid \d+, generation 1\)/);
  assert.ok(retired > 0, app.log);
  for (const i of [0, 1]) {
    const started = at(new RegExp(`started worker ${i} \\(pid \\d+, generation 2\\)`));
    assert.ok(started > 0 && started < retired, `worker ${i} of generation 2 started before the first retirement\n${app.log}`);
  }
  const serving = await workersReady(app, 2, oldPids);
  const servingPids = serving.map((w) => w.pid);

  // The next ones wait in their ready hook for good: with surge 1 the second would never start.
  writeFileSync(control, JSON.stringify({ hang: true }));
  process.kill(app.proc.pid!, 'SIGUSR2');
  const fresh = (e: FixtureEvent) => e.event === 'ready-hook' && ![...oldPids, ...servingPids].includes(e.pid);
  const first = await app.waitFor(fresh, 30_000);
  const second = await app.waitFor((e) => fresh(e) && e.pid !== first.pid, 30_000);
  for (const pid of servingPids) assert.ok(isAlive(pid), `worker ${pid} still serves`);
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) seen.add((await get({ port: portOf(old[0]!) }, '/')).json.pid);
  for (const pid of seen) assert.ok(servingPids.includes(pid), 'only the serving workers answer: the starting ones accepted nothing');

  // A stop abandons the starting ones (they never accepted) and drains the serving ones.
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal(await exitStatus(app), 0);
  for (const pid of [...servingPids, first.pid, second.pid]) assert.ok(!isAlive(pid), `pid ${pid} is gone`);
});

test(`grace run --workers max runs os.availableParallelism() workers (${availableParallelism()} here), shown by grace status`, { timeout: 90_000 }, async (t) => {
  const n = availableParallelism();
  const pidFile = join(tempDir(t), 'grace.pid');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--workers', 'max', '--pid-file', pidFile], { listen: [local] });
  const ready = await workersReady(app, n);
  for (const w of ready) assert.equal(w.workers, String(n), 'GRACE_WORKERS');
  await app.waitForLog(`all ${n} workers are ready`);
  const status = await grace(['status', '--pid-file', pidFile, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { pid: number; workers: Array<{ index: number; pid: number; state: string }> };
  assert.equal(report.pid, app.proc.pid);
  assert.deepEqual(report.workers.map((w) => w.index), Array.from({ length: n }, (_, i) => i));
  assert.deepEqual(report.workers.map((w) => w.pid).sort(), ready.map((w) => w.pid).sort());
  assert.ok(report.workers.every((w) => w.state === 'serving'));
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal(await exitStatus(app), 0);
});

test('grace reload --timeout: a new generation that never becomes ready fails the reload at the timeout, naming the pid still serving', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'app.pid');
  const control = join(dir, 'control.json');
  // readyTimeout far beyond --timeout: the reload's own deadline is what ends the wait.
  const app = startFixture(t, { listen: [local], control, options: { pidFile, readyTimeout: 60_000 } });
  const first = await app.ready();
  writeFileSync(control, JSON.stringify({ hang: true })); // read by the next generation as it starts
  const result = await grace(['reload', '--pid-file', pidFile, '--timeout', '1000']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stderr, `grace: timed out after 1000 ms: no new generation became ready; pid ${first.pid} is still serving\n`);
  assert.equal(result.stdout, '');
  const child = await app.waitFor((e) => e.event === 'restart' && e.pid === first.pid);
  assert.ok(isAlive(child.child as number), 'the new generation is still starting: the reload only stopped waiting');
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, first.pid);
  process.kill(first.pid, 'SIGTERM');
  await waitForExit(first.pid);
  await waitForExit(child.child as number);
});

test('grace status on a direct-mode app (no grace run): its pid, generation and one serving row; the next generation after a reload', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'app.pid');
  const app = startFixture(t, { listen: [local], options: { pidFile } });
  const first = await app.ready();
  await waitUntil(() => existsSync(pidFile));
  const text = await grace(['status', '--pid-file', pidFile]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.equal(lines[0], `pid ${first.pid}: serving, generation 1, 1 serving`);
  assert.match(lines[1]!, /^worker\s+pid\s+generation\s+state\s+uptime\s+rss\s+restarts$/);
  assert.match(lines[2]!, new RegExp(`^0\\s+${first.pid}\\s+1\\s+serving\\s+\\d+s\\s+(\\d+\\.\\d MiB|-)\\s+0$`), 'its uptime; RSS where /proc tells it');
  // What it runs, as far as a generation can tell: its own command, node, grace, its uptime (no options or reloads: those are grace run's).
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.deepEqual(lines.slice(3, 5), ['', `command    ${node} ${FIXTURE_ARGS.join(' ')}`]);
  assert.ok(lines.includes(`node       ${process.version} (${node})`) && lines.includes(`grace      ${version}`), text.stdout);
  assert.match(text.stdout, /\nuptime +\d+s \(since /);
  assert.doesNotMatch(text.stdout, /\n(options|reloads) /);

  const reloaded = await grace(['reload', '--pid-file', pidFile]);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid); // read from another pipe than the answer
  const json = await grace(['status', '--pid-file', pidFile, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.pid, second.pid);
  assert.equal(report.verdict, 'serving');
  assert.deepEqual(report.about.command, [node, ...FIXTURE_ARGS], 'the next generation runs the same command');
  assert.equal(report.state, 'serving');
  assert.equal(report.generation, 2);
  assert.equal(report.workers.length, 1);
  const { index, pid, generation, state, restarts } = report.workers[0];
  assert.deepEqual({ index, pid, generation, state, restarts }, { index: 0, pid: second.pid, generation: 2, state: 'serving', restarts: 0 });
  if (process.platform === 'linux') assert.ok(report.workers[0].rss > 0, 'RSS read from /proc');
  killQuietly(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
});
