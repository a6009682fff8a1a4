import assert from 'node:assert/strict';
import { spawn, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FIXTURE, FIXTURE_ARGS, Fixture, get, killQuietly, portOf, startFixture, tempDir } from './helpers.ts';

/** Runs the fixture as a test acting as its parent would: env and fds of our choosing. */
function runFixture(t: TestContext, env: NodeJS.ProcessEnv, extraFds: number[] = [], listen: unknown[] = [{ port: 0, host: '127.0.0.1' }]) {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...extraFds];
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, GRACE_FIXTURE: JSON.stringify({ listen }), ...env },
    stdio,
  });
  t.after(() => killQuietly(proc.pid!));
  let stderr = '';
  let stdout = '';
  proc.stderr!.setEncoding('utf8').on('data', (c) => (stderr += c));
  proc.stdout!.setEncoding('utf8').on('data', (c) => (stdout += c));
  // 'close': exited, and its output read to the end.
  const exited = once(proc, 'close').then(([code]) => ({ code: code as number, stderr, stdout }));
  return { proc, exited, output: () => ({ stderr, stdout }) };
}

test('a malformed LISTEN_FDS is refused with ERR_GRACE_LISTEN_FDS naming the value', { timeout: 30_000 }, async (t) => {
  for (const bad of ['abc', '-1', '1.5', ' 2', '99999']) {
    const { exited } = runFixture(t, { LISTEN_FDS: bad });
    const { code, stderr } = await exited;
    assert.notEqual(code, 0);
    assert.match(stderr, /ERR_GRACE_LISTEN_FDS/);
    assert.ok(stderr.includes(`LISTEN_FDS=${JSON.stringify(bad)}`) || stderr.includes(`LISTEN_FDS=${bad}`), stderr);
  }
});

test('LISTEN_FDNAMES that disagrees with LISTEN_FDS is refused', { timeout: 30_000 }, async (t) => {
  const { exited } = runFixture(t, { LISTEN_FDS: '0', LISTEN_FDNAMES: 'a:b' });
  const { code, stderr } = await exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /ERR_GRACE_LISTEN_FDNAMES/);
  assert.match(stderr, /names 2 sockets but LISTEN_FDS=0/);
});

test('an inherited fd that is not a socket is refused with ERR_GRACE_INHERITED_FD naming the fd', { timeout: 30_000 }, async (t) => {
  const file = join(tempDir(t), 'not-a-socket');
  writeFileSync(file, 'x');
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  const { exited } = runFixture(t, { LISTEN_FDS: '1' }, [fd]);
  const { code, stderr } = await exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /ERR_GRACE_INHERITED_FD/);
  assert.match(stderr, /inherited fd 3 is a regular file \(.*not-a-socket\), not a listening socket/);
});

test('LISTEN_FDS counting more fds than were passed is refused, naming the first fd that is no socket', { timeout: 30_000 }, async (t) => {
  // Without real sockets at 3.., those fds are closed or node's own (epoll, eventfd).
  const { exited } = runFixture(t, { LISTEN_FDS: '2' });
  const { code, stderr } = await exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /ERR_GRACE_INHERITED_FD/);
  assert.match(stderr, /inherited fd 3 (is not open \(EBADF\)|is .*, not a listening socket)/);
});

test('LISTEN_* meant for another pid are ignored (a fresh socket is bound) and removed from process.env', { timeout: 30_000 }, async (t) => {
  const fixture = new Fixture({ listen: [{ port: 0, host: '127.0.0.1' }] }, { LISTEN_FDS: '1', LISTEN_PID: '1', LISTEN_FDNAMES: 'x' });
  t.after(() => killQuietly(fixture.proc.pid!));
  const ready = await fixture.ready();
  assert.deepEqual(ready.listenEnv, {});
  assert.equal((await get({ port: portOf(ready) }, '/')).json.pid, ready.pid);
});

test('a socket passed as fd 3 with its grace name is adopted, LISTEN_* are cleared, and an unclaimed fd is closed', { timeout: 30_000 }, async (t) => {
  const inherited = net.createServer();
  const spare = net.createServer();
  await new Promise<void>((r) => inherited.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
  t.after(() => {
    inherited.close();
    spare.close();
  });
  const port = (inherited.address() as net.AddressInfo).port;
  const fds = [inherited, spare].map((s) => (s as unknown as { _handle: { fd: number } })._handle.fd);
  const { proc, output } = runFixture(t, { LISTEN_FDS: '2', LISTEN_FDNAMES: 'tcp%3A127.0.0.1%3A0:tcp%3A127.0.0.1%3A1' }, fds);
  const deadline = Date.now() + 15_000;
  while (!output().stdout.includes('"ready"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const ready = JSON.parse(output().stdout.split('\n')[0]!);
  assert.equal(portOf(ready), port, 'the inherited socket was adopted, not a fresh port');
  assert.deepEqual(ready.listenEnv, {});
  assert.match(output().stderr, /closed inherited fd 4 \(tcp:127\.0\.0\.1:1\): nothing listens on it/);
  // Our copy of the socket stops accepting, so only the fixture answers.
  inherited.close();
  assert.equal((await get({ port }, '/')).json.pid, proc.pid);
});

test('GRACE_READY_FD without LISTEN_FDS is ignored with one warning: grace never writes to or closes that fd', { timeout: 30_000 }, async (t) => {
  // Without the rest of the protocol, fd 5 is one of node's own (epoll, eventfd…).
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, { GRACE_READY_FD: '5' });
  const ready = await app.ready();
  assert.equal((await get({ port: portOf(ready) }, '/')).json.pid, ready.pid);
  process.kill(ready.pid, 'SIGTERM');
  assert.deepEqual(await app.closed(), { code: 0, signal: null }, 'a graceful stop, not an abort');
  assert.equal(app.log.match(/ignoring GRACE_READY_FD set without LISTEN_FDS/g)?.length, 1, app.log);
});

test('GRACE_PARENT_PID without LISTEN_FDS does not make a first generation SIGTERM its real parent', { timeout: 30_000 }, async (t) => {
  // A parent that counts the SIGTERMs it gets, and says how many on SIGUSR1.
  const parentScript = `
    const { spawn } = require('node:child_process');
    let terms = 0;
    process.on('SIGTERM', () => terms++);
    process.on('SIGUSR1', () => console.log(JSON.stringify({ event: 'parent', pid: process.pid, terms })));
    const child = spawn(process.execPath, ${JSON.stringify(FIXTURE_ARGS)}, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GRACE_PARENT_PID: String(process.pid) },
    });
    process.on('SIGUSR2', () => child.kill('SIGTERM'));
    child.on('exit', () => process.exit(0));`;
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, {}, { file: process.execPath, args: ['-e', parentScript] });
  const ready = await app.ready();
  // The fixture reports ready after grace would have signalled; the parent's
  // SIGTERM, had it come, was delivered before this SIGUSR1 was sent.
  process.kill(app.proc.pid!, 'SIGUSR1');
  const parent = await app.waitFor((e) => e.event === 'parent');
  assert.equal(parent.terms, 0, 'the parent was not signalled');
  assert.match(app.log, /ignoring GRACE_PARENT_PID set without LISTEN_FDS/);
  assert.equal((await get({ port: portOf(ready) }, '/')).json.pid, ready.pid);
});

test('a process whose starter died before it was ready refuses its sockets (ERR_GRACE_STARTER_GONE) instead of serving them as an orphan', { timeout: 30_000 }, async (t) => {
  const inherited = net.createServer();
  await new Promise<void>((r) => inherited.listen(0, '127.0.0.1', r));
  t.after(() => inherited.close());
  const fd = (inherited as unknown as { _handle: { fd: number } })._handle.fd;
  // A supervisor that existed and is gone: a process of ours that has exited and been reaped.
  const gone = spawn(process.execPath, ['-e', '0']);
  await once(gone, 'exit');
  const { exited } = runFixture(t, { LISTEN_FDS: '1', GRACE_SUPERVISOR_PID: String(gone.pid), GRACE_READY_FD: '4' }, [fd]);
  const { code, stderr, stdout } = await exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /ERR_GRACE_STARTER_GONE/);
  assert.match(stderr, new RegExp(`the supervisor \\(GRACE_SUPERVISOR_PID=${gone.pid}\\) that started this process is gone`));
  assert.ok(!stdout.includes('"ready"'), 'it never served');
});
