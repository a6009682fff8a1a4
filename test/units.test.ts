import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gracenet, GraceError } from '../src/index.ts';
import { decodeLocal } from '../src/sockets/address-in-use.ts';
import { defaultListenSpec, ONLY_INHERITED } from '../src/sockets/listen-spec.ts';
import { childListenEnv, readListenEnv } from '../src/platform/listen-env.ts';
import { nextGenerationCommand, stripInspectorFlags } from '../src/protocol/next-generation.ts';
import { deadline } from '../src/platform/deadline.ts';
import { cannotRun } from '../src/protocol/launcher.ts';

test('listen specs: ports, host:port, IPv6, unix paths and ListenOptions', () => {
  const name = (spec: gracenet.ListenSpec) => gracenet.parseListenSpec(spec).name;
  assert.equal(name(8080), 'tcp::8080');
  assert.equal(name('8080'), 'tcp::8080');
  assert.equal(name(':8080'), 'tcp::8080');
  assert.equal(name('0.0.0.0:8080'), 'tcp::8080', 'wildcard hosts are one request');
  assert.equal(name('[::]:8080'), 'tcp::8080');
  assert.equal(name('127.0.0.1:0'), 'tcp:127.0.0.1:0');
  assert.equal(name('[::1]:8080'), 'tcp:::1:8080');
  assert.equal(name({ port: 80, host: 'LocalHost' }), 'tcp:localhost:80');
  assert.equal(name('/run/app.sock'), 'unix:/run/app.sock');
  assert.equal(name({ path: '/run/app.sock' }), 'unix:/run/app.sock');
  assert.equal(name({ port: 80, host: 'app.internal' }), 'tcp:app.internal:80');
  assert.equal(name('localhost:8088'), 'tcp:localhost:8088');
  assert.equal(name('./app.sock'), `unix:${process.cwd()}/app.sock`, 'relative paths are resolved');
  assert.equal(name('run/app.sock'), `unix:${process.cwd()}/run/app.sock`);
  assert.equal(name({ path: 'app.sock' }), `unix:${process.cwd()}/app.sock`, 'an explicit { path } may be a bare name');
});

test('a listen string that is neither a port, host:port nor a path is refused, naming the accepted forms', { timeout: 5_000 }, () => {
  for (const bad of ['localhost', 'abc', '8090 ', ' 8090', 'undefined', 'app.sock', '::1:8080', 'local_host:80', '[localhost]:80', 'http://127.0.0.1:8090']) {
    assert.throws(
      () => gracenet.parseListenSpec(bad),
      (err: GraceError) => {
        assert.equal(err.code, 'ERR_GRACE_LISTEN_SPEC');
        assert.ok(err.message.startsWith(`invalid listen spec ${JSON.stringify(bad)}: `), err.message);
        return true;
      },
    );
  }
  assert.throws(
    () => gracenet.parseListenSpec('localhost'),
    {
      message:
        'invalid listen spec "localhost": expected a port ("8080" or ":8080"), "host:port" ("127.0.0.1:8080", "localhost:8080", "[::1]:8080") or a unix socket path (absolute, starting with ./, or containing /)',
    },
  );
  assert.throws(() => gracenet.parseListenSpec('http://127.0.0.1:8090'), /a URL is not a listen spec/);
});

test('invalid listen specs are refused with ERR_GRACE_LISTEN_SPEC naming the value', () => {
  for (const bad of [-1, 65536, 1.5, '', { port: 'http' }, { fd: 3 }, { path: '/x', port: 1 }] as unknown[]) {
    assert.throws(
      () => gracenet.parseListenSpec(bad as gracenet.ListenSpec),
      (err: GraceError) => err.code === 'ERR_GRACE_LISTEN_SPEC' && err.message.includes(JSON.stringify(bad)),
    );
  }
});

const self = { pid: 10, ppid: 42, isPipe: (fd: number) => fd === 5 };

test('LISTEN_FDS: absent, ours, someone else\'s, and names round-trip with colons', () => {
  assert.deepEqual(readListenEnv({}, self), { fds: [], generation: 1, starter: undefined, ignored: undefined });
  assert.deepEqual(readListenEnv({ LISTEN_FDS: '2', LISTEN_PID: '11' }, self).fds, []);
  const env = childListenEnv({ PATH: '/bin', LISTEN_PID: '5' }, ['tcp:::1:80', 'unix:/a%b.sock'], 2, { kind: 'parent', pid: 42 });
  assert.equal(env.LISTEN_PID, undefined);
  assert.equal(env.PATH, '/bin');
  assert.deepEqual(readListenEnv(env, self), {
    fds: [
      { fd: 3, name: 'tcp:::1:80' },
      { fd: 4, name: 'unix:/a%b.sock' },
    ],
    generation: 2,
    starter: { kind: 'parent', pid: 42, readyFd: 5 },
    ignored: undefined,
  });
  assert.deepEqual(readListenEnv({ LISTEN_FDS: '1', LISTEN_PID: '10' }, self).fds, [{ fd: 3, name: undefined }]);
});

test('grace variables are honoured only as a whole, with LISTEN_FDS, toward our real parent and a real pipe', () => {
  const read = (env: NodeJS.ProcessEnv) => readListenEnv(env, self);
  const whole = childListenEnv({}, ['tcp::80', 'tcp::81'], 3, { kind: 'supervisor', pid: 42 });
  assert.deepEqual(read(whole).starter, { kind: 'supervisor', pid: 42, readyFd: 5 });
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ GRACE_READY_FD: '5' }, /GRACE_READY_FD set without LISTEN_FDS/],
    [{ GRACE_PARENT_PID: '42' }, /GRACE_PARENT_PID set without LISTEN_FDS/],
    [{ ...whole, GRACE_SUPERVISOR_PID: '7' }, /GRACE_SUPERVISOR_PID=7 is not our parent \(our parent is pid 42\)/],
    [{ ...whole, GRACE_PARENT_PID: '42' }, /both GRACE_PARENT_PID and GRACE_SUPERVISOR_PID/],
    [{ ...whole, GRACE_READY_FD: '4' }, /GRACE_READY_FD=4 does not follow the inherited sockets \(expected 5\)/],
    [{ ...whole, GRACE_READY_FD: undefined }, /GRACE_READY_FD is not set/],
    [{ LISTEN_FDS: '2', GRACE_READY_FD: '5' }, /neither GRACE_PARENT_PID nor GRACE_SUPERVISOR_PID/],
  ];
  for (const [env, why] of cases) {
    const got = read(env);
    assert.equal(got.starter, undefined, JSON.stringify(env));
    assert.equal(got.generation, 1);
    assert.match(got.ignored ?? '', why);
  }
  assert.match(readListenEnv(whole, { ...self, isPipe: () => false }).ignored ?? '', /GRACE_READY_FD=5 is not a pipe/);
});

test('malformed protocol variables are refused with a code naming the value', () => {
  const code = (env: NodeJS.ProcessEnv) => {
    try {
      readListenEnv(env, self);
    } catch (err) {
      return [(err as GraceError).code, (err as GraceError).message];
    }
    return undefined;
  };
  assert.deepEqual(code({ LISTEN_FDS: 'two' })?.[0], 'ERR_GRACE_LISTEN_FDS');
  assert.match(code({ LISTEN_FDS: '5000' })![1]!, /LISTEN_FDS=5000 is too large/);
  assert.match(code({ LISTEN_FDS: '1', LISTEN_PID: 'me' })![1]!, /LISTEN_PID="me" is not a process id/);
  assert.match(code({ GRACE_PARENT_PID: '0' })![1]!, /GRACE_PARENT_PID="0"/);
  assert.equal(code({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b' })?.[0], 'ERR_GRACE_LISTEN_FDNAMES');
});

test('inspector flags are not passed to the next generation', () => {
  assert.deepEqual(
    stripInspectorFlags(['--inspect', '--import', 'tsx', '--inspect-brk=0.0.0.0:9229', '--inspect-port', '9230', '--max-old-space-size=64', '--inspect-wait']),
    ['--import', 'tsx', '--max-old-space-size=64'],
  );
});

test('the next generation runs the same node, flags and script', () => {
  const host = { execPath: '/usr/bin/node', execArgv: ['--inspect', '--import', 'tsx'], argv: ['/usr/bin/node', '/app/server.ts', '--port', '1'] };
  assert.deepEqual(nextGenerationCommand(host as never), {
    file: '/usr/bin/node',
    args: ['--import', 'tsx', '/app/server.ts', '--port', '1'],
  });
});

test('/proc/net/tcp local addresses decode in either byte order, IPv6 and IPv4-mapped included', { timeout: 5_000 }, () => {
  assert.deepEqual(decodeLocal('0100007F:1F90', true), { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(decodeLocal('7F000001:1F90', false), { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(decodeLocal('00000000:0050', true), { address: '0.0.0.0', port: 80 });
  assert.deepEqual(decodeLocal('00000000000000000000000001000000:1F90', true), { address: '::1', port: 8080 });
  assert.deepEqual(decodeLocal('00000000000000000000000000000000:1F90', true), { address: '::', port: 8080 });
  assert.deepEqual(decodeLocal('0000000000000000FFFF00000100007F:1F90', true), { address: '127.0.0.1', port: 8080 });
  assert.equal(decodeLocal('garbage', true), undefined);
});

test('serve(server) with no spec: the one inherited socket, else PORT, else an error saying to pass one', { timeout: 5_000 }, () => {
  assert.equal(defaultListenSpec(1, { PORT: '8080' }), ONLY_INHERITED, 'the inherited socket wins');
  assert.equal(defaultListenSpec(0, { PORT: '8080' }), 8080);
  assert.equal(defaultListenSpec(2, { PORT: '8080' }), 8080);
  const refused = (inherited: number, env: NodeJS.ProcessEnv, message: string) =>
    assert.throws(() => defaultListenSpec(inherited, env), { code: 'ERR_GRACE_LISTEN_SPEC', message });
  refused(0, {}, 'serve(server) was given no listen spec, and there is nothing to default to: no inherited socket (LISTEN_FDS) and no PORT in the environment; pass one, e.g. serve(server, { port: 8080 })');
  refused(0, { PORT: '' }, 'serve(server) was given no listen spec, and there is nothing to default to: no inherited socket (LISTEN_FDS) and no PORT in the environment; pass one, e.g. serve(server, { port: 8080 })');
  refused(2, {}, 'serve(server) was given no listen spec, and there is nothing to default to: 2 inherited sockets (one is adopted only when it is the only one) and no PORT in the environment; pass one, e.g. serve(server, { port: 8080 })');
  for (const port of ['http', '8080 ', '65536', '-1']) {
    refused(0, { PORT: port }, `serve(server) was given no listen spec, and PORT=${JSON.stringify(port)} in the environment is not a port (0 to 65535); pass one, e.g. serve(server, { port: 8080 })`);
  }
});

test('gracenet exports fd inheritance for your own servers, and none of grace\'s internals', { timeout: 5_000 }, () => {
  assert.deepEqual(Object.keys(gracenet).sort(), ['LISTEN_FDS_START', 'Net', 'parseListenSpec', 'processNet']);
});

test('deadline: the value when in time, the fallback when late, a rejection passed on, and no timer left behind', { timeout: 5_000 }, async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  assert.equal(await deadline(Promise.resolve('done'), 60_000, 'late'), 'done');
  assert.equal(timers(), before, 'the timer is cancelled once the promise settles');
  await assert.rejects(deadline(Promise.reject(new Error('broke')), 60_000, 'late'), /broke/);
  assert.equal(timers(), before);
  let release!: () => void;
  const hung = new Promise<void>((resolve) => (release = resolve));
  assert.equal(await deadline(hung, 10, 'late'), 'late');
  assert.equal(timers(), before);
  release();
});

test('a command that cannot start is said as a shell says it, the same in both modes: 127 not found, 126 not executable (EACCES or ENOEXEC)', { timeout: 5_000 }, () => {
  assert.deepEqual(cannotRun('ENOENT'), { status: 127, why: 'not found' });
  assert.deepEqual(cannotRun('EACCES'), { status: 126, why: 'not executable (permission denied)' });
  assert.deepEqual(cannotRun('ENOEXEC'), { status: 126, why: 'not executable (unknown binary format)' });
  assert.equal(cannotRun('EMFILE'), undefined, 'a spawn error a later try may get past');
  assert.equal(cannotRun(undefined), undefined);
});
