// gracehttp driven inside the test process, with signal handling off, for the
// behaviour that needs no second process.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gracehttp, gracenet, type GraceError, type Logger } from '../src/index.ts';
import { realProcess } from '../src/process-host.ts';

const quiet = { restartSignal: false, stopSignals: [], exit: false } as const;

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

test('a failing ready hook rejects with ERR_GRACE_READY and closes the server', { timeout: 10_000 }, async () => {
  const server = http.createServer();
  await assert.rejects(
    gracehttp.start(server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false, net: new gracenet.Net(), ready: () => Promise.reject(new Error('db down')) }),
    (err: GraceError) => err.code === 'ERR_GRACE_READY' && /the ready hook failed: db down/.test(err.message),
  );
  assert.equal(server.listening, false);
});

test('stop() is idempotent and resolves done; restart() after stop is refused', { timeout: 10_000 }, async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await gracehttp.start(server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger: false, net: new gracenet.Net() });
  const events: string[] = [];
  graceful.on('stopping', ({ reason }) => events.push(`stopping ${reason}`));
  graceful.on('stopped', ({ reason }) => events.push(`stopped ${reason}`));
  const first = graceful.stop();
  assert.equal(graceful.stop(), first);
  await first;
  await graceful.done;
  assert.deepEqual(events, ['stopping stop', 'stopped stop']);
  await assert.rejects(graceful.restart(), (err: GraceError) => err.code === 'ERR_GRACE_NOT_SERVING');
});

test('where sockets cannot be passed (win32) it serves and stops, says so once, and refuses restarts', { timeout: 10_000 }, async () => {
  const logger = recordingLogger();
  const host = { ...realProcess, platform: 'win32' as const };
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await gracehttp.start(server, { port: 0, host: '127.0.0.1' }, { ...quiet, logger, host, net: new gracenet.Net({ host }) });
  const { port } = graceful.addresses()[0] as AddressInfo;
  const body = await new Promise<string>((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, (res) => res.setEncoding('utf8').on('data', resolve)));
  assert.equal(body, 'ok');
  await assert.rejects(graceful.restart(), /hot restart is not available on win32/);
  await graceful.stop();
  assert.equal(logger.lines.filter((l) => l.includes('hot restart is not available on win32; serving with graceful stop only')).length, 1);
});

test('invalid options are refused with ERR_GRACE_OPTIONS naming the option', async () => {
  const server = http.createServer();
  await assert.rejects(
    gracehttp.start(server, 0, { ...quiet, shutdownTimeout: -1 }),
    (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS' && err.message.includes('shutdownTimeout'),
  );
  await assert.rejects(gracehttp.serve([], quiet), (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS');
});
