import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gracenet, GraceError } from '../src/index.ts';
import { childListenEnv } from '../src/listen-env.ts';

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

test('LISTEN_FDS: absent, ours, someone else\'s, and names round-trip with colons', () => {
  assert.deepEqual(gracenet.readListenEnv({}, 10), { fds: [], parentPid: undefined, generation: 1, readyFd: undefined, supervisorPid: undefined });
  assert.deepEqual(gracenet.readListenEnv({ LISTEN_FDS: '2', LISTEN_PID: '11' }, 10).fds, []);
  const env = childListenEnv({ PATH: '/bin', LISTEN_PID: '5' }, ['tcp:::1:80', 'unix:/a%b.sock'], { parentPid: 42, generation: 2 });
  assert.equal(env.LISTEN_PID, undefined);
  assert.equal(env.PATH, '/bin');
  const read = gracenet.readListenEnv(env, 10);
  assert.deepEqual(read, {
    fds: [
      { fd: 3, name: 'tcp:::1:80' },
      { fd: 4, name: 'unix:/a%b.sock' },
    ],
    parentPid: 42,
    generation: 2,
    readyFd: undefined,
    supervisorPid: undefined,
  });
  assert.deepEqual(gracenet.readListenEnv({ LISTEN_FDS: '1', LISTEN_PID: '10' }, 10).fds, [{ fd: 3, name: undefined }]);
});

test('malformed protocol variables are refused with a code naming the value', () => {
  const code = (env: NodeJS.ProcessEnv) => {
    try {
      gracenet.readListenEnv(env, 10);
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
    gracenet.stripInspectorFlags(['--inspect', '--import', 'tsx', '--inspect-brk=0.0.0.0:9229', '--inspect-port', '9230', '--max-old-space-size=64', '--inspect-wait']),
    ['--import', 'tsx', '--max-old-space-size=64'],
  );
});

test('the next generation runs the same node, flags and script', () => {
  const host = { execPath: '/usr/bin/node', execArgv: ['--inspect', '--import', 'tsx'], argv: ['/usr/bin/node', '/app/server.ts', '--port', '1'] };
  assert.deepEqual(gracenet.nextGenerationCommand(host as never), {
    file: '/usr/bin/node',
    args: ['--import', 'tsx', '/app/server.ts', '--port', '1'],
  });
});
