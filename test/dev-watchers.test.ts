// Under a file watcher the restart signal is a graceful stop and the watcher's
// own restart works; under a wrapper one warning says which pid to signal.
// Real watchers and wrappers run test/fixtures/dev-app.ts through an entry
// file in a temp dir, which the tests edit as a developer would.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { get, isAlive, startFixture, tempDir, waitForExit, type Fixture, type FixtureEvent } from './helpers.ts';

const require = createRequire(import.meta.url);
const DEV_APP = new URL('./fixtures/dev-app.ts', import.meta.url).pathname;
const TSX_CLI = join(dirname(require.resolve('tsx/package.json')), 'dist/cli.mjs');
const NODEMON = resolveOrUndefined('nodemon/bin/nodemon.js');
const RUNNING_UNDER = (watcher: string) => `grace: running under ${watcher}: SIGUSR2 stops gracefully instead of restarting (the watcher restarts the app)\n`;

function resolveOrUndefined(id: string): string | undefined {
  try {
    return require.resolve(id);
  } catch {
    return undefined;
  }
}

/** A port the OS just handed out, so the restarted app can bind the same one. */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** An entry file in a temp dir (ESM: .mts) that runs the dev app; `edit()` changes it. */
function devEntry(t: TestContext): { dir: string; entry: string; edit(): void } {
  const dir = tempDir(t);
  const entry = join(dir, 'app.mts');
  let edits = 0;
  const write = () => writeFileSync(entry, `import ${JSON.stringify(DEV_APP)};\n// edit ${edits++}\n`);
  write();
  return { dir, entry, edit: write };
}

const nextReady = (app: Fixture, seen: number[]) => app.waitFor((e) => e.event === 'ready' && !seen.includes(e.pid), 30_000);
const stoppedEvent = (app: Fixture, pid: number) => app.waitFor((e) => e.event === 'stopped' && e.pid === pid, 30_000);

/** Stops the watcher or wrapper and checks nothing it ran is left. */
async function quit(app: Fixture, signal: NodeJS.Signals): Promise<void> {
  if (app.proc.exitCode === null && app.proc.signalCode === null) {
    process.kill(app.proc.pid!, signal);
    await once(app.proc, 'exit');
  }
  for (const pid of app.pids()) await waitForExit(pid, 15_000);
}

function assertServedBy(res: { json: { pid: number } }, ready: FixtureEvent): void {
  assert.equal(res.json.pid, ready.pid);
}

test('under node --watch, SIGUSR2 stops the app gracefully and an edit starts it again on the same port', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const { entry, edit } = devEntry(t);
  const app = startFixture(t, {}, { PORT: String(port) }, { file: process.execPath, args: ['--watch', '--import', 'tsx', entry] });
  const first = await app.ready();
  assert.equal(app.log.split(RUNNING_UNDER('node --watch')).length - 1, 1, app.log);
  assertServedBy(await get({ port }, '/'), first);

  process.kill(first.pid, 'SIGUSR2');
  assert.equal((await stoppedEvent(app, first.pid)).reason, 'signal');
  await waitForExit(first.pid);
  assert.equal(app.proc.exitCode, null, 'the watcher runs on');
  assert.ok(!app.events.some((e) => e.event === 'restart'), 'no hot restart');

  edit();
  const second = await nextReady(app, [first.pid]);
  assertServedBy(await get({ port }, '/'), second);
  assert.doesNotMatch(app.log, /EADDRINUSE/);
  await quit(app, 'SIGTERM');
});

test('under nodemon, an edit restarts the app on the same port, a SIGUSR2 by hand stops it gracefully, and quitting nodemon leaves nothing', { timeout: 60_000, skip: NODEMON ? false : 'nodemon is not installed' }, async (t) => {
  const port = await freePort();
  const { dir, entry, edit } = devEntry(t);
  const args = [NODEMON!, '--no-update-notifier', '--watch', dir, '--ext', 'mts', '--delay', '0.1', '--exec', `${process.execPath} --import tsx`, entry];
  const app = startFixture(t, {}, { PORT: String(port) }, { file: process.execPath, args });
  const first = await app.ready();
  assert.match(app.log, new RegExp(RUNNING_UNDER('nodemon').replace(/[().]/g, '\\$&')));

  // nodemon stops the app with SIGUSR2 on a change and starts it once it exited.
  edit();
  const second = await nextReady(app, [first.pid]);
  assert.equal((await stoppedEvent(app, first.pid)).reason, 'signal');
  assertServedBy(await get({ port }, '/'), second);

  // By hand: a graceful stop with status 0, after which nodemon waits for the next change.
  process.kill(second.pid, 'SIGUSR2');
  assert.equal((await stoppedEvent(app, second.pid)).reason, 'signal');
  await waitForExit(second.pid);
  assert.equal(app.proc.exitCode, null, 'nodemon runs on');
  edit();
  const third = await nextReady(app, [first.pid, second.pid]);
  assertServedBy(await get({ port }, '/'), third);
  assert.ok(!app.events.some((e) => e.event === 'restart'), 'no hot restart');
  assert.doesNotMatch(app.log, /EADDRINUSE/);
  await quit(app, 'SIGINT');
});

test('under tsx watch, SIGUSR2 stops the app gracefully and an edit starts it again', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const { entry, edit } = devEntry(t);
  const app = startFixture(t, {}, { PORT: String(port) }, { file: process.execPath, args: [TSX_CLI, 'watch', '--clear-screen=false', entry] });
  const first = await app.ready();
  assert.ok(app.log.includes(RUNNING_UNDER('tsx watch')), app.log);
  process.kill(first.pid, 'SIGUSR2');
  await stoppedEvent(app, first.pid);
  await waitForExit(first.pid);
  edit();
  const second = await nextReady(app, [first.pid]);
  assertServedBy(await get({ port }, '/'), second);
  await quit(app, 'SIGTERM');
});

test('GRACE_WATCH=0 under node --watch keeps hot restarts on', { timeout: 60_000 }, async (t) => {
  const { entry } = devEntry(t);
  const app = startFixture(t, {}, { GRACE_WATCH: '0' }, { file: process.execPath, args: ['--watch', '--import', 'tsx', entry] });
  const first = await app.ready();
  assert.doesNotMatch(app.log, /running under/);
  process.kill(first.pid, 'SIGUSR2');
  const restart = await app.waitFor((e) => e.event === 'restart' && e.pid === first.pid);
  const next = await app.handedOver(first.pid);
  // The new generation runs outside the watcher's control: what the default prevents.
  process.kill(next.pid, 'SIGTERM');
  await quit(app, 'SIGTERM');
});

test('under npm start, one warning names npm\'s pid and the app\'s, and signalling the app restarts it', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const { dir, entry } = devEntry(t);
  const tsx = require.resolve('tsx');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dev-app', private: true, scripts: { start: `${JSON.stringify(process.execPath)} --import ${JSON.stringify(tsx)} ${JSON.stringify(entry)}` } }));
  const app = startFixture(t, {}, { PORT: String(port) }, { file: 'npm', args: ['--prefix', dir, 'start', '--silent'] });
  const first = await app.ready();
  const npmPid = app.proc.pid!;
  const warning = `grace: warning: started by npm (pid ${npmPid}): signal this process, pid ${first.pid}, for a restart (kill -USR2 ${first.pid}), not npm`;
  assert.ok(app.log.includes(warning), app.log);

  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assertServedBy(await get({ port }, '/'), second);
  assert.equal(app.log.split('started by npm').length - 1, 1, 'said once, not again by the next generation');
  process.kill(second.pid, 'SIGTERM');
  await quit(app, 'SIGTERM');
});

test('under the tsx CLI, the warning suggests node --import tsx', { timeout: 60_000 }, async (t) => {
  const { entry } = devEntry(t);
  const app = startFixture(t, {}, {}, { file: process.execPath, args: [TSX_CLI, entry] });
  const first = await app.ready();
  assert.ok(app.log.includes(`started by tsx (pid ${app.proc.pid}): signal this process, pid ${first.pid}`), app.log);
  assert.ok(app.log.includes(`or run it with \`node --import tsx ${entry}\``), app.log);
  await quit(app, 'SIGTERM');
});

test('started directly, nothing is said about watchers or wrappers', { timeout: 30_000 }, async (t) => {
  const { entry } = devEntry(t);
  const app = startFixture(t, {}, {}, { file: process.execPath, args: ['--import', 'tsx', entry] });
  const closed = once(app.proc, 'close'); // its stderr read to the end
  await app.ready();
  await quit(app, 'SIGTERM');
  assert.ok(!isAlive(app.proc.pid!));
  await closed;
  assert.match(app.log, /Exiting pid/, 'the whole of its stderr was read');
  assert.doesNotMatch(app.log, /running under|started by/);
});
