// `grace run --max-restarts N`: a slot restarted N times in a row, none up
// --min-uptime, ends grace run with the app's status, the log naming the
// slot, the count and the app's last stderr lines, the other workers
// drained. Real processes; the replays of the rule are in run-policies-table.test.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, get, startFixture, tempDir } from './helpers.ts';

const APP = new URL('./fixtures/crash-loop-app.ts', import.meta.url).pathname;

function run(t: TestContext, flags: string[], env: NodeJS.ProcessEnv) {
  return startFixture(t, {}, env, { file: process.execPath, args: ['--import', 'tsx', CLI, 'run', ...flags, '--', process.execPath, '--import', 'tsx', APP] });
}

test('--max-restarts 3: an app that exits 3 at every start ends grace run with status 3 within seconds, naming the slot, the count and its stderr', { timeout: 60_000 }, async (t) => {
  const gate = join(tempDir(t), 'gate');
  writeFileSync(gate, '');
  const started = performance.now();
  const app = run(t, ['--max-restarts', '3'], { CRASH_SLOT: '0', GATE: gate });
  const { code } = await app.closed();
  const ms = performance.now() - started;
  assert.equal(code, 3, app.log);
  // The first start and 3 restarts, after 100, 200 and 400 ms.
  assert.deepEqual([...app.log.matchAll(/restarting the app in (\d+) ms/g)].map((m) => Number(m[1])), [100, 200, 400], app.log);
  assert.match(
    app.log,
    /grace: error: the app was restarted 3 times in a row and never stayed up 1000 ms \(--max-restarts 3, --min-uptime 1000\): giving up; exit status 3; its last lines of stderr:\n {2}crash-loop-app: cannot start in slot 0\n {4}\(the gate is open\)\n/,
  );
  assert.ok(ms < 20_000, `${ms} ms`);
  t.diagnostic(`exit 3 after ${Math.round(ms)} ms`);
});

test('--max-restarts with 2 workers: one slot crash-loops, the other drains gracefully (its slow request is answered), exit with the app\'s status', { timeout: 60_000 }, async (t) => {
  const gate = join(tempDir(t), 'gate');
  const app = run(t, ['--listen', '127.0.0.1:0', '--workers', '2', '--max-restarts', '2'], { CRASH_SLOT: '1', GATE: gate });
  const serving = await app.ready();
  // Worker 1 waits at its gate, so worker 0 alone accepts: the request is worker 0's.
  const slow = get({ port: serving.port as number }, '/sleep?ms=1500');
  await app.waitFor((e) => e.event === 'request');
  writeFileSync(gate, '');
  const res = await slow;
  assert.equal(res.status, 200);
  assert.equal(res.json.pid, serving.pid);
  const { code } = await app.closed();
  assert.equal(code, 3, app.log);
  assert.match(app.log, /worker 1 was restarted 2 times in a row and never stayed up 1000 ms .*: giving up; the other workers drain; exit status 3; its last lines of stderr:\n {2}crash-loop-app: cannot start in slot 1/);
  assert.match(app.log, new RegExp(`\\[w0 ${serving.pid}\\] grace: Stopping pid ${serving.pid} on SIGTERM`));
});
