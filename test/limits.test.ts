// The limits of what grace takes from a user: durations (Node's timers hold
// at most 2^31 − 1 ms; a longer one fires after 1 ms), signal names, counts
// and sizes on the command line, and what `grace status` does with a pid
// file it cannot make sense of. Real processes: the CLI, the fixture app.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MAX_DURATION_MS } from '../src/platform/duration.ts';
import { GraceError } from '../src/platform/errors.ts';
import { resolveOptions } from '../src/generation/options.ts';
import { readStat } from '../src/platform/proc.ts';
import { Shutdown } from '../src/shutdown/shutdown.ts';
import { CLI, FIXTURE_ARGS, get, killQuietly, portOf, startFixture, tempDir, waitForExit } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };
const TOO_LONG = 3_000_000_000;
const RANGE = /from 0 to 2147483647 \(about 24\.8 days, the longest timer Node can set\)/;

function grace(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** A fixture that must refuse to start: its exit code and what it said. */
async function refusedStart(t: TestContext, config: object, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const app = startFixture(t, config, env);
  const { code } = await app.closed();
  assert.notEqual(code, 0, app.log);
  assert.ok(!app.events.some((e) => e.event === 'ready'), 'it never served');
  return app.log;
}

test('grace run and grace reload refuse a duration past 2^31-1 ms at once, naming the flag and the range (exit 2)', { timeout: 60_000 }, async () => {
  const app = ['--', process.execPath, ...FIXTURE_ARGS];
  const cases: Array<[string[], RegExp]> = [
    // A timeout starts at 1 ms (a timeout of 0 waits for nothing); the stop delay at 0.
    [['run', '--listen', '127.0.0.1:0', '--stop-timeout', String(TOO_LONG), ...app], /--stop-timeout must be a whole number of milliseconds from 1 to /],
    [['run', '--listen', '127.0.0.1:0', '--stop-delay', String(TOO_LONG), ...app], /--stop-delay must be a whole number of milliseconds from 0 to /],
    [['run', '--listen', '127.0.0.1:0', '--ready-timeout', '2147483648', ...app], /--ready-timeout must be a whole number of milliseconds from 1 to /],
    [['reload', '--pid-file', '/nonexistent/app.pid', '--timeout', '99999999999999999999'], /--timeout must be a whole number of milliseconds from 1 to /],
  ];
  for (const [args, message] of cases) {
    const result = await grace(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.match(result.stderr, new RegExp(RANGE.source.replace('from 0 to ', '')));
    assert.match(result.stderr, new RegExp(`got "${args[args.indexOf('--') - 1] ?? args.at(-1)}"`));
  }
  // The supervisor's kill deadline waits out the stop delay and then the stop timeout, in one timer.
  const sum = await grace(['run', '--listen', '127.0.0.1:0', '--stop-delay', String(MAX_DURATION_MS), '--stop-timeout', '1', ...app]);
  assert.equal(sum.code, 2, sum.stderr);
  assert.match(sum.stderr, /--stop-delay plus --stop-timeout must be at most 2147483647 .*got 2147483647 \+ 1 = 2147483648/);
});

test('serve refuses shutdownTimeout: 3e9 with ERR_GRACE_OPTIONS naming it and the range', { timeout: 30_000 }, async (t) => {
  const log = await refusedStart(t, { listen: [local], options: { shutdownTimeout: 3e9 } });
  assert.match(log, /ERR_GRACE_OPTIONS/);
  assert.match(log, /options\.shutdownTimeout must be a number of milliseconds from 0 to 2147483647 .*got 3000000000/);
});

test('GRACE_STOP_DELAY past 2^31-1 ms is refused by name', { timeout: 30_000 }, async (t) => {
  const log = await refusedStart(t, { listen: [local] }, { GRACE_STOP_DELAY: String(TOO_LONG) });
  assert.match(log, /GRACE_STOP_DELAY must be a whole number of milliseconds from 0 to 2147483647 .*got "3000000000"/);
});

test('health.checkTimeout past 2^31-1 ms is refused by name', { timeout: 30_000 }, async (t) => {
  const log = await refusedStart(t, { listen: [local], options: { health: { checkTimeout: TOO_LONG } } });
  assert.match(log, /options\.health\.checkTimeout must be a number of milliseconds above 0 and at most 2147483647 .*got 3000000000/);
});

test('every duration option and registry timeout past the limit is ERR_GRACE_OPTIONS naming it', () => {
  const refused = (fn: () => unknown, name: RegExp) =>
    assert.throws(fn, (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && name.test(err.message) && /2147483647/.test(err.message));
  for (const key of ['readyTimeout', 'shutdownTimeout', 'stopDelay', 'idleGrace'] as const) {
    refused(() => resolveOptions({ [key]: TOO_LONG }), new RegExp(`options\\.${key} must be`));
    assert.equal(resolveOptions({ [key]: MAX_DURATION_MS })[key], MAX_DURATION_MS);
  }
  refused(() => resolveOptions({ warmUp: { requests: ['/'], timeout: TOO_LONG } }), /options\.warmUp\.timeout must be/);
  refused(() => new Shutdown({ timeout: TOO_LONG }), /Shutdown options\.timeout must be/);
  const shutdown = new Shutdown({ logger: false });
  refused(() => shutdown.every('job', TOO_LONG, () => {}), /every\(\) intervalMs must be/);
  refused(() => shutdown.handleSignals({ timeout: TOO_LONG }), /handleSignals\(\) timeout must be/);
  refused(() => shutdown.shutdown({ timeout: TOO_LONG }), /shutdown\(\) timeout must be/);
});

test('shutdownTimeout at the maximum is accepted and does not fire early: a stop drains the request in flight, exit 0', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { shutdownTimeout: MAX_DURATION_MS, idleGrace: 100 } });
  const ready = await app.ready();
  const inFlight = get({ port: portOf(ready) }, '/sleep?ms=500');
  await app.waitFor((e) => e.event === 'request');
  process.kill(ready.pid, 'SIGTERM');
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.json.pid, ready.pid);
  const { code } = await app.closed();
  assert.equal(code, 0, app.log);
  assert.equal(app.events.find((e) => e.event === 'stopped')?.forced, 0);
  assert.doesNotMatch(app.log, /TimeoutOverflowWarning/);
});

test('grace run --stop-timeout at the maximum: a stop drains the request in flight, exit 0', { timeout: 60_000 }, async (t) => {
  const app = startFixture(t, { listen: [local] }, {}, {
    file: process.execPath,
    args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--stop-timeout', String(MAX_DURATION_MS), '--', process.execPath, ...FIXTURE_ARGS],
  });
  const ready = await app.ready();
  const inFlight = get({ port: portOf(ready) }, '/sleep?ms=500');
  await app.waitFor((e) => e.event === 'request');
  process.kill(app.proc.pid!, 'SIGTERM');
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.json.pid, ready.pid);
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
  assert.doesNotMatch(app.log, /TimeoutOverflowWarning|killing/);
});

test('signal options: a name the OS lacks, an uncatchable one, a restart signal that also stops, a duplicate are ERR_GRACE_OPTIONS', () => {
  const cases: Array<[object, RegExp]> = [
    [{ restartSignal: 'SIGFOO' }, /options\.restartSignal must be a signal name or false, like 'SIGTERM' \(one of os\.constants\.signals\); got "SIGFOO"/],
    [{ restartSignal: 'SIGKILL' }, /options\.restartSignal cannot be SIGKILL: no process can catch it/],
    [{ restartSignal: 'SIGSTOP' }, /options\.restartSignal cannot be SIGSTOP/],
    [{ restartSignal: 'SIGTERM' }, /options\.restartSignal SIGTERM is also in options\.stopSignals \(SIGINT, SIGTERM\)/],
    [{ stopSignals: ['SIGUSR2'] }, /options\.restartSignal SIGUSR2 is also in options\.stopSignals \(SIGUSR2\)/],
    [{ stopSignals: ['SIGTERM', 'SIGTERM'] }, /options\.stopSignals names SIGTERM twice/],
    [{ stopSignals: ['SIGTERM', 'SIGBAR'] }, /options\.stopSignals\[1\] must be a signal name.*got "SIGBAR"/],
    [{ stopSignals: ['SIGKILL'] }, /options\.stopSignals\[0\] cannot be SIGKILL/],
    [{ stopSignals: 'SIGTERM' }, /options\.stopSignals must be an array of signal names/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => resolveOptions(options as never), (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && message.test(err.message), JSON.stringify(options));
  }
  assert.equal(resolveOptions({ restartSignal: false, stopSignals: ['SIGUSR2'] }).restartSignal, false);
  assert.deepEqual(resolveOptions({ restartSignal: 'SIGHUP', stopSignals: ['SIGTERM'] }).stopSignals, ['SIGTERM']);
  assert.throws(() => new Shutdown({ logger: false }).handleSignals({ signals: ['SIGFOO' as NodeJS.Signals] }), /handleSignals\(\) signals\[0\] must be a signal name/);
});

test('restartSignal: SIGKILL is refused by name at start, not with uv_signal_start EINVAL', { timeout: 30_000 }, async (t) => {
  const log = await refusedStart(t, { listen: [local], options: { restartSignal: 'SIGKILL' } });
  assert.match(log, /options\.restartSignal cannot be SIGKILL/);
  assert.doesNotMatch(log, /EINVAL/);
});

test('a custom restartSignal (SIGHUP) restarts: the new pid answers', { timeout: 60_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { restartSignal: 'SIGHUP' } });
  const first = await app.ready();
  process.kill(first.pid, 'SIGHUP');
  const second = await app.handedOver(first.pid);
  assert.notEqual(second.pid, first.pid);
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
  await waitForExit(first.pid);
  process.kill(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
});

test('grace run refuses counts and sizes outside their range, naming the flag and the range (exit 2)', { timeout: 60_000 }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--workers', '-1'], /--workers must be a whole number from 1 to 1024, or max; got "-1"/],
    [['--workers', '99999999999999999999'], /--workers must be a whole number from 1 to 1024, or max; got "99999999999999999999"/],
    [['--workers', '1025'], /--workers must be a whole number from 1 to 1024/],
    [['--surge', '1025'], /--surge must be a whole number from 1 to 1024; got "1025"/],
    [['--surge', '-2'], /--surge must be a whole number from 1 to 1024; got "-2"/],
    [['--max-memory', '99999999999999999999G'], /--max-memory takes a size from 1 byte to 9007199254740991 bytes \(8 PiB\).*got "99999999999999999999G"/],
    [['--max-memory', '-5M'], /--max-memory takes a size from 1 byte.*got "-5M"/],
  ];
  for (const [flags, message] of cases) {
    const result = await grace(['run', '--listen', '127.0.0.1:0', ...flags, '--', process.execPath, ...FIXTURE_ARGS]);
    assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /needs a value|Invalid array length/);
  }
});

/** A live process (not grace) and a pid file naming it, with `fields` over what grace would write. */
function plantPidFile(t: TestContext, fields: object): string {
  const target = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  t.after(() => killQuietly(target.pid!));
  const pid = target.pid!;
  const state = { pid, start: readStat(pid)?.startTime, generation: 1, serving: pid, state: 'serving', at: Date.now(), ...fields };
  const path = join(tempDir(t), 'app.pid');
  writeFileSync(path, `${pid}\ngrace ${JSON.stringify(state)}\n`, { mode: 0o644 });
  return path;
}

test('grace status on a malformed workers field says the pid file is malformed, naming it, and exits 4 (untrusted)', { timeout: 30_000 }, async (t) => {
  for (const workers of [{ a: 1 }, 'x', [{ index: 0, pid: 'one' }], [null]]) {
    const pidFile = plantPidFile(t, { workers });
    const result = await grace(['status', '--pid-file', pidFile]);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, new RegExp(`^grace: pid file ${pidFile} is malformed: workers`));
    assert.doesNotMatch(result.stderr, /is not a function|TypeError|    at /);
    assert.equal(result.stdout, '');
  }
});

test('grace status shows escape sequences from the pid file escaped, never raw', { timeout: 30_000 }, async (t) => {
  const evil = 'serv\u001b]0;pwned\u0007\u009b31ming';
  const pidFile = plantPidFile(t, { state: 'failed', message: `boom\u001b[2J\nnext`, workers: [{ index: 0, pid: 1, generation: 1, state: evil, startedAt: 0, restarts: 0 }] });
  for (const args of [[], ['--json']]) {
    const result = await grace(['status', '--pid-file', pidFile, ...args]);
    assert.equal(result.code, 1, `nothing serves (its one worker's state is not "serving"): ${result.stderr}`);
    assert.doesNotMatch(result.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character but newline reaches the terminal');
    if (args.length === 0) {
      assert.match(result.stdout, /last reload failed: boom\\x1b\[2J\\x0anext\n/);
      assert.ok(result.stdout.includes('serv\\x1b]0;pwned\\x07\\x9b31ming'), result.stdout);
    } else {
      assert.equal(JSON.parse(result.stdout).workers[0].state, evil, 'the JSON still holds the exact text');
    }
  }
  // A damaged grace line is quoted in the error: escaped there too.
  const damaged = join(tempDir(t), 'damaged.pid');
  writeFileSync(damaged, `1\ngrace {\u001b[31m\n`);
  const result = await grace(['status', '--pid-file', damaged]);
  assert.equal(result.code, 4);
  assert.doesNotMatch(result.stderr, /\u001b/);
});

test('grace status on a pid file owned by another uid does not say it would signal', { timeout: 30_000, skip: process.getuid?.() !== 0 && 'needs root to chown a file to nobody' }, async (t) => {
  const pidFile = plantPidFile(t, {});
  chownSync(pidFile, 65534, 65534);
  const result = await grace(['status', '--pid-file', pidFile]);
  assert.equal(result.code, 4);
  assert.match(result.stderr, /owned by uid 65534, but pid \d+ runs as uid 0: not trusting what it says about a process the file's owner does not run/);
  assert.doesNotMatch(result.stderr, /signal/);
  const reload = await grace(['reload', '--pid-file', pidFile, '--timeout', '300']);
  assert.match(reload.stderr, /refusing to signal/, 'reload still says it refuses to signal');
});

// Bytes that are not UTF-8 cannot be written from Node (it encodes strings as
// UTF-8), so a shell puts them on the command line and in the environment.
const LATIN1_CAFE = ['-c', `exec env CAFE="$(printf 'caf\\351')" "$0" "$@" "$(printf 'caf\\351')"`];
const hasProc = existsSync('/proc/self/cmdline');

/** A process's argv or environment as exec gave it: each entry's bytes, in hex. */
function procEntries(pid: number, file: 'cmdline' | 'environ'): string[] {
  const raw = readFileSync(`/proc/${pid}/${file}`);
  const out: string[] = [];
  for (let start = 0, end; start < raw.length; start = end + 1) {
    end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    out.push(raw.subarray(start, end).toString('hex'));
  }
  return out;
}

test('bytes that are not UTF-8 in argv and the environment reach the next generation as U+FFFD, and the old one says so', { timeout: 60_000, skip: !hasProc && 'needs /proc' }, async (t) => {
  const app = startFixture(t, { listen: [local] }, {}, { file: '/bin/sh', args: [...LATIN1_CAFE, process.execPath, ...FIXTURE_ARGS] });
  const first = await app.ready();
  const cafe = Buffer.from('caf\xe9', 'latin1').toString('hex');
  const replaced = Buffer.from('caf\ufffd').toString('hex');
  assert.equal(procEntries(first.pid, 'cmdline').at(-1), cafe, 'generation 1 was given the raw byte');
  assert.ok(procEntries(first.pid, 'environ').includes(Buffer.from('CAFE=').toString('hex') + cafe));
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  // Node cannot pass the byte on (child_process encodes strings as UTF-8): the limit, as it is.
  assert.equal(procEntries(second.pid, 'cmdline').at(-1), replaced);
  assert.ok(procEntries(second.pid, 'environ').includes(Buffer.from('CAFE=').toString('hex') + replaced));
  assert.match(app.log, /warning: argument \d+ \("caf\uFFFD"\), environment variable "CAFE" of pid \d+ hold bytes that are not UTF-8: .*the new generation gets U\+FFFD/);
  process.kill(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
});

test('grace run says when its argv or environment holds bytes its workers will get as U+FFFD', { timeout: 60_000, skip: !hasProc && 'needs /proc' }, async (t) => {
  const app = startFixture(t, { listen: [local] }, {}, {
    file: '/bin/sh',
    args: [...LATIN1_CAFE, process.execPath, '--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--', process.execPath, ...FIXTURE_ARGS],
  });
  const worker = await app.ready();
  assert.ok(procEntries(worker.pid, 'environ').includes(Buffer.from('CAFE=caf\ufffd').toString('hex')));
  assert.match(app.log, /warning: argument \d+ \("caf\uFFFD"\), environment variable "CAFE" of pid \d+ hold bytes that are not UTF-8: .*every worker gets U\+FFFD/);
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
});
