// The stop delay: on a stop signal a generation keeps accepting and serving
// while readiness says "going away", so a load balancer can take it out of
// rotation first. Real processes, real signals; nothing here waits on timing
// except for the delay a test sets on purpose.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { CLI, FIXTURE_ARGS, get, portOf, startFixture, waitForExit, waitUntil } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };
// Longer than any test: only a second signal or a handover ends it.
const FOREVER = 600_000;

test('during the stop delay, new connections are still served and readiness says 503', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { stopDelay: FOREVER } });
  const ready = await app.ready();
  const port = portOf(ready);
  assert.equal((await get({ port }, '/ready')).status, 200);
  process.kill(ready.pid, 'SIGTERM');
  const leaving = await app.waitFor((e) => e.event === 'leaving');
  assert.deepEqual([leaving.signal, leaving.stopDelay], ['SIGTERM', FOREVER]);
  // Fresh connections (agent: false): the listener is still open.
  const served = await get({ port }, '/');
  assert.equal(served.status, 200);
  assert.equal(served.json.pid, ready.pid);
  assert.equal((await get({ port }, '/ready')).status, 503);
  // A second stop signal skips the rest of the delay.
  process.kill(ready.pid, 'SIGTERM');
  const [code] = await once(app.proc, 'close'); // exited, and its output read to the end
  assert.equal(code, 0);
  assert.match(app.log, /Leaving: pid \d+ got SIGTERM[\s\S]*Stopping pid \d+ on SIGTERM/);
});

test('when the stop delay is over, the generation drains and exits 0', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { stopDelay: 300 } });
  const ready = await app.ready();
  process.kill(ready.pid, 'SIGTERM');
  const [code] = await once(app.proc, 'close');
  assert.equal(code, 0);
  const order = app.events.map((e) => e.event).filter((e) => e === 'leaving' || e === 'shutdown-started' || e === 'stopped');
  assert.deepEqual(order, ['leaving', 'shutdown-started', 'stopped']);
});

test('a hot restart is not delayed: the old generation drains at once after the handover', { timeout: 60_000 }, async (t) => {
  const app = startFixture(t, { listen: [local], options: { stopDelay: FOREVER } });
  const first = await app.ready();
  const port = portOf(first);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await waitForExit(first.pid);
  // Its last line read (a pid check is not ordered with its output): a 'leaving' would have come before it.
  await app.waitFor((e) => e.event === 'exit' && e.pid === first.pid);
  assert.ok(!app.events.some((e) => e.event === 'leaving' && e.pid === first.pid), 'the old generation did not leave; it handed over');
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
  assert.equal((await get({ port }, '/ready')).status, 200);
  process.kill(second.pid, 'SIGINT');
  // Two signals sent at once can arrive as one: the second after the first was taken.
  await app.waitFor((e) => e.event === 'leaving' && e.pid === second.pid);
  process.kill(second.pid, 'SIGINT');
  await waitForExit(second.pid);
});

test('GRACE_STOP_DELAY sets the default stop delay; a malformed one is refused by name', { timeout: 30_000 }, async (t) => {
  const app = startFixture(t, { listen: [local] }, { GRACE_STOP_DELAY: String(FOREVER) });
  const ready = await app.ready();
  process.kill(ready.pid, 'SIGTERM');
  assert.equal((await app.waitFor((e) => e.event === 'leaving')).stopDelay, FOREVER);
  process.kill(ready.pid, 'SIGTERM');
  await waitForExit(ready.pid);

  const bad = startFixture(t, { listen: [local] }, { GRACE_STOP_DELAY: '5s' });
  const [code] = await once(bad.proc, 'close');
  assert.notEqual(code, 0);
  assert.match(bad.log, /GRACE_STOP_DELAY must be a whole number of milliseconds from 0 to 2147483647 .*got "5s"/);
});

test('under grace run, a reload retires the old generation at once; the supervisor\'s own stop leaves first', { timeout: 60_000 }, async (t) => {
  const node = process.execPath;
  const app = startFixture(t, { listen: [local], options: { stopDelay: FOREVER } }, {}, {
    file: node,
    args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--', node, ...FIXTURE_ARGS],
  });
  const supervisor = app.proc.pid!;
  const first = await app.ready();
  process.kill(supervisor, 'SIGHUP');
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await waitForExit(first.pid);
  // Its lines are read apart from that pid check; a 'leaving' would have come before its 'stopped'.
  const stopped = await app.waitFor((e) => e.event === 'stopped' && e.pid === first.pid);
  assert.ok(!app.events.some((e) => e.event === 'leaving' && e.pid === first.pid), 'retired as a handover, with no stop delay');
  assert.equal(stopped.reason, 'handover');
  // The supervisor's SIGTERM reaches the app as a stop: it leaves, and serves on.
  process.kill(supervisor, 'SIGTERM');
  await app.waitFor((e) => e.event === 'leaving' && e.pid === second.pid);
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
  process.kill(supervisor, 'SIGTERM'); // forwarded: skips the delay
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
});

test('grace run --workers 2 --stop-delay: a rolling reload retires without the delay; a stop leaves on every worker', { timeout: 90_000 }, async (t) => {
  const node = process.execPath;
  const app = startFixture(t, { listen: [local] }, {}, {
    file: node,
    args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--workers', '2', '--stop-delay', String(FOREVER), '--', node, ...FIXTURE_ARGS],
  });
  const supervisor = app.proc.pid!;
  await app.ready();
  await waitUntil(() => app.events.filter((e) => e.event === 'ready').length === 2, 30_000, () => app.log);
  const first = app.events.filter((e) => e.event === 'ready');
  const port = portOf(first[0]!);
  process.kill(supervisor, 'SIGHUP');
  for (const old of first) await waitForExit(old.pid, 60_000).catch((err) => assert.fail(`${err.message}\n${app.log}`));
  const oldPids = first.map((e) => e.pid);
  // Their lines come through the supervisor: a 'leaving' would have come before their 'exit'.
  for (const pid of oldPids) await app.waitFor((e) => e.event === 'exit' && e.pid === pid);
  assert.ok(!app.events.some((e) => e.event === 'leaving' && oldPids.includes(e.pid)), 'reloads never wait out the stop delay');
  // The new workers' lines reach us through the supervisor (it names each worker's lines): they may come after an old one's exit.
  const newReady = () => app.events.filter((e) => e.event === 'ready' && !oldPids.includes(e.pid)).map((e) => e.pid);
  await waitUntil(() => newReady().length >= 2, 30_000, () => `both new workers' ready events\n${app.log}`);
  const serving = newReady();
  assert.equal(serving.length, 2);
  process.kill(supervisor, 'SIGTERM');
  for (const pid of serving) {
    const leaving = await app.waitFor((e) => e.event === 'leaving' && e.pid === pid);
    assert.equal(leaving.stopDelay, FOREVER, 'grace run passed --stop-delay as GRACE_STOP_DELAY');
  }
  assert.ok(serving.includes((await get({ port }, '/')).json.pid as number), 'still serving new connections while leaving');
  process.kill(supervisor, 'SIGTERM'); // forwarded: skips the delay
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, app.log);
});
