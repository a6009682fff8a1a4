// `grace run --watchdog MS`: a worker stuck in a busy loop is replaced (a new
// one first, the stuck one SIGTERMed then SIGKILLed at --stop-timeout) while
// a healthy one answers every heartbeat; systemd's watchdog hears WATCHDOG=1.
// Real processes; ordered by events and log lines.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInOrder, CLI, fakeSystemdNotify, get, isAlive, startFixture, tempDir, waitUntil } from './helpers.ts';

const APP = new URL('./fixtures/ops-app.ts', import.meta.url).pathname;
const QUEUE = new URL('./fixtures/queue-worker.ts', import.meta.url).pathname;
const node = process.execPath;

function supervise(t: TestContext, flags: string[], env: NodeJS.ProcessEnv = {}) {
  return startFixture(t, {}, env, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', ...flags, '--', node, '--import', 'tsx', APP] });
}

test('--watchdog: a worker stuck in a busy loop is replaced, then killed at --stop-timeout; the new one serves', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--watchdog', '1000', '--stop-timeout', '1500'], { GRACE_DEBUG: '1' });
  const first = await app.ready();
  const port = first.port as number;
  get({ port }, '/spin').catch(() => {}); // never answered: its worker is killed
  await app.waitFor((e) => e.event === 'spinning' && e.pid === first.pid);
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid, 20_000);
  await app.waitForLog(`generation 1 (pid ${first.pid}) exited with SIGKILL`, 20_000);
  // The supervisor's own lines, in the order it acted: the new one is ready before the stuck one retires, then killed.
  assertInOrder(app.log, [
    new RegExp(`app pid ${first.pid} has not answered the watchdog for \\d+ ms \\(--watchdog 1000\\): replacing it`),
    `generation 2 (pid ${next.pid}) is ready`,
    `retiring generation 1 (pid ${first.pid})`,
    `generation 1 (pid ${first.pid}) did not exit within 1500 ms of retiring; killing it`,
    `generation 1 (pid ${first.pid}) exited with SIGKILL`,
  ]);
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
  // The healthy worker answered its heartbeats all along (watched for longer than 1000 ms by now): replaced once, never again.
  app.proc.kill('SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
  assert.equal(app.log.match(/has not answered the watchdog/g)?.length, 1, app.log);
});

test('--watchdog without --listen: a worker whose loop blocks is replaced; one that answers the heartbeats is not', { timeout: 60_000 }, async (t) => {
  const spin = join(tempDir(t), 'spin');
  writeFileSync(spin, '');
  const app = startFixture(t, {}, { QUEUE_SPIN_ONCE: spin, GRACE_DEBUG: '1' }, {
    file: node,
    args: ['--import', 'tsx', CLI, 'run', '--workers', '2', '--watchdog', '1000', '--stop-timeout', '1500', '--', node, '--import', 'tsx', QUEUE],
  });
  await app.waitForLog('all 2 workers are ready');
  const stuck = (await app.waitFor((e) => e.event === 'spinning')).pid;
  const healthy = app.events.find((e) => e.event === 'ready' && e.pid !== stuck)!.pid;
  const slot = new RegExp(`worker (\\d) \\(pid ${stuck}, generation 1\\) is ready`).exec(app.log)![1];
  await app.waitForLog(`worker ${slot} (pid ${stuck}, generation 1) exited with SIGKILL`, 20_000);
  assertInOrder(app.log, [
    new RegExp(`worker ${slot} pid ${stuck} has not answered the watchdog for \\d+ ms \\(--watchdog 1000\\): replacing it`),
    new RegExp(`worker ${slot} \\(pid \\d+, generation 2\\) is ready`),
    `retiring worker ${slot} (pid ${stuck}, generation 1)`,
    `worker ${slot} (pid ${stuck}, generation 1) did not exit within 1500 ms of retiring; killing it`,
  ]);
  // The other one, watched all that time (longer than 1000 ms), answered every ping.
  assert.ok(isAlive(healthy), `healthy worker ${healthy} still works`);
  app.proc.kill('SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
  assert.equal(app.log.match(/has not answered the watchdog/g)?.length, 1, app.log);
  assert.ok(app.events.some((e) => e.event === 'exit' && e.pid === healthy && e.code === 0), `pid ${healthy} ran until the stop and exited 0`);
});

test('WATCHDOG_USEC: the supervisor sends WATCHDOG=1 at half the interval; workers never see the variable', { timeout: 60_000 }, async (t) => {
  const notify = fakeSystemdNotify(t);
  const app = supervise(t, [], { ...notify.env, WATCHDOG_USEC: '400000' });
  const worker = await app.ready();
  assert.equal(worker.watchdogUsec, null);
  await waitUntil(() => notify.calls().filter((c) => c.endsWith('WATCHDOG=1')).length >= 3, 15_000, () => `3 WATCHDOG=1\n${notify.calls().join('\n')}`);
  app.proc.kill('SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
});

test('--watchdog below 1000 ms is a usage error (exit 2)', { timeout: 30_000 }, async (t) => {
  const app = supervise(t, ['--watchdog', '30']);
  const { code } = await app.closed(); // its stderr read to the end
  assert.equal(code, 2);
  assert.match(app.log, /--watchdog must be at least 1000 ms, got 30/);
});
