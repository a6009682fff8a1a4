// The drain's promise, kept in CI: restarts under load lose no request. The
// full measurement is `npm run bench`; this is its short version.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { runLoad, Samples } from '../bench/load.ts';
import { ServerProcess } from '../bench/server-process.ts';
import { get } from './helpers.ts';

const EXAMPLE = ['--import', 'tsx', new URL('../example/server.ts', import.meta.url).pathname];

async function restartsUnderLoad(t: TestContext, keepAlive: boolean, restarts: number) {
  const server = new ServerProcess(EXAMPLE, { PORT: '0', HOST: '127.0.0.1' });
  t.after(() => server.stop());
  await server.until(() => server.generations.length > 0);
  const stop = new AbortController();
  t.after(() => stop.abort()); // a failed assertion must not leave the load running
  const live = new Samples();
  const load = runLoad({ host: '127.0.0.1', port: server.port, connections: 8, keepAlive, signal: stop.signal, samples: live });
  for (let i = 0; i < restarts; i++) {
    const before = live.count;
    await server.until(() => live.count >= before + 50); // the load flows before each restart
    await server.restart();
  }
  await server.until(() => server.alivePids().length === 1);
  stop.abort();
  const samples = await load;
  // What is guaranteed: nothing failed, and only generations that became
  // ready answered. How many requests each one got is the scheduler's business.
  assert.equal(samples.failures(), 0, `failed requests: ${JSON.stringify(Object.fromEntries(samples.errors))}`);
  assert.ok(samples.count > 100, `only ${samples.count} requests`);
  const ready = new Set(server.generations.map((g) => g.pid));
  assert.equal(ready.size, restarts + 1);
  assert.deepEqual([...new Set(samples.pid.filter(Boolean))].filter((pid) => !ready.has(pid)), [], 'answered by a pid that never served');
  // Once the last handover is done, the newest generation answers.
  const last = server.generations.at(-1)!.pid;
  assert.equal(server.alivePids()[0], last);
  assert.match((await get({ port: server.port, host: '127.0.0.1' }, '/')).body, new RegExp(`^pid ${last} `));
}

test('three restarts under keep-alive load lose no request', { timeout: 90_000 }, (t) => restartsUnderLoad(t, true, 3));

test('three restarts under one-request-per-connection load lose no request', { timeout: 90_000 }, (t) => restartsUnderLoad(t, false, 3));
