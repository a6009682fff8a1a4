import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertKilledUnreadyChild, get, isAlive, portOf, startFixture, tempDir, waitForExit, zombiesOf, type Fixture } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

function setup(t: TestContext, options: object = {}) {
  const control = join(tempDir(t), 'control.json');
  writeFileSync(control, '{}');
  const app = startFixture(t, { listen: [local], control, options });
  const setControl = (value: object) => writeFileSync(control, JSON.stringify(value));
  return { app, setControl };
}

/** After a failed restart: the old pid still serves, left no zombie, and a later USR2 works. */
async function assertRecovers(app: Fixture, oldPid: number, port: number, setControl: (v: object) => void) {
  assert.equal((await get({ port }, '/')).json.pid, oldPid, 'the old generation keeps serving');
  assert.equal(zombiesOf([oldPid]), 0, 'the failed child was reaped');
  setControl({});
  process.kill(oldPid, 'SIGUSR2');
  const next = await app.handedOver(oldPid);
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
  await waitForExit(oldPid);
}

test('a child that crashes at start is reported; the parent keeps serving and a later USR2 works', { timeout: 60_000 }, async (t) => {
  const { app, setControl } = setup(t);
  const first = await app.ready();
  setControl({ crash: true });
  process.kill(first.pid, 'SIGUSR2');
  const failed = await app.waitFor((e) => e.event === 'restart-failed');
  assert.equal(failed.code, 'ERR_GRACE_RESTART_FAILED');
  assert.match(failed.message as string, /exited with code 3 before it was ready/);
  assert.match(app.log, /restart failed: .*; still serving with pid/);
  await assertRecovers(app, first.pid, portOf(first), setControl);
});

test('a child that never becomes ready is killed after readyTimeout; the parent keeps serving and a later USR2 works', { timeout: 60_000 }, async (t) => {
  // Long enough for the next child, which must become ready, to start on a loaded machine.
  const { app, setControl } = setup(t, { readyTimeout: 6000 });
  const first = await app.ready();
  setControl({ hang: true });
  process.kill(first.pid, 'SIGUSR2');
  const spawned = await app.waitFor((e) => e.event === 'restart');
  const failed = await app.waitFor((e) => e.event === 'restart-failed');
  assert.match(failed.message as string, /was not ready within 6000 ms/);
  assert.equal(isAlive(spawned.child as number), false, 'the hung child was killed');
  await assertRecovers(app, first.pid, portOf(first), setControl);
});

test('a second USR2 during a restart is refused and only one new generation starts', { timeout: 60_000 }, async (t) => {
  const { app, setControl } = setup(t);
  const first = await app.ready();
  setControl({ readyDelay: 1500 });
  process.kill(first.pid, 'SIGUSR2');
  const spawned = await app.waitFor((e) => e.event === 'restart');
  process.kill(first.pid, 'SIGUSR2');
  const refused = await app.waitFor((e) => e.event === 'restart-refused');
  assert.equal(refused.code, 'ERR_GRACE_RESTART_IN_PROGRESS');
  assert.match(app.log, /restart refused: a restart is already in progress/);
  const second = await app.handedOver(first.pid);
  assert.equal(second.pid, spawned.child);
  await app.waitFor((e) => e.event === 'exit' && e.pid === first.pid); // its last line: every 'restart' it said is read
  assert.equal(app.events.filter((e) => e.event === 'restart').length, 1);
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} from an operator while a new generation is starting stops the old one and kills the unready child`, { timeout: 60_000 }, async (t) => {
    const { app, setControl } = setup(t);
    const first = await app.ready();
    setControl({ hang: true });
    process.kill(first.pid, 'SIGUSR2');
    const spawned = await app.waitFor((e) => e.event === 'restart');
    await app.waitForLog(`Starting pid ${spawned.child}`); // its ready hook hangs: not accepting
    process.kill(first.pid, signal);
    // Were it left alone, the child would stop by itself on its channel's end-of-file once the old one exits.
    await assertKilledUnreadyChild(app, spawned.child as number);
    assert.match(app.log, new RegExp(`Stopping pid ${first.pid} on ${signal}`));
  });
}

test('a new generation whose ready hook fails leaves the unix socket path the old one serves', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'app.sock');
  const control = join(dir, 'control.json');
  writeFileSync(control, JSON.stringify({ readyThrows: true }));
  const app = startFixture(t, { listen: [local, socketPath], control });
  const first = await app.ready();
  process.kill(first.pid, 'SIGUSR2');
  await app.waitFor((e) => e.event === 'restart-failed');
  assert.ok(existsSync(socketPath), 'the socket file is still there');
  assert.equal((await get({ socketPath }, '/')).json.pid, first.pid);
});
