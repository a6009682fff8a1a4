// `grace run --workers 2`: each line a worker writes names its slot and pid
// (a prefix, or fields added to a JSON line), byte for byte otherwise; a
// partial last line comes out at the worker's exit; --no-log-prefix passes
// the output as written. Real processes; waits on lines, never on time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { CLI, killQuietly, waitUntil } from './helpers.ts';

const APP = new URL('./fixtures/ops-app.ts', import.meta.url).pathname;

function run(t: TestContext, flags: string[], env: NodeJS.ProcessEnv = {}) {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', ...flags, '--', process.execPath, '--import', 'tsx', APP], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout.on('data', (b: Buffer) => out.push(b));
  proc.stderr.on('data', (b: Buffer) => err.push(b));
  const pids = () => [...Buffer.concat(out).toString('latin1').matchAll(/"event":"ready","pid":(\d+)/g)].map((m) => Number(m[1]));
  const orphans = () => [...Buffer.concat(out).toString('latin1').matchAll(/"event":"orphan","pid":\d+,"child":(\d+)/g)].map((m) => Number(m[1]));
  t.after(() => {
    for (const pid of [...pids(), ...orphans(), proc.pid!]) killQuietly(pid);
  });
  return { proc, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err).toString('utf8'), stderrBytes: () => Buffer.concat(err), pids };
}

test('--workers 2: plain lines are prefixed, JSON lines get grace_worker and grace_pid, bytes pass untouched', { timeout: 60_000 }, async (t) => {
  const app = run(t, ['--workers', '2']);
  await waitUntil(() => app.pids().length === 2, 30_000, () => `2 workers ready\n${app.stderr()}`);
  await waitUntil(() => (app.stderr().match(/stderr line/g) ?? []).length === 2, 15_000, () => `both stderr lines\n${app.stderr()}`);
  app.proc.kill('SIGTERM');
  const [code] = await once(app.proc, 'close'); // exited, and its output read to the end
  assert.equal(code, 0, app.stderr());
  const bytes = app.stdout();
  const text = bytes.toString('latin1');
  const lines = text.split('\n');
  const workers = readyPids(lines);
  assert.equal(workers.length, 2, text);
  for (const [slot, pid] of workers) {
    assert.ok(lines.includes(`[w${slot} ${pid}] plain line from worker ${slot}`), text);
    // The app's own pid and worker fields stay as the app wrote them; grace's come last.
    const json = lines.find((l) => l.includes('"msg":"json line"') && l.includes(`"grace_pid":${pid}`));
    assert.ok(json, text);
    assert.deepEqual(JSON.parse(json), { level: 30, pid, msg: 'json line', worker: 'app-own', grace_worker: slot, grace_pid: pid });
    // Not UTF-8: the same bytes, after the prefix.
    assert.ok(bytes.includes(Buffer.concat([Buffer.from(`[w${slot} ${pid}] `), Buffer.from([0xff, 0xfe, 0x62, 0x69, 0x6e, 0x0a])])), 'binary line intact');
    // The last line had no newline: flushed at the worker's exit, prefixed, given one.
    assert.ok(lines.includes(`[w${slot} ${pid}] partial at exit ${slot}`), text);
    assert.match(app.stderr(), new RegExp(`^\\[w${slot} ${pid}\\] stderr line from worker ${slot}$`, 'm'));
    // On stderr too: the bytes as written, not U+FFFD (EF BF BD).
    assert.ok(app.stderrBytes().includes(Buffer.concat([Buffer.from(`\n[w${slot} ${pid}] `), BINARY_ERR])), `binary stderr line intact:\n${app.stderr()}`);
  }
  // The supervisor's own lines are its logger's, unprefixed.
  assert.match(app.stderr(), /^grace: supervisor pid \d+ holding/m);
});

test('--no-log-prefix: the workers write as they would alone', { timeout: 60_000 }, async (t) => {
  const app = run(t, ['--workers', '2', '--no-log-prefix']);
  await waitUntil(() => app.pids().length === 2, 30_000, () => `2 workers ready\n${app.stderr()}`);
  app.proc.kill('SIGTERM');
  const [code] = await once(app.proc, 'close'); // exited, and its output read to the end
  assert.equal(code, 0, app.stderr());
  const text = app.stdout().toString('latin1');
  assert.match(text, /^plain line from worker 0$/m);
  assert.doesNotMatch(text, /grace_worker|\[w\d/);
  // Bytes on stderr that are not UTF-8 pass through as written (they were decoded to EF BF BD).
  const stderr = app.stderrBytes();
  assert.equal(stderr.toString('latin1').split(BINARY_ERR.toString('latin1')).length - 1, 2, `both workers' binary stderr lines intact:\n${app.stderr()}`);
  assert.ok(!stderr.includes(Buffer.from([0xef, 0xbf, 0xbd])), 'nothing was decoded');
});

test('a process a worker left behind, holding its stdout, does not keep the supervisor from exiting', { timeout: 60_000 }, async (t) => {
  const app = run(t, ['--workers', '2'], { OPS_APP_ORPHAN: '1' });
  await waitUntil(() => app.pids().length === 2, 30_000, () => `2 workers ready\n${app.stderr()}`);
  app.proc.kill('SIGTERM');
  await waitUntil(() => app.proc.exitCode !== null, 15_000, () => `the supervisor to exit\n${app.stderr()}`);
  assert.equal(app.proc.exitCode, 0, app.stderr());
});

/** What ops-app.ts writes to stderr that is not UTF-8. */
const BINARY_ERR = Buffer.from([0xff, 0xfe, 0x65, 0x72, 0x72, 0x0a]);

/** [slot, pid] of each worker's ready line. */
function readyPids(lines: string[]): Array<[number, number]> {
  return lines.flatMap((l) => {
    const m = /^\{"event":"ready","pid":(\d+),"worker":"(\d+)"/.exec(l);
    return m ? [[Number(m[2]), Number(m[1])] as [number, number]] : [];
  });
}
