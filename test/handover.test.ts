import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { get, isAlive, makeCertificate, portOf, startFixture, tempDir, waitForExit, zombiesOf } from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

test('a slow request started before USR2 completes from the old pid; new requests reach the new pid', { timeout: 60_000 }, async (t) => {
  const control = join(tempDir(t), 'control.json');
  const app = startFixture(t, { listen: [local], control });
  const first = await app.ready();
  const port = portOf(first);
  const slow = get({ port }, '/sleep?ms=1500&report');
  await app.waitFor((e) => e.event === 'request-start'); // in the old process's handler
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assert.equal(portOf(second), port, 'the new generation listens on the same port');
  const fresh = await get({ port }, '/');
  assert.equal(fresh.json.pid, second.pid);
  assert.equal((await slow).json.pid, first.pid, 'the in-flight request finishes in the old process');
  const [code] = await once(app.proc, 'exit');
  assert.equal(code, 0, 'the old process exits 0');
  // The new generation reaps a child of its own that fails (one that crashes at start).
  writeFileSync(control, JSON.stringify({ crash: true }));
  process.kill(second.pid, 'SIGUSR2');
  await app.waitFor((e) => e.event === 'restart-failed' && e.pid === second.pid);
  assert.equal(zombiesOf([second.pid]), 0, 'no unreaped child under the serving generation');
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
  assert.match(app.log, new RegExp(`Graceful handoff of 127\\.0\\.0\\.1:${port} with new pid ${second.pid} and old pid ${first.pid}`));
});

test('three restarts in a row each hand over to a new pid on the same port', { timeout: 90_000 }, async (t) => {
  const app = startFixture(t, { listen: [local] });
  let current = await app.ready();
  const port = portOf(current);
  const seen = new Set([current.pid]);
  for (let i = 0; i < 3; i++) {
    const old = current.pid;
    process.kill(old, 'SIGUSR2');
    current = await app.handedOver(old);
    seen.add(current.pid);
    assert.equal((await get({ port }, '/')).json.pid, current.pid);
    await waitForExit(old);
  }
  assert.equal(seen.size, 4);
  assert.ok(isAlive(current.pid));
});

test('a TCP and a unix socket server are handed over together; the unix path survives and port 0 keeps its port', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'app.sock');
  const app = startFixture(t, { listen: [local, socketPath] });
  const first = await app.ready();
  const port = portOf(first);
  assert.equal((first.addresses as unknown[])[1], socketPath);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  await waitForExit(first.pid);
  assert.equal(portOf(second), port);
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
  assert.equal((await get({ socketPath }, '/')).json.pid, second.pid, 'the unix socket still answers after the old process exited');
  // A final stop removes the socket file the generations shared.
  process.kill(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
  const { existsSync } = await import('node:fs');
  assert.equal(existsSync(socketPath), false, 'a final stop removes the socket file');
});

test('an https server is handed over', { timeout: 60_000 }, async (t) => {
  const tls = makeCertificate(tempDir(t));
  const app = startFixture(t, { kind: 'https', listen: [local], tls });
  const first = await app.ready();
  const port = portOf(first);
  const fetchPid = () =>
    new Promise<number>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body).pid));
        })
        .on('error', reject);
    });
  assert.equal(await fetchPid(), first.pid);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assert.equal(await fetchPid(), second.pid);
  await waitForExit(first.pid);
});

test('an http2 server is handed over; a session open across the restart is closed with GOAWAY after its stream', { timeout: 60_000 }, async (t) => {
  const tls = makeCertificate(tempDir(t));
  const app = startFixture(t, { kind: 'http2', listen: [local], tls });
  const first = await app.ready();
  const port = portOf(first);
  const h2get = (session: http2.ClientHttp2Session, path: string) =>
    new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':path': path });
      let body = '';
      stream.setEncoding('utf8').on('data', (c) => (body += c));
      stream.on('end', () => resolve(JSON.parse(body).pid)).on('error', reject);
    });
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const slow = h2get(session, '/sleep?ms=1000&report');
  await app.waitFor((e) => e.event === 'request-start');
  const goaway = once(session, 'goaway');
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assert.equal(await slow, first.pid, 'the in-flight stream completes in the old process');
  await goaway;
  const fresh = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => fresh.destroy());
  assert.equal(await h2get(fresh, '/'), second.pid);
  await waitForExit(first.pid);
});

test('a plain net server and a cleartext http2 server in one generation are handed over together', { timeout: 60_000 }, async (t) => {
  const app = startFixture(t, { kinds: ['h2c', 'net'], listen: [local, local] });
  const first = await app.ready();
  const [h2cPort, netPort] = [portOf(first, 0), portOf(first, 1)];
  const h2cPid = async () => {
    const session = http2.connect(`http://127.0.0.1:${h2cPort}`);
    try {
      const stream = session.request({ ':path': '/' });
      let body = '';
      stream.setEncoding('utf8').on('data', (c) => (body += c));
      await once(stream, 'end');
      return JSON.parse(body).pid as number;
    } finally {
      session.close();
    }
  };
  const netPid = async () => {
    const socket = net.connect(netPort, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8').on('data', (c) => (data += c));
    await once(socket, 'end');
    return Number(data.trim());
  };
  assert.deepEqual([await h2cPid(), await netPid()], [first.pid, first.pid]);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assert.deepEqual([portOf(second, 0), portOf(second, 1)], [h2cPort, netPort], 'each server kept its port');
  await waitForExit(first.pid);
  assert.deepEqual([await h2cPid(), await netPid()], [second.pid, second.pid], 'one restart handed both over');
});
