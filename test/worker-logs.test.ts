// `grace run --workers 2`: each line a worker writes names its slot and pid
// (a prefix, or fields added to a JSON line), byte for byte otherwise; a
// partial last line comes out at the worker's exit; --no-log-prefix passes
// the output as written; --timestamps stamps every line, grace's own too.
// Real processes; waits on lines, never on time.
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

/** An ISO 8601 time, as --timestamps writes it at the start of a line. */
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

/** Every line of `text` starts with a time within [from, to], or is a JSON object with a "time": the lines that are not. */
function unstamped(text: string, from: number, to: number): string[] {
  return text.split('\n').filter((line) => {
    if (line === '') return false;
    if (line.startsWith('{')) return typeof JSON.parse(line).time === 'undefined';
    const at = STAMP.test(line) ? Date.parse(line.slice(0, 24)) : NaN;
    return !(at >= from && at <= to);
  });
}

test('--timestamps with 2 workers: every line grace writes and relays starts with the time (after it, the worker), a JSON line gets "time" only where it has none', { timeout: 60_000 }, async (t) => {
  const from = Date.now();
  const app = run(t, ['--workers', '2', '--timestamps']);
  await waitUntil(() => app.pids().length === 2, 30_000, () => `2 workers ready\n${app.stderr()}`);
  await waitUntil(() => (app.stderr().match(/stderr line/g) ?? []).length === 2, 15_000, () => `both stderr lines\n${app.stderr()}`);
  app.proc.kill('SIGTERM');
  const [code] = await once(app.proc, 'close');
  assert.equal(code, 0, app.stderr());
  const to = Date.now();
  const out = app.stdout().toString('latin1');
  const err = app.stderr();
  assert.deepEqual(unstamped(out, from, to), [], out);
  assert.deepEqual(unstamped(err, from, to), [], err);
  const lines = out.split('\n');
  for (const [slot, pid] of readyPids(lines.map((l) => l.replace(/,"time":"[^"]*"/, '')))) {
    const stamped = (text: string) => new RegExp(`${STAMP.source}\\[w${slot} ${pid}\\] ${text}$`, 'm');
    assert.match(out, stamped(`plain line from worker ${slot}`));
    assert.match(out, stamped(`partial at exit ${slot}`), 'a partial line at the exit is stamped too');
    assert.match(err, stamped(`stderr line from worker ${slot}`));
    assert.match(err, stamped(`grace: Serving 127\\.0\\.0\\.1:\\d+ with pid ${pid}`), "the library's own lines in the worker, relayed");
    // Bytes that are not UTF-8 still pass untouched, after the stamp and the name.
    assert.ok(app.stdout().includes(Buffer.from([0x20, ...Buffer.from(`[w${slot} ${pid}] `), 0xff, 0xfe, 0x62, 0x69, 0x6e, 0x0a])), 'binary line intact');
    const json = JSON.parse(lines.find((l) => l.includes('"msg":"json line"') && l.includes(`"grace_pid":${pid}`))!);
    assert.deepEqual(Object.keys(json), ['level', 'pid', 'msg', 'worker', 'time', 'grace_worker', 'grace_pid']);
    assert.ok(Date.parse(json.time) >= from && Date.parse(json.time) <= to, json.time);
    // A line with a time of its own (pino's epoch ms) keeps it, and gets no second one.
    const timed = lines.find((l) => l.includes('"msg":"timed json line"') && l.includes(`"grace_pid":${pid}`))!;
    assert.equal(timed, `{"time":1733330000000,"msg":"timed json line","worker":"${slot}","grace_worker":${slot},"grace_pid":${pid}}`);
  }
  // grace's own lines: the supervisor's, and its last.
  assert.match(err, new RegExp(`${STAMP.source}grace: supervisor pid \\d+ holding`, 'm'));
  assert.match(err.trimEnd().split('\n').at(-1)!, new RegExp(`${STAMP.source}grace: supervisor pid \\d+ exiting$`));
});

test('--timestamps with one worker: its lines come through the supervisor to be stamped (no name), and a --standby spare, booted the same way, is taken', { timeout: 60_000 }, async (t) => {
  const from = Date.now();
  const app = run(t, ['--timestamps', '--standby', '1'], { GRACE_DEBUG: '1' });
  await waitUntil(() => /standby pid \d+ parked/.test(app.stderr()) && app.pids().length === 1, 30_000, () => `ready, a spare parked\n${app.stderr()}`);
  app.proc.kill('SIGUSR2');
  await waitUntil(() => /reload done/.test(app.stderr()), 30_000, () => `the reload\n${app.stderr()}`);
  app.proc.kill('SIGTERM');
  const [code] = await once(app.proc, 'close');
  assert.equal(code, 0, app.stderr());
  const out = app.stdout().toString('latin1');
  const err = app.stderr();
  assert.deepEqual(unstamped(out, from, Date.now()), [], out);
  assert.deepEqual(unstamped(err, from, Date.now()), [], err);
  assert.match(out, new RegExp(`${STAMP.source}plain line from worker 0$`, 'm'));
  assert.match(err, new RegExp(`${STAMP.source}stderr line from worker 0$`, 'm'));
  assert.doesNotMatch(out + err, /\[w0 |grace_worker/);
  assert.match(err, /releasing standby pid \d+ as the next generation/);
  assert.doesNotMatch(err, /not used: its output is taken differently/);
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
