import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runLoad } from '../bench/load.ts';
import { resolveOptions } from '../src/generation/options.ts';
import { assertInOrder, get, isAlive, killQuietly, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture } from './helpers.ts';

const APP = new URL('./fixtures/standby-app.ts', import.meta.url).pathname;

interface Started {
  app: Fixture;
  port: number;
  code: string;
  dir: string;
}

/**
 * The standby app, its code (version v1) in a temp dir; `node` replaces
 * process.execPath; `preloads` adds a user preload on the command line and
 * one in NODE_OPTIONS, each reporting "preload" as it runs.
 */
async function startApp(t: TestContext, env: NodeJS.ProcessEnv = {}, node = process.execPath, preloads = false, wrapper: string[] = []): Promise<Started> {
  const dir = tempDir(t);
  const code = join(dir, 'code.mjs');
  writeCode(code, 'v1');
  const flags: string[] = [];
  if (preloads) {
    for (const name of ['cli', 'env']) {
      // Whether node's undici is loaded by then: a standby of an app that loaded it loads it before it parks (Node >= 22).
      const undici = "process.moduleLoadList.includes('NativeModule internal/deps/undici/undici')";
      writeFileSync(join(dir, `${name}.cjs`), `process.stdout.write(JSON.stringify({ event: 'preload', from: '${name}', pid: process.pid, undici: ${undici} }) + '\\n');\n`);
    }
    flags.push('--require', join(dir, 'cli.cjs'));
    env = { ...env, NODE_OPTIONS: `--require ${join(dir, 'env.cjs')}` };
  }
  const command = [...wrapper, node, ...flags, '--import', 'tsx', APP];
  const app = startFixture(t, {}, { GRACE_DEBUG: '1', STANDBY_CODE: code, ...env }, { file: command[0]!, args: command.slice(1) });
  t.after(() => {
    for (const pid of standbys(app)) killQuietly(pid);
  });
  const ready = await app.ready();
  return { app, port: portOf(ready), code, dir };
}

function writeCode(path: string, version: string): void {
  writeFileSync(path, `export const version = ${JSON.stringify(version)};\n`);
}

/** Every standby booted so far, in order, from the debug lines. */
function standbys(app: Fixture): number[] {
  return [...app.log.matchAll(/booting standby pid (\d+)/g)].map((m) => Number(m[1]));
}

/** Waits for the nth standby (0-based) to say "parked"; returns its pid. */
async function parked(app: Fixture, nth = 0): Promise<number> {
  await waitUntil(() => standbys(app).length > nth, 15_000, () => `standby ${nth} to boot\n${app.log}`);
  const pid = standbys(app)[nth]!;
  await app.waitForLog(`standby pid ${pid} parked`);
  return pid;
}

test('a restart releases the parked standby, which serves the code and environment of the moment of the restart', { timeout: 60_000 }, async (t) => {
  const { app, port, code } = await startApp(t, {}, process.execPath, true);
  const first = app.proc.pid!;
  const standby = await parked(app);
  // Parked: nothing of the app, not even a preload given on the command line or in NODE_OPTIONS, has run in it.
  // (tsx's loader thread runs the preloads a second time: counted once.)
  const preloadsIn = (pid: number) => [...new Set(app.events.filter((e) => e.event === 'preload' && e.pid === pid).map((e) => e.from))].sort();
  assert.deepEqual(preloadsIn(first), ['cli', 'env']);
  assert.deepEqual(app.events.filter((e) => e.pid === standby), []);
  assert.ok(isAlive(standby));
  // Booted at nice 19 (root here may restore it), it waits for its release at its parent's priority, every thread.
  assert.match(app.log, new RegExp(`booting standby pid ${standby} at nice 19`));
  const threads = readdirSync(`/proc/${standby}/task`).map(Number);
  assert.ok(threads.length > 1, 'node runs threads besides the main one');
  assert.deepEqual(threads.map((tid) => getPriority(tid)), threads.map(() => getPriority()), 'every thread back at its parent\'s priority once parked');
  // Deployed after the standby booted: new code on disk, a new variable in the environment.
  writeCode(code, 'v2');
  await get({ port }, '/setenv?value=set-after-boot');
  process.kill(first, 'SIGUSR2');
  await app.handedOver(first);
  await app.waitForLog(new RegExp(`releasing standby pid ${standby} as the next generation`));
  const answer = await get({ port }, '/');
  assert.equal(answer.json.pid, standby);
  const { version, value, nice } = answer.json as unknown as { version: string; value: string; nice: number };
  assert.equal(version, 'v2');
  assert.equal(value, 'set-after-boot');
  assert.equal(nice, getPriority(), 'released at the priority a fresh spawn inherits');
  assert.deepEqual(preloadsIn(standby), ['cli', 'env']);
  assert.equal(app.events.filter((e) => e.pid === standby && e.event === 'loaded').length, 1);
  // Node 22 and 24 load undici for the app's ESM `import http from 'node:http'`: its standby loaded it before it parked, so
  // the user's preloads, run after the release, find it loaded; a fresh start has not loaded it by then (nor does Node 20's http).
  const undiciAtPreload = (pid: number) => [...new Set(app.events.filter((e) => e.event === 'preload' && e.pid === pid).map((e) => e.undici))];
  assert.deepEqual(undiciAtPreload(first), [false]);
  assert.deepEqual(undiciAtPreload(standby), [Number(process.versions.node.split('.')[0]) >= 22]);
  await waitForExit(first);

  // The new generation parks its own standby; a stop takes it away.
  const next = await parked(app, 1);
  process.kill(standby, 'SIGTERM');
  await waitForExit(standby);
  await waitForExit(next);
});

test('a released standby that fails to start: the old generation serves on, parks a new standby, and the next restart uses it', { timeout: 60_000 }, async (t) => {
  const { app, port, code } = await startApp(t);
  const first = app.proc.pid!;
  const broken = await parked(app);
  writeFileSync(code, `throw new Error('a broken deploy');\n`);
  process.kill(first, 'SIGUSR2');
  await app.waitFor((e) => e.event === 'restart-failed' && e.pid === first);
  assert.equal((await get({ port }, '/')).json.pid, first);
  const standby = await parked(app, 1);
  assert.notEqual(standby, broken);
  writeCode(code, 'v3');
  process.kill(first, 'SIGUSR2');
  await app.handedOver(first);
  const answer = await get({ port }, '/');
  assert.equal(answer.json.pid, standby);
  assert.equal((answer.json as unknown as { version: string }).version, 'v3');
});

// Root here has CAP_SYS_NICE; setpriv takes it away, as a container's default capabilities do.
const noSetpriv = process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0 ? 'needs root and setpriv' : false;

test('without the right to restore a priority, the standby boots at its parent\'s and is released at it', { timeout: 60_000, skip: noSetpriv }, async (t) => {
  const { app, port } = await startApp(t, {}, process.execPath, false, ['setpriv', '--bounding-set', '-sys_nice']);
  const first = app.proc.pid!;
  const standby = await parked(app);
  assert.doesNotMatch(app.log, /booting standby pid \d+ at nice/);
  assert.equal(getPriority(standby), getPriority());
  process.kill(first, 'SIGUSR2');
  await app.handedOver(first);
  const answer = await get({ port }, '/');
  assert.equal(answer.json.pid, standby);
  assert.equal((answer.json as unknown as { nice: number }).nice, getPriority());
});

test('a standby killed from outside: the restart spawns afresh, with no failed request', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t);
  const first = app.proc.pid!;
  const standby = await parked(app);
  process.kill(standby, 'SIGKILL');
  await app.waitForLog(`standby pid ${standby} exited with SIGKILL while parked`);
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const load = runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive: true, signal: stop.signal });
  process.kill(first, 'SIGUSR2');
  const next = await app.handedOver(first);
  await waitForExit(first);
  stop.abort();
  const samples = await load;
  await app.waitForLog(new RegExp(`standby pid ${standby} not used: it is gone; starting a fresh process`));
  assert.notEqual(next.pid, standby);
  assert.equal(samples.failures(), 0, JSON.stringify([...samples.errors]));
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
});

test('a restart as the generation starts serving: its standby is not booted yet, so the restart spawns afresh and none was booted for it', { timeout: 60_000 }, async (t) => {
  // The app calls restart() in the turn it serves: the standby boots only a while after (off the first requests' path).
  const { app } = await startApp(t, { STANDBY_RESTART_AT_ONCE: '1' });
  const first = app.proc.pid!;
  const next = await app.handedOver(first);
  await waitForExit(first);
  // The new generation boots its own, a while after it serves.
  await app.waitForLog(/standby pid \d+ parked/);
  assertInOrder(app.log, [`Starting new generation pid ${next.pid} from pid ${first}`, /booting standby pid \d+/]);
  assert.doesNotMatch(app.log, /not used/);
});

test('a standby still booting when the restart comes is released all the same: it serves once parked, at its parent\'s priority', { timeout: 60_000 }, async (t) => {
  // The app calls restart() in the same turn as its standby was spawned: it cannot have said "parked".
  const { app, port } = await startApp(t, { STANDBY_RESTART_AT_BOOT: '1' });
  const first = app.proc.pid!;
  const next = await app.handedOver(first);
  const standby = standbys(app)[0]!;
  assert.match(app.log, new RegExp(`releasing standby pid ${standby} as the next generation \\(still booting`));
  assert.equal(next.pid, standby);
  const answer = await get({ port }, '/');
  assert.equal(answer.json.pid, standby);
  assert.equal((answer.json as unknown as { nice: number }).nice, getPriority(), 'released at the priority a fresh spawn inherits');
  assert.doesNotMatch(app.log, /not used/);
  await waitForExit(first);
});

test('the node binary replaced after the standby booted: the restart runs the new binary, afresh', { timeout: 90_000 }, async (t) => {
  const bin = tempDir(t);
  const node = join(bin, 'node');
  copyFileSync(process.execPath, node);
  const { app, port } = await startApp(t, {}, node);
  const first = app.proc.pid!;
  const standby = await parked(app);
  // A deploy replaces the binary: a new file renamed over the old path.
  copyFileSync(process.execPath, `${node}.new`);
  renameSync(`${node}.new`, node);
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const load = runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive: false, signal: stop.signal });
  process.kill(first, 'SIGUSR2');
  const next = await app.handedOver(first);
  await waitForExit(first);
  stop.abort();
  const samples = await load;
  await app.waitForLog(new RegExp(`standby pid ${standby} not used: the node binary ${node} changed on disk; starting a fresh process`));
  assert.notEqual(next.pid, standby);
  assert.equal(statSync(`/proc/${next.pid}/exe`).ino, statSync(node).ino, 'the new generation runs the new binary');
  assert.equal(samples.failures(), 0, JSON.stringify([...samples.errors]));
  await waitForExit(standby);
});

test('NODE_OPTIONS changed after the standby booted: node reads it only as it starts, so the restart spawns afresh', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t);
  const first = app.proc.pid!;
  const standby = await parked(app);
  await get({ port }, `/setenv?name=NODE_OPTIONS&value=${encodeURIComponent('--max-http-header-size=32768')}`);
  process.kill(first, 'SIGUSR2');
  const next = await app.handedOver(first);
  await app.waitForLog(new RegExp(`standby pid ${standby} not used: NODE_OPTIONS changed \\(node reads it only as it starts\\); starting a fresh process`));
  assert.notEqual(next.pid, standby);
  await waitForExit(standby);
});

test('the parent SIGKILLed: its standby exits and nothing holds the socket', { timeout: 60_000 }, async (t) => {
  // A unix socket in our own directory: a TCP port freed here could be taken
  // by any other process on the machine before we look, or self-connect.
  const path = join(tempDir(t), 'app.sock');
  const { app } = await startApp(t, { STANDBY_LISTEN: path });
  const standby = await parked(app);
  const parentGone = app.proc.exitCode !== null || app.proc.signalCode !== null ? Promise.resolve() : once(app.proc, 'exit');
  process.kill(app.proc.pid!, 'SIGKILL');
  await waitForExit(standby);
  // The parent's own sockets are closed once it is reaped (the standby may see its channel's EOF first).
  await parentGone;
  // No listening socket is left: a connection is refused (one held by a
  // process that does not accept would still complete the handshake).
  const refused = await new Promise<string | undefined>((resolve) => {
    const socket = connect(path, () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
  assert.equal(refused, 'ECONNREFUSED');
});

test('a storm of restart signals: one restart, by the standby', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t);
  const first = app.proc.pid!;
  const standby = await parked(app);
  for (let i = 0; i < 5; i++) process.kill(first, 'SIGUSR2');
  await app.handedOver(first);
  await app.waitFor((e) => e.event === 'exit' && e.pid === first); // every line it wrote is read
  assert.equal((await get({ port }, '/')).json.pid, standby);
  const ready = new Set(app.events.filter((e) => e.event === 'ready').map((e) => e.pid));
  assert.deepEqual([...ready].sort(), [first, standby].sort());
  assert.equal(app.events.filter((e) => e.event === 'restart').length, 1);
});

test('standby: the option, else GRACE_STANDBY (1 or 0)', () => {
  assert.equal(resolveOptions({}, {}).standby, false);
  assert.equal(resolveOptions({}, { GRACE_STANDBY: '1' }).standby, true);
  assert.equal(resolveOptions({ standby: false }, { GRACE_STANDBY: '1' }).standby, false);
  assert.throws(() => resolveOptions({}, { GRACE_STANDBY: 'yes' }), { code: 'ERR_GRACE_OPTIONS', message: 'GRACE_STANDBY must be 1 or 0, got "yes"' });
  assert.throws(() => resolveOptions({ standby: 1 as unknown as boolean }), { code: 'ERR_GRACE_OPTIONS', message: 'options.standby must be true or false, got 1' });
});
