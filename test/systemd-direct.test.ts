import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fakeSystemdNotify, startFixture, tempDir, waitForExit, waitUntil } from './helpers.ts';

test('direct mode under systemd: each generation reports MAINPID and READY, the old one RELOADING', { timeout: 60_000 }, async (t) => {
  const notify = fakeSystemdNotify(t);
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, notify.env);
  const first = await app.ready();
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  await waitForExit(first.pid);
  await waitUntil(() => notify.calls().length >= 3);
  assert.deepEqual(notify.calls().sort(), [
    `--pid=${first.pid} MAINPID=${first.pid} READY=1`,
    `--pid=${first.pid} RELOADING=1`,
    `--pid=${second.pid} MAINPID=${second.pid} READY=1`,
  ].sort());
});

test('NOTIFY_SOCKET without systemd-notify on PATH is skipped with one log line', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, { NOTIFY_SOCKET: join(dir, 'notify.sock'), PATH: dir });
  const ready = await app.ready();
  await app.waitForLog('NOTIFY_SOCKET is set but systemd-notify is not on PATH');
  process.kill(ready.pid, 'SIGTERM');
  await waitForExit(ready.pid);
  assert.equal(app.log.split('systemd-notify is not on PATH').length - 1, 1);
});
