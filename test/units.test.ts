import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gracenet, GraceError } from '../src/index.ts';
import { childListenEnv, readListenEnv } from '../src/listen-env.ts';
import { nextGenerationCommand, stripInspectorFlags } from '../src/next-generation.ts';

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
  assert.match(name('app.sock'), /^unix:\/.*\/app\.sock$/, 'relative paths are resolved');
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

test('gracenet exports fd inheritance for your own servers, and none of grace\'s internals', { timeout: 5_000 }, () => {
  assert.deepEqual(Object.keys(gracenet).sort(), ['LISTEN_FDS_START', 'Net', 'parseListenSpec', 'processNet']);
});
