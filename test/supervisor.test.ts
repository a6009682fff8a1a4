import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad, Samples } from '../bench/load.ts';
import { CLI, fakeSystemdNotify, FIXTURE_ARGS, get, isAlive, portOf, startFixture, tempDir, waitForExit, waitUntil } from './helpers.ts';

const node = process.execPath;

/** `grace run` with the fixture app as its command; events from every app generation. */
function supervise(t: TestContext, runArgs: string[], config: object, env: NodeJS.ProcessEnv = {}) {
  return startFixture(t, config, env, { file: node, args: ['--import', 'tsx', CLI, 'run', ...runArgs, '--', node, ...FIXTURE_ARGS] });
}

test('supervisor mode: the pid stays the same across 3 reloads under load, with zero failed requests', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  const app = supervise(t, ['--listen', '127.0.0.1:0', '--pid-file', pidFile], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const supervisor = app.proc.pid!;
  const first = await app.ready();
  assert.notEqual(first.pid, supervisor);
  const port = portOf(first);
  await waitUntil(() => readPidFileFirstLine(pidFile) === String(supervisor));
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const live = new Samples();
  const load = runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive: true, signal: stop.signal, samples: live });
  // The pid file as a deploy script would read it at any moment: sampled all through the reloads.
  const named = new Set<string | undefined>();
  const states = new Set<string>();
  const sample = () => {
    const text = readPidFileText(pidFile);
    named.add(text?.split('\n')[0]);
    if (text) states.add(JSON.parse(text.split('\n')[1]!.slice('grace '.length)).state);
  };
  const sampler = setInterval(sample, 5);
  t.after(() => clearInterval(sampler));
  const pids = [first.pid];
  for (let i = 0; i < 3; i++) {
    const serving = pids.at(-1)!;
    await waitUntil(() => live.pid.includes(serving), 15_000, () => `the load to reach pid ${serving}`);
    process.kill(supervisor, i % 2 ? 'SIGHUP' : 'SIGUSR2');
    const next = await app.waitFor((e) => e.event === 'ready' && !pids.includes(e.pid));
    await waitForExit(pids.at(-1)!);
    pids.push(next.pid);
  }
  await waitUntil(() => live.pid.includes(pids.at(-1)!), 15_000, () => `the load to reach pid ${pids.at(-1)}`);
  stop.abort();
  const samples = await load;
  assert.equal(samples.failures(), 0, JSON.stringify(Object.fromEntries(samples.errors)));
  assert.equal(new Set(samples.pid.filter(Boolean)).size, 4);
  assert.ok(isAlive(supervisor));
  clearInterval(sampler);
  sample();
  assert.ok(states.has('restarting'), `the sampling saw a reload under way: ${[...states]}`);
  assert.deepEqual([...named], [String(supervisor)], 'the pid file names the supervisor throughout');
});

test('supervisor mode: a crashed app is restarted and the sockets wait for it', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0'], { listen: [{ port: 0, host: '127.0.0.1' }] });
  const first = await app.ready();
  const port = portOf(first);
  process.kill(first.pid, 'SIGKILL');
  const inFlight = get({ port }, '/'); // queued in the accept backlog until the new app accepts it
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.equal((await inFlight).json.pid, second.pid);
  await app.waitForLog(/app pid \d+ exited with SIGKILL while serving/);
  assert.ok(isAlive(app.proc.pid!));
});

test('supervisor mode: SIGTERM drains the app and the supervisor exits with the app\'s status', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0'], { listen: [{ port: 0, host: '127.0.0.1' }], exitCodeOnStop: 7 });
  const ready = await app.ready();
  const slow = get({ port: portOf(ready) }, '/sleep?ms=800&report');
  await app.waitFor((e) => e.event === 'request-start');
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal((await slow).json.pid, ready.pid, 'the in-flight request finished');
  assert.deepEqual(await app.closed(), { code: 7, signal: null }, app.log);
  assert.equal(isAlive(ready.pid), false);
});

test('supervisor mode with sockets from a test acting as systemd (LISTEN_PID = the supervisor), and sd_notify', { timeout: 60_000 }, async (t) => {
  const notify = fakeSystemdNotify(t);
  const systemdSocket = net.createServer();
  await new Promise<void>((r) => systemdSocket.listen(0, '127.0.0.1', r));
  const port = (systemdSocket.address() as net.AddressInfo).port;
  const fd = (systemdSocket as unknown as { _handle: { fd: number } })._handle.fd;
  const command = `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http exec '${node}' --import tsx '${CLI}' run -- '${node}' ${FIXTURE_ARGS.map((a) => `'${a}'`).join(' ')}`;
  const app = startFixture(
    t,
    { listen: [{ port, host: '127.0.0.1' }] },
    notify.env,
    { file: 'sh', args: ['-c', command], fds: [fd] },
  );
  const first = await app.ready();
  systemdSocket.close(); // systemd keeps its copy without accepting; ours would compete
  assert.equal(portOf(first), port, 'the app adopted the socket systemd passed');
  assert.equal((await get({ port }, '/')).json.pid, first.pid);
  process.kill(app.proc.pid!, 'SIGUSR2');
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  await waitForExit(first.pid); // until it is retired, both generations accept
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
  await waitUntil(() => notify.calls().filter((l) => l.includes('READY=1')).length >= 2);
  const lines = notify.calls();
  assert.ok(lines.every((l) => l.startsWith(`--pid=${app.proc.pid} `)), lines.join('\n'));
  assert.deepEqual(lines.map((l) => l.split(' ')[1]), ['READY=1', 'RELOADING=1', 'READY=1']);
});

test('grace run --listen localhost:0 binds a loopback address, and the app asking for localhost:0 adopts it', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--listen', 'localhost:0'], { listen: ['localhost:0'] });
  const ready = await app.ready();
  const { address, port } = (ready.addresses as Array<{ address: string; port: number }>)[0]!;
  assert.match(address, /^(127\.|::1$)/);
  assert.equal((await get({ host: address, port }, '/')).json.pid, ready.pid);
});

test('under grace run with one --listen, serve(server) with no spec serves on it, across a reload', { timeout: 60_000 }, async (t) => {
  const app = supervise(t, ['--listen', '127.0.0.1:0'], {});
  const first = await app.ready();
  const port = portOf(first);
  assert.equal((await get({ port }, '/')).json.pid, first.pid);
  process.kill(app.proc.pid!, 'SIGUSR2');
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.equal(portOf(second), port);
  await waitForExit(first.pid);
  assert.equal((await get({ port }, '/')).json.pid, second.pid);
});

/** `grace run ARGS`, to its exit: status and stderr. */
function graceRun(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, 'run', ...args], { timeout: 30_000 }, (_err, _stdout, stderr) => {
      resolve({ code: child.exitCode, stderr });
    });
  });
}

test('grace run exits at once with 127, like a shell, when the app command is not found', { timeout: 60_000 }, async (t) => {
  const pidFile = join(tempDir(t), 'grace.pid');
  const result = await graceRun(['--listen', '127.0.0.1:0', '--pid-file', pidFile, '--', '/nonexistent/grace-test-app', '--port', '1']);
  assert.equal(result.code, 127, result.stderr);
  assert.match(result.stderr, /spawn \/nonexistent\/grace-test-app ENOENT/);
  assert.match(result.stderr, /cannot run "\/nonexistent\/grace-test-app": not found; exiting with status 127/);
  assert.doesNotMatch(result.stderr, /restarting the app/, 'not retried');
  assert.equal(existsSync(pidFile), false);
});

test('grace run exits at once with 126 when the app command is not executable', { timeout: 60_000 }, async (t) => {
  const script = join(tempDir(t), 'app.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 }); // no execute bit: EACCES, even for root
  const result = await graceRun(['--listen', '127.0.0.1:0', '--', script]);
  assert.equal(result.code, 126, result.stderr);
  assert.match(result.stderr, /cannot run ".*app\.sh": not executable \(permission denied\); exiting with status 126/);
  assert.doesNotMatch(result.stderr, /restarting the app/);
});

test('once the app has run, a command gone missing is retried with backoff (a deploy in progress), not fatal', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const script = join(dir, 'app.sh');
  writeFileSync(script, `#!/bin/sh\nexec '${node}' ${FIXTURE_ARGS.map((a) => `'${a}'`).join(' ')}\n`, { mode: 0o755 });
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, {}, { file: node, args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--', script] });
  const first = await app.ready();
  renameSync(script, `${script}.away`);
  process.kill(first.pid, 'SIGKILL');
  await app.waitForLog(/could not start the generation 2: spawn .*app\.sh ENOENT\ngrace: restarting the app in \d+ ms/);
  assert.ok(isAlive(app.proc.pid!), 'the supervisor waits for the command to come back');
  renameSync(`${script}.away`, script);
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, next.pid);
});

function readPidFileText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readPidFileFirstLine(path: string): string | undefined {
  return readPidFileText(path)?.split('\n')[0];
}
