import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { GraceError } from '../src/index.ts';
import { holdSockets } from '../src/sockets/held-sockets.ts';
import { addressSatisfies, readRealAddress, unixPathByInode, type RealAddress } from '../src/sockets/inherited-address.ts';
import { parseListenSpec } from '../src/sockets/listen-spec.ts';
import { Net } from '../src/sockets/net.ts';
import { realProcess } from '../src/platform/process-host.ts';
import { CLI, FIXTURE_ARGS, get, killQuietly, nobodyCannotRunNode, tempDir } from './helpers.ts';

const HAS_PROC_NET_UNIX = existsSync('/proc/net/unix');
const HAS_PROC_NET_TCP = existsSync('/proc/net/tcp');
// Permission checks need a user the kernel checks: as root, run the app as nobody.
const AS_UNPRIVILEGED = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
const needsUnprivilegedNode = { skip: nobodyCannotRunNode() };

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a process and settles on whichever comes first: its exit, or `started`
 * (the sign it went on to serve, which is the failure these tests look for).
 */
function run(t: TestContext, args: string[], options: { env?: NodeJS.ProcessEnv; fds?: number[]; started: RegExp; uid?: number; gid?: number }) {
  const { env = {}, fds = [], started, ...ids } = options;
  const proc: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
    ...ids,
  });
  let stdout = '';
  let stderr = '';
  t.after(() => {
    // The supervisor's app prints its pid; kill it too, in case it outlived its parent.
    for (const match of stdout.matchAll(/app pid (\d+)/g)) killQuietly(Number(match[1]));
    killQuietly(proc.pid!);
    proc.stdout!.destroy();
    proc.stderr!.destroy();
  });
  return new Promise<Outcome>((resolve) => {
    const onData = () => {
      if (started.test(stdout) || started.test(stderr)) resolve({ code: null, stdout, stderr });
    };
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => ((stdout += c), onData()));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => ((stderr += c), onData()));
    proc.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The fixture app serving `listen`, with `fds` as its fds 3.. and the LISTEN_* of our choosing. */
function runFixture(t: TestContext, listen: unknown[], env: NodeJS.ProcessEnv, fds: number[] = [], ids: { uid?: number; gid?: number } = {}) {
  return run(t, FIXTURE_ARGS, { env: { GRACE_FIXTURE: JSON.stringify({ listen }), ...env }, fds, started: /"event":"ready"/, ...ids });
}

async function listening(t: TestContext, ...args: [number, string] | [string]): Promise<net.Server> {
  const server = net.createServer((socket) => socket.end('other service\n'));
  await new Promise<void>((resolve) => server.listen(...(args as [string]), resolve));
  t.after(() => server.close());
  return server;
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
const fdOf = (server: net.Server) => (server as unknown as { _handle: { fd: number } })._handle.fd;

// --- Case 7: inherited sockets are matched on their real address -----------

test('an inherited socket labelled 127.0.0.1:A but bound to 0.0.0.0:B is refused with ERR_GRACE_INHERITED_FD saying what it is', { timeout: 30_000 }, async (t) => {
  const real = await listening(t, 0, '0.0.0.0');
  const labelled = await listening(t, 0, '127.0.0.1'); // only to have a port A that is not B
  const [a, b] = [portOf(labelled), portOf(real)];
  const outcome = await runFixture(t, [`127.0.0.1:${a}`], { LISTEN_FDS: '1', LISTEN_FDNAMES: `tcp%3A127.0.0.1%3A${a}` }, [fdOf(real)]);
  assert.notEqual(outcome.code, null, `the app served on the wrong socket:\n${outcome.stdout}`);
  assert.notEqual(outcome.code, 0);
  assert.match(outcome.stderr, /ERR_GRACE_INHERITED_FD/);
  assert.ok(
    outcome.stderr.includes(`inherited fd 3 (tcp:127.0.0.1:${a}) is a TCP socket bound to 0.0.0.0:${b}, but the app asked for 127.0.0.1:${a}`),
    outcome.stderr,
  );
});

test('an unnamed inherited 0.0.0.0:P does not satisfy a request for 127.0.0.1:P', { timeout: 30_000 }, async (t) => {
  const real = await listening(t, 0, '0.0.0.0');
  const p = portOf(real);
  const outcome = await runFixture(t, [`127.0.0.1:${p}`], { LISTEN_FDS: '1' }, [fdOf(real)]);
  assert.notEqual(outcome.code, null, `the app served on the wrong socket:\n${outcome.stdout}`);
  assert.match(outcome.stderr, /ERR_GRACE_INHERITED_FD/);
  assert.ok(outcome.stderr.includes(`inherited fd 3 (unnamed) is a TCP socket bound to 0.0.0.0:${p}, but the app asked for 127.0.0.1:${p}`), outcome.stderr);
});

test('a socket labelled with another service\'s unix path is refused, and that service\'s socket file is left alone', { skip: !HAS_PROC_NET_UNIX && 'needs /proc/net/unix', timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const otherPath = join(dir, 'other.sock');
  const realPath = join(dir, 'real.sock');
  await listening(t, otherPath);
  const real = await listening(t, realPath);
  const before = lstatSync(otherPath).ino;
  const outcome = await runFixture(t, [otherPath], { LISTEN_FDS: '1', LISTEN_FDNAMES: `unix%3A${otherPath}` }, [fdOf(real)]);
  assert.ok(existsSync(otherPath) && lstatSync(otherPath).ino === before, 'the other service\'s socket file is still in place');
  assert.notEqual(outcome.code, null, 'the app served on the wrong socket');
  assert.match(outcome.stderr, /ERR_GRACE_INHERITED_FD/);
  assert.ok(
    outcome.stderr.includes(`inherited fd 3 (unix:${otherPath}) is a unix socket bound to ${realPath}, but the app asked for ${otherPath}`),
    outcome.stderr,
  );
});

test('inherited TCP sockets: the real host and port must satisfy the request', () => {
  const tcp = (address: string, port: number): RealAddress => ({ kind: 'tcp', address, port });
  const cases: Array<[string, RealAddress, boolean]> = [
    ['127.0.0.1:80', tcp('127.0.0.1', 80), true],
    ['127.0.0.1:80', tcp('0.0.0.0', 80), false],
    ['127.0.0.1:80', tcp('127.0.0.1', 81), false],
    ['127.0.0.1:0', tcp('127.0.0.1', 43210), true],
    ['127.0.0.1:0', tcp('127.0.0.2', 43210), false],
    [':80', tcp('0.0.0.0', 80), true],
    [':80', tcp('::', 80), true],
    ['0.0.0.0:80', tcp('::', 80), true],
    [':80', tcp('127.0.0.1', 80), false],
    ['[::1]:80', tcp('::1', 80), true],
    ['[0:0:0:0:0:0:0:1]:80', tcp('::1', 80), true],
    ['[::1]:80', tcp('127.0.0.1', 80), false],
    ['127.0.0.1:80', tcp('::ffff:127.0.0.1', 80), true],
    ['localhost:80', tcp('127.0.0.1', 80), true],
    ['localhost:80', tcp('::1', 80), true],
    ['localhost:80', tcp('0.0.0.0', 80), false],
    ['localhost:80', tcp('10.0.0.1', 80), false],
    // Other names are not resolved: any specific address, never a wildcard.
    ['app.internal:80', tcp('10.0.0.1', 80), true],
    ['app.internal:80', tcp('0.0.0.0', 80), false],
    ['127.0.0.1:80', { kind: 'unix', path: '/run/app.sock' }, false],
    ['127.0.0.1:80', { kind: 'unix-unknown' }, false],
  ];
  for (const [spec, real, expected] of cases) {
    assert.equal(addressSatisfies(parseListenSpec(spec), real), expected, `${spec} by ${JSON.stringify(real)}`);
  }
});

test('inherited unix sockets: the path itself, grace\'s temporary name beside it, or the same abstract name', () => {
  const unix = (path: string | undefined): RealAddress => ({ kind: 'unix', path });
  const cases: Array<[string, RealAddress, boolean]> = [
    ['/run/app.sock', unix('/run/app.sock'), true],
    ['/run/app.sock', unix('/run/.grace-0123456789ab'), true],
    ['/run/app.sock', unix('/run/other.sock'), false],
    ['/run/app.sock', unix('/srv/.grace-0123456789ab'), false],
    ['/run/app.sock', unix('/run/.grace-not-hex'), false],
    ['/run/app.sock', unix(undefined), false],
    ['/run/app.sock', unix('@app'), false],
    ['\0app', unix('@app'), true],
    ['\0app', unix(`@app${'@'.repeat(100)}`), true],
    ['\0app', unix('@other'), false],
    ['\0app', unix('/run/app.sock'), false],
    ['/run/app.sock', { kind: 'tcp', address: '0.0.0.0', port: 80 }, false],
    // Not Linux: the path cannot be read, only the kind.
    ['/run/app.sock', { kind: 'unix-unknown' }, true],
  ];
  for (const [spec, real, expected] of cases) {
    assert.equal(addressSatisfies(parseListenSpec(spec), real), expected, `${JSON.stringify(spec)} by ${JSON.stringify(real)}`);
  }
});

test('/proc/net/unix rows are found by inode, with unnamed sockets and paths holding spaces', () => {
  const table = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 11 /run/a b.sock',
    '0000000000000000: 00000003 00000000 00000000 0001 03 22',
    '0000000000000000: 00000002 00000000 00010000 0001 01 333 @abstract',
  ].join('\n');
  assert.equal(unixPathByInode(table, 11), '/run/a b.sock');
  assert.equal(unixPathByInode(table, 22), undefined);
  assert.equal(unixPathByInode(table, 333), '@abstract');
  assert.equal(unixPathByInode(table, 1), null);
});

test('a listening unix socket\'s real path is read from the kernel', { skip: !HAS_PROC_NET_UNIX && 'needs /proc/net/unix', timeout: 10_000 }, async (t) => {
  const path = join(tempDir(t), 'app.sock');
  const server = await listening(t, path);
  assert.deepEqual(readRealAddress(server, fdOf(server)), { kind: 'unix', path });
});

// --- Case 8: unix socket paths ----------------------------------------------

test('a unix socket path over 107 bytes is refused with ERR_GRACE_LISTEN_SPEC before anything is bound; 107 bytes works', { timeout: 10_000 }, async (t) => {
  const dir = tempDir(t);
  const atLength = (bytes: number) => join(dir, 's'.repeat(bytes - dir.length - 1));
  const tooLong = atLength(108);
  const refused = (err: GraceError) => err.code === 'ERR_GRACE_LISTEN_SPEC' && err.message.includes(`unix socket path ${tooLong} is 108 bytes long`);
  const refusedServer = net.createServer();
  t.after(() => refusedServer.close());
  await assert.rejects(new Net({ host: { ...realProcess, env: {} } }).listen(refusedServer, tooLong), refused);
  const held = holdSockets([tooLong], { ...realProcess, env: {} });
  t.after(async () => (await held.catch(() => undefined))?.close());
  await assert.rejects(held, refused);
  assert.deepEqual(readdirSync(dir), [], 'no socket file was left behind');

  const longest = atLength(107);
  const server = net.createServer((socket) => socket.end());
  t.after(() => server.close());
  await new Net({ host: { ...realProcess, env: {} } }).listen(server, longest);
  const client = net.connect(longest);
  await once(client, 'connect');
  client.destroy();
});

test('a unix socket in a directory the app cannot write fails with EACCES naming the configured path', { timeout: 30_000, ...needsUnprivilegedNode }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o555);
  const path = join(dir, 'app.sock');
  const outcome = await runFixture(t, [path], {}, [], AS_UNPRIVILEGED);
  assert.notEqual(outcome.code, null, 'the app served');
  assert.notEqual(outcome.code, 0);
  assert.ok(outcome.stderr.includes(`listen EACCES: permission denied ${path}: grace binds it under a temporary name in ${dir}`), outcome.stderr);
});

test('a socket file whose probe fails with EACCES is not taken for stale: the app fails and the file is left alone', { timeout: 30_000, ...needsUnprivilegedNode }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o777); // so nothing but the probe stops a rename over the file
  const path = join(dir, 'app.sock');
  await listening(t, path);
  chmodSync(path, 0o000);
  const before = lstatSync(path).ino;
  const outcome = await runFixture(t, [path], {}, [], AS_UNPRIVILEGED);
  assert.equal(lstatSync(path).ino, before, 'the live socket file is still in place');
  assert.notEqual(outcome.code, null, 'the app replaced a live socket file');
  assert.ok(outcome.stderr.includes(`unix socket ${path} exists and grace cannot tell whether a server is using it (connect EACCES)`), outcome.stderr);
});

test('a socket file nobody listens on (ECONNREFUSED) is left over from a crash and replaced', { timeout: 30_000 }, async (t) => {
  const path = join(tempDir(t), 'app.sock');
  const crashed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await once(crashed, 'exit');
  assert.ok(lstatSync(path).isSocket(), 'the crashed server left its socket file');
  const outcome = await runFixture(t, [path], {});
  assert.equal(outcome.code, null, outcome.stderr);
  const pid = Number(/"pid":(\d+)/.exec(outcome.stdout)![1]);
  assert.equal((await get({ socketPath: path }, '/')).json.pid, pid);
});

// --- Case 5: grace run with a port already taken ----------------------------

test('grace run --listen on a taken port exits 1 with ERR_GRACE_ADDRESS_IN_USE naming the address and its holder, and starts no app', { timeout: 60_000 }, async (t) => {
  const taken = await listening(t, 0, '127.0.0.1');
  const p = portOf(taken);
  const app = ['-e', 'console.log("app pid " + process.pid); setTimeout(() => {}, 30_000)'];
  const holder = HAS_PROC_NET_TCP ? ` by pid ${process.pid} (` : '';
  for (const [spec, shown] of [[`127.0.0.1:${p}`, `127.0.0.1:${p}`], [`:${p}`, `:${p}`]] as const) {
    const outcome = await run(t, ['--import', 'tsx', CLI, 'run', '--listen', spec, '--', process.execPath, ...app], { started: /app pid \d+\n/ });
    assert.notEqual(outcome.code, null, `grace run started with ${spec} taken:\n${outcome.stderr}`);
    assert.equal(outcome.code, 1, outcome.stderr);
    assert.ok(outcome.stderr.includes(`grace: listen EADDRINUSE: ${shown} is already in use${holder}`), outcome.stderr);
    assert.doesNotMatch(outcome.stdout, /app pid/);
  }
});

// --- An address in use names who holds it -----------------------------------

/** A plain node server in another process, listening on `where` (a port on 127.0.0.1, or a path). */
async function otherProcessListening(t: TestContext, where: 0 | string): Promise<{ pid: number; port: number }> {
  const target = where === 0 ? `0, '127.0.0.1'` : JSON.stringify(where);
  const proc = spawn(process.execPath, ['-e', `const s = require('net').createServer().listen(${target}, () => console.log(JSON.stringify(s.address())))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => killQuietly(proc.pid!));
  const [line] = (await once(proc.stdout!.setEncoding('utf8'), 'data')) as [string];
  return { pid: proc.pid!, port: (JSON.parse(line) as { port?: number }).port ?? 0 };
}

const inUse = (message: string) => (err: GraceError & { cause?: { code?: string } }) => {
  assert.equal(err.code, 'ERR_GRACE_ADDRESS_IN_USE');
  assert.equal(err.message, message);
  return true;
};

test('serve on a TCP port another process listens on: ERR_GRACE_ADDRESS_IN_USE naming the port, the pid and the pid file that names it', { timeout: 30_000 }, async (t) => {
  const other = await otherProcessListening(t, 0);
  const pidFile = join(tempDir(t), 'app.pid');
  writeFileSync(pidFile, `${other.pid}\n`);
  const server = net.createServer();
  t.after(() => server.close());
  const holder = HAS_PROC_NET_TCP ? ` by pid ${other.pid} (node, named by the pid file ${pidFile})` : '';
  await assert.rejects(
    new Net({ host: { ...realProcess, env: {} } }).listen(server, `127.0.0.1:${other.port}`, { pidFile }),
    inUse(`listen EADDRINUSE: 127.0.0.1:${other.port} is already in use${holder}`),
  );
  await assert.rejects(new Net({ host: { ...realProcess, env: {} } }).listen(server, { port: other.port }), (err: GraceError & { cause: { code: string } }) => {
    assert.equal(err.cause.code, 'EADDRINUSE', 'the cause is node\'s own error');
    assert.ok(err.message.startsWith(`listen EADDRINUSE: :${other.port} is already in use`), err.message);
    return true;
  });
  assert.equal(server.listening, false);
});

test('serve on a unix path a live server holds: ERR_GRACE_ADDRESS_IN_USE with its pid, for a plain server and for a grace one', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const plainPath = join(dir, 'plain.sock');
  const plain = await otherProcessListening(t, plainPath);
  const server = net.createServer();
  t.after(() => server.close());
  const holder = (pid: number) => (HAS_PROC_NET_UNIX ? ` by pid ${pid} (node)` : '');
  await assert.rejects(
    new Net({ host: { ...realProcess, env: {} } }).listen(server, plainPath),
    inUse(`listen EADDRINUSE: ${plainPath} is already in use${holder(plain.pid)}`),
  );

  // grace binds under a temporary name and renames it into place.
  const gracePath = join(dir, 'grace.sock');
  const first = await runFixture(t, [gracePath], {});
  assert.equal(first.code, null, first.stderr);
  const firstPid = Number(/"pid":(\d+)/.exec(first.stdout)![1]);
  const second = await runFixture(t, [gracePath], {});
  assert.notEqual(second.code, null, 'a second app served on the same path');
  assert.match(second.stderr, /ERR_GRACE_ADDRESS_IN_USE/);
  assert.ok(second.stderr.includes(`listen EADDRINUSE: ${gracePath} is already in use${holder(firstPid)}`), second.stderr);
  assert.equal((await get({ socketPath: gracePath }, '/')).json.pid, firstPid, 'the first app still serves');
});

test('a file that is not a socket at the path is ERR_GRACE_ADDRESS_IN_USE, and is left alone', { timeout: 10_000 }, async (t) => {
  const path = join(tempDir(t), 'app.sock');
  writeFileSync(path, 'data');
  const server = net.createServer();
  t.after(() => server.close());
  await assert.rejects(new Net({ host: { ...realProcess, env: {} } }).listen(server, path), inUse(`listen EADDRINUSE: ${path} exists and is not a socket`));
  assert.equal(readFileSync(path, 'utf8'), 'data');
});

// --- Listen specs, the same for grace run as for serve() ---------------------

test('grace run refuses a --listen given twice, or a bare word, before binding anything', { timeout: 60_000 }, async (t) => {
  const app = ['-e', 'console.log("app pid " + process.pid); setTimeout(() => {}, 30_000)'];
  const port = portOf(await listening(t, 0, '127.0.0.1'));
  const cases: Array<[string[], string]> = [
    [['--listen', ':9', '--listen', '0.0.0.0:9'], 'grace: --listen :9 is given twice (":9" and "0.0.0.0:9"): give each socket once\n'],
    [['--listen', `127.0.0.1:${port}`, '--listen', `127.0.0.1:${port}`], `grace: --listen 127.0.0.1:${port} is given twice: give each socket once\n`],
    [['--listen', 'localhost'], 'grace: --listen: invalid listen spec "localhost": expected a port ("8080" or ":8080"), "host:port"'],
  ];
  for (const [flags, message] of cases) {
    const outcome = await run(t, ['--import', 'tsx', CLI, 'run', ...flags, '--', process.execPath, ...app], { started: /app pid \d+\n/ });
    // A usage error: exit 2, the usage after the message.
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.match(outcome.stderr, /\n\nusage:\n {2}grace run /);
    assert.ok(outcome.stderr.includes(message), outcome.stderr);
    assert.doesNotMatch(outcome.stdout, /app pid/);
  }
});

// --- serve(server) with no listen spec ----------------------------------------

test('serve(server) with no spec adopts the one inherited socket, whatever its address, and serves on it', { timeout: 30_000 }, async (t) => {
  const systemd = await listening(t, 0, '127.0.0.1');
  const port = portOf(systemd);
  const outcome = await run(t, FIXTURE_ARGS, { env: { GRACE_FIXTURE: JSON.stringify({}), LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' }, fds: [fdOf(systemd)], started: /"event":"ready"/ });
  assert.equal(outcome.code, null, outcome.stderr);
  systemd.close(); // ours would compete for connections
  const ready = JSON.parse(outcome.stdout.split('\n').find((l) => l.includes('"event":"ready"'))!) as { pid: number; addresses: Array<{ port: number }> };
  assert.equal(ready.addresses[0]!.port, port);
  assert.equal((await get({ port }, '/')).json.pid, ready.pid);
});
