// `grace run --watchdog MS`: a worker stuck in a busy loop is replaced (a new
// one first, the stuck one SIGTERMed then SIGKILLed at --stop-timeout) while
// a healthy one answers every heartbeat; systemd's watchdog hears WATCHDOG=1.
// Real processes; ordered by events and log lines.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CLI, fakeSystemdNotify, get, startFixture, waitForExit, waitUntil } from './helpers.ts';

const APP = new URL('./fixtures/ops-app.ts', import.meta.url).pathname;
const node = process.execPath;

function supervise(t: TestContext, flags: string[], env: NodeJS.ProcessEnv = {}) {
  return startFixture(t, {}, env, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', ...flags, '--', node, '--import', 'tsx', APP] });
}

test('--watchdog: a worker stuck in a busy loop is replaced, then killed at --stop-timeout; the new one serves', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--watchdog', '1000', '--stop-timeout', '1500']);
  const first = await app.ready();
  const port = first.port as number;
  get({ port }, '/spin').catch(() => {}); // never answered: its worker is killed
  await app.waitFor((e) => e.event === 'spinning' && e.pid === first.pid);
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid, 20_000);
  await app.waitForLog(new RegExp(`app pid ${first.pid} has not answered the watchdog for \\d+ ms \\(--watchdog 1000\\): replacing it`));
  await app.waitForLog(`(pid ${first.pid}) did not exit within 1500 ms of retiring; killing it`);
  await waitForExit(first.pid);
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
  // The healthy worker answered its heartbeats all along: replaced once, never again.
  app.proc.kill('SIGTERM');
  await waitUntil(() => app.proc.exitCode !== null);
  assert.equal(app.log.match(/has not answered the watchdog/g)?.length, 1, app.log);
  assert.equal(app.proc.exitCode, 0, app.log);
});

test('WATCHDOG_USEC: the supervisor sends WATCHDOG=1 at half the interval; workers never see the variable', { timeout: 60_000 }, async (t) => {
  const notify = fakeSystemdNotify(t);
  const app = supervise(t, [], { ...notify.env, WATCHDOG_USEC: '400000' });
  const worker = await app.ready();
  assert.equal(worker.watchdogUsec, null);
  await waitUntil(() => notify.calls().filter((c) => c.endsWith('WATCHDOG=1')).length >= 3, 15_000, () => `3 WATCHDOG=1\n${notify.calls().join('\n')}`);
  app.proc.kill('SIGTERM');
  await waitUntil(() => app.proc.exitCode !== null);
});

test('--watchdog below 1000 ms is a usage error (exit 2)', { timeout: 30_000 }, async (t) => {
  const app = supervise(t, ['--watchdog', '30']);
  const { code } = await app.closed(); // its stderr read to the end
  assert.equal(code, 2);
  assert.match(app.log, /--watchdog must be at least 1000 ms, got 30/);
});
