// A parked standby has read what is read at exec and as node boots (LD_*,
// MALLOC_*, LANG, OPENSSL_CONF, …; src/protocol/boot-env.ts): when an env
// file changes one of those after it parked, the restart spawns afresh, so
// the new process starts with it (its /proc/PID/environ, what the loader and
// glibc read, has it), and the log says why.
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readAtBoot } from '../src/protocol/boot-env.ts';
import { CLI, killQuietly, startFixture, tempDir, waitForExit, type Fixture } from './helpers.ts';

const node = process.execPath;
const ENV_APP = new URL('./fixtures/env-app.ts', import.meta.url).pathname;

/** The environment a process was started with (exec's), as the loader and glibc saw it. */
function execEnvironment(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
}

async function parkedStandby(app: Fixture): Promise<number> {
  await app.waitForLog(/standby pid (\d+) parked/);
  const standby = Number(/standby pid (\d+) parked/.exec(app.log)![1]);
  return standby;
}

test('which variables count as read at boot: the loader\'s, glibc\'s, node\'s, OpenSSL\'s, ICU\'s and undici\'s; not TZ, nor the app\'s own', () => {
  for (const name of ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'GLIBC_TUNABLES', 'MALLOC_ARENA_MAX', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'UV_THREADPOOL_SIZE', 'OPENSSL_CONF', 'SSL_CERT_FILE', 'LANG', 'LC_ALL', 'HOME']) {
    assert.ok(readAtBoot(name), name);
  }
  // undici's and its colors module's: only in a standby that loaded undici before it parked.
  for (const name of ['FORCE_COLOR', 'UNDICI_NO_FG', 'JEST_WORKER_ID']) {
    assert.ok(readAtBoot(name, 'undici'), name);
    assert.equal(readAtBoot(name), undefined, `${name} without undici`);
  }
  for (const name of ['TZ', 'LANGUAGE', 'LC_TIME', 'ICU_DATA', 'DATABASE_URL', 'PATH', 'GRACE_WORKER', 'MY_LD_PATH']) assert.equal(readAtBoot(name), undefined, name);
});

test('grace run --standby 1 --env-file: MALLOC_ARENA_MAX added after the spare parked reaches the new worker at exec (a fresh spawn, logged)', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, 'app.env');
  writeFileSync(envFile, 'GREETING=one\n');
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', '1', '--env-file', envFile, '--', node, '--import', 'tsx', ENV_APP];
  const app = startFixture(t, {}, { ENV_PROBE: 'GREETING,MALLOC_ARENA_MAX', GRACE_DEBUG: '1', MALLOC_ARENA_MAX: undefined }, { file: node, args: run });
  t.after(() => {
    for (const [, pid] of app.log.matchAll(/booting standby pid (\d+)/g)) killQuietly(Number(pid));
  });
  const first = await app.ready();
  const spare = await parkedStandby(app);
  appendFileSync(envFile, 'MALLOC_ARENA_MAX=2\n');
  process.kill(app.proc.pid!, 'SIGUSR2');
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.notEqual(next.pid, spare, 'not the spare: it read its environment at exec, without the variable');
  assert.deepEqual(next.env, { GREETING: 'one', MALLOC_ARENA_MAX: '2' });
  assert.ok(execEnvironment(next.pid).includes('MALLOC_ARENA_MAX=2'), 'the loader and glibc saw it');
  await app.waitForLog(`standby pid ${spare} not used: MALLOC_ARENA_MAX changed (glibc reads it only at exec); starting a fresh process`);
  await waitForExit(spare);
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal((await app.closed()).code, 0);
});

test('direct mode with a standby and node --env-file: LC_ALL added after the standby parked reaches the next generation at exec', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const envFile = join(dir, '.env');
  writeFileSync(envFile, 'GREETING=one\n');
  const app = startFixture(t, {}, { ENV_PROBE: 'GREETING,LC_ALL', GRACE_STANDBY: '1', GRACE_DEBUG: '1', LC_ALL: undefined }, { file: node, args: [`--env-file=${envFile}`, '--import', 'tsx', ENV_APP] });
  t.after(() => {
    for (const [, pid] of app.log.matchAll(/booting standby pid (\d+)/g)) killQuietly(Number(pid));
  });
  const first = await app.ready();
  const standby = await parkedStandby(app);
  appendFileSync(envFile, 'LC_ALL=C.UTF-8\n');
  process.kill(first.pid, 'SIGUSR2');
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.notEqual(next.pid, standby);
  assert.deepEqual(next.env, { GREETING: 'one', LC_ALL: 'C.UTF-8' });
  assert.ok(execEnvironment(next.pid).includes('LC_ALL=C.UTF-8'));
  await app.waitForLog(`standby pid ${standby} not used: LC_ALL changed (ICU reads it only as node starts); starting a fresh process`);
  await waitForExit(first.pid);
  process.kill(next.pid, 'SIGTERM');
  await waitForExit(next.pid);
});
