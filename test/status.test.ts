// `grace status` for scripts and monitoring, and what it describes: its exit
// status is the verdict (0 a worker serves, 1 nothing serves, 3 nothing runs,
// 4 the pid file cannot be trusted), `--json` carries the same; it shows what
// runs (command, cwd, env files, node, grace, uptime, options, reloads), as
// the supervisor wrote it in the pid file. Real processes; each step waits
// for an event, a log line or an exit.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStat } from '../src/platform/proc.ts';
import { aboutRun, NO_RELOADS, recordReload } from '../src/supervisor/core/describe.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import { step } from '../src/supervisor/core/step.ts';
import { initialTable } from '../src/supervisor/core/table.ts';
import { CLI, FIXTURE, FIXTURE_ARGS, killQuietly, startFixture, tempDir, waitForExit, waitUntil } from './helpers.ts';

const node = process.execPath;
const local = { port: 0, host: '127.0.0.1' };

/** `grace status` to its exit: status, stdout, stderr. */
function status(pidFile: string, json = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, 'status', '--pid-file', pidFile, ...(json ? ['--json'] : [])], { timeout: 30_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr });
    });
  });
}

async function verdict(pidFile: string): Promise<{ code: number | null; verdict: string; message?: string }> {
  const { code, stdout } = await status(pidFile, true);
  const json = JSON.parse(stdout) as { verdict: string; message?: string };
  return { code, verdict: json.verdict, ...(json.message ? { message: json.message } : {}) };
}

test('grace status describes a grace run: command, cwd, env files, node, grace, uptime, options, reloads; exit 0 while it serves', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const envFile = join(dir, 'app.env');
  writeFileSync(envFile, 'SECRET_TOKEN=hunter2-not-in-the-pid-file\n');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--workers', '2', '--standby', '1', '--env-file', envFile, '--pid-file', pidFile, '--', node, ...FIXTURE_ARGS, 'x'];
  const app = startFixture(t, { listen: [local] }, {}, { file: node, args: run });
  await app.waitForLog('all 2 workers are ready');
  process.kill(app.proc.pid!, 'SIGUSR2');
  await app.waitForLog('all 2 workers serve generation 2');
  // The pid file is rewritten after the step that ended the reload.
  await waitUntil(() => /"done":1/.test(readFileSync(pidFile, 'utf8')));
  assert.doesNotMatch(readFileSync(pidFile, 'utf8'), /hunter2/, 'no environment value in the pid file: env files by path');
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

  const text = await status(pidFile);
  assert.equal(text.code, 0, text.stderr);
  const fact = (name: string) => new RegExp(`\\n${name} +(.*)\\n`).exec(text.stdout)?.[1];
  assert.match(text.stdout, new RegExp(`^pid ${app.proc.pid}: serving, generation 2, 2 serving\\n`));
  assert.equal(fact('command'), `${node} --import tsx ${FIXTURE} x`);
  assert.equal(fact('cwd'), process.cwd());
  assert.equal(fact('env files'), envFile);
  assert.equal(fact('node'), `${process.version} (${node})`);
  assert.equal(fact('grace'), version);
  assert.match(fact('uptime') ?? '', /^\d+s \(since \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
  assert.match(fact('options') ?? '', /^workers 2, surge 1, standby 1, ready-timeout 30000, stop-timeout 60000\b/);
  assert.match(fact('reloads') ?? '', /^1 done, 0 failed, 0 refused; last: done \d+s ago after \d+\.\ds \(generation 2\)$/);

  const { code, stdout } = await status(pidFile, true);
  assert.equal(code, 0);
  const json = JSON.parse(stdout);
  assert.equal(json.verdict, 'serving');
  assert.equal(json.serving, 2);
  const { about } = json;
  assert.deepEqual(about.command, [node, '--import', 'tsx', FIXTURE, 'x']);
  assert.deepEqual([about.cwd, about.envFiles, about.node, about.grace], [process.cwd(), [envFile], { version: process.version, path: node }, version]);
  assert.deepEqual([about.options.workers, about.options.surge, about.options.standby, about.options.stopTimeout], [2, 1, 1, 60_000]);
  assert.deepEqual([about.reloads.done, about.reloads.failed, about.reloads.refused, about.reloads.last.result, about.reloads.last.generation], [1, 0, 0, 'done', 2]);
  assert.ok(about.reloads.last.tookMs > 0 && about.uptimeMs >= about.reloads.last.tookMs, JSON.stringify(about));
  process.kill(app.proc.pid!, 'SIGTERM');
  await app.closed();
});

test('grace status exits 1 while the supervisor runs and nothing serves (a crash loop), saying so in --json', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const run = ['--import', 'tsx', CLI, 'run', '--pid-file', pidFile, '--', node, '-e', 'process.exit(3)'];
  const app = startFixture(t, {}, {}, { file: node, args: run });
  // The pid file is written from the first launch; the failure follows the first exit.
  await waitUntil(() => existsSync(pidFile) && /"lastFailure"/.test(readFileSync(pidFile, 'utf8')), 20_000, () => `a failed start\n${app.log}`);
  const text = await status(pidFile);
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stdout, new RegExp(`^pid ${app.proc.pid}: starting, generation 0, 0 serving\\n`));
  assert.match(text.stdout, /\nlast worker failure \(\d+s ago\): .*exited with code 3/);
  assert.deepEqual(await verdict(pidFile), { code: 1, verdict: 'not-serving' });
  process.kill(app.proc.pid!, 'SIGTERM');
  await app.closed();
});

test('grace status exits 3 when nothing runs: no pid file, or the process it names is gone', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const missing = await status(join(dir, 'none.pid'));
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /^grace: pid file .*none\.pid cannot be read: ENOENT/);
  assert.equal(missing.stdout, '');
  assert.equal((await verdict(join(dir, 'none', 'app.pid'))).verdict, 'not-running', 'a missing directory too');

  // What a SIGKILLed grace leaves: a pid file naming a process that has exited.
  const gone = spawn(node, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  t.after(() => killQuietly(gone.pid!));
  const stale = plant(dir, gone.pid!, {});
  killQuietly(gone.pid!);
  await waitForExit(gone.pid!);
  const result = await verdict(stale);
  assert.equal(result.code, 3);
  assert.equal(result.verdict, 'not-running');
  assert.match(result.message ?? '', new RegExp(`pid ${gone.pid} from .* is not the grace process that wrote it`));
});

test('grace status exits 4 when the pid file cannot be trusted: a symlink, writable by others, malformed, another owner', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const live = spawn(node, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  t.after(() => killQuietly(live.pid!));
  const good = plant(dir, live.pid!, {});
  assert.equal((await verdict(good)).code, 0, 'the file as grace writes it is trusted');

  const link = join(dir, 'link.pid');
  symlinkSync(good, link);
  const writable = plant(dir, live.pid!, {}, 'writable.pid');
  chmodSync(writable, 0o666);
  const malformed = plant(dir, live.pid!, { generation: 'two' }, 'malformed.pid');
  const cases: Array<[string, RegExp]> = [
    [link, /is a symlink/],
    [writable, /is writable by other users \(mode 666/],
    [malformed, /is malformed: generation is not a whole number/],
  ];
  if (process.getuid?.() === 0) {
    const other = plant(dir, live.pid!, {}, 'other.pid');
    chownSync(other, 65534, 65534);
    cases.push([other, /is owned by uid 65534, but pid \d+ runs as uid 0/]);
  }
  for (const [pidFile, why] of cases) {
    const result = await verdict(pidFile);
    assert.deepEqual([result.code, result.verdict], [4, 'untrusted'], pidFile);
    assert.match(result.message ?? '', why);
    const text = await status(pidFile);
    assert.equal(text.code, 4);
    assert.match(text.stderr, new RegExp(`^grace: .*${why.source}`));
  }
});

test('the reloads status shows are the table\'s, each stamped when carried out: done, refused while one runs, failed', () => {
  let t = initialTable(1, 1, { readyTimeout: 5000 });
  let reloads = NO_RELOADS;
  let now = 1000;
  const apply = (event: WorkerEvent): number => {
    const { next, actions } = step(t, event);
    t = next;
    for (const action of actions) reloads = recordReload(reloads, action, now);
    return actions.find((a): a is Extract<WorkerAction, { do: 'launch' }> => a.do === 'launch')?.id ?? 0;
  };
  apply({ type: 'ready', index: 0, id: apply({ type: 'start' }) });
  const second = apply({ type: 'reload', at: now });
  now = 1500;
  apply({ type: 'reload', at: now });
  now = 2200;
  apply({ type: 'ready', index: 0, id: second });
  assert.deepEqual(reloads, { done: 1, failed: 0, refused: 1, last: { result: 'done', generation: 2, at: 1000, tookMs: 1200 } });
  now = 3000;
  const third = apply({ type: 'reload', at: now });
  now = 3400;
  apply({ type: 'failed', index: 0, id: third, reason: 'exited with code 1', at: now });
  assert.deepEqual(reloads, { done: 1, failed: 1, refused: 1, last: { result: 'failed', generation: 3, at: 3000, tookMs: 400 } });
  // Every setting that is set, by its name: a new one shows without a line in describe.ts.
  const facts = { command: ['node', 'app.js'], cwd: '/srv/app', envFiles: [], node: { version: 'v20.0.0', path: '/usr/bin/node' }, startedAt: 0 };
  const { options } = aboutRun(t, facts, reloads);
  const set = Object.entries(t.settings).filter(([, value]) => value !== undefined);
  assert.deepEqual([options!.readyTimeout, options!.surge, 'stopDelay' in options!], [5000, 1, false], 'as given, defaulted, or left out when unset');
  assert.deepEqual(options, { workers: 1, ...Object.fromEntries(set) });
  // And the options only the shell carries out (--timestamps, --watch), beside them.
  const shell = aboutRun(t, { ...facts, shellOptions: { timestamps: true, watch: ['/srv/app'] } }, reloads);
  assert.deepEqual(shell.options, { workers: 1, ...Object.fromEntries(set), timestamps: true, watch: ['/srv/app'] });
  assert.equal('shellOptions' in shell, false);
});

/** A pid file as grace writes it, naming `pid` (a live process's start time recorded), with `fields` over it. */
function plant(dir: string, pid: number, fields: object, name = 'app.pid'): string {
  const state = { pid, start: readStat(pid)?.startTime, generation: 1, serving: pid, state: 'serving', at: Date.now(), ...fields };
  const path = join(dir, name);
  writeFileSync(path, `${pid}\ngrace ${JSON.stringify(state)}\n`, { mode: 0o644 });
  return path;
}
