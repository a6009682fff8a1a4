// A SIGUSR2 storm in direct mode, under keep-alive load: whatever order the
// signals and the new generation's "ready" reach the old one in, one restart
// runs at a time, no request fails, and something serves at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { get, portOf, startFixture, tempDir, waitUntil, type FixtureEvent } from './helpers.ts';
import { isAlive } from './helpers.ts';

const CLIENTS = 48;
const STORM_MS = 3000;
const EVERY_MS = 1;

/** Keep-alive clients asking in a loop until `stop()`; every failure is kept. */
function keepAliveLoad(port: number): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const failed: string[] = [];
  let ok = 0;
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          else failed.push(`status ${res.statusCode}`);
          resolve();
        });
        res.on('error', (err) => {
          failed.push(err.message);
          resolve();
        });
      });
      req.on('error', (err) => {
        failed.push((err as NodeJS.ErrnoException).code ?? err.message);
        resolve();
      });
      req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
    });
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { ok, failed };
    },
  };
}

/**
 * SIGUSR2 to whichever pid the pid file names, every EVERY_MS for STORM_MS,
 * from a process of its own (the load's loop would slow it down); resolves
 * with how many were sent.
 */
function storm(pidFile: string): Promise<number> {
  const script = `
    const { readFileSync } = require('node:fs');
    let sent = 0;
    const end = Date.now() + ${STORM_MS};
    const tick = () => {
      if (Date.now() >= end) return console.log(sent);
      try {
        process.kill(Number(readFileSync(process.argv[1], 'utf8').split('\\n')[0]), 'SIGUSR2');
        sent++;
      } catch {}
      setTimeout(tick, ${EVERY_MS});
    };
    tick();`;
  const sender = spawn(process.execPath, ['-e', script, pidFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  sender.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  return new Promise((resolve, reject) => sender.once('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`the storm's sender exited with ${code}`)))));
}

async function survivesAStorm(t: TestContext, env: NodeJS.ProcessEnv): Promise<void> {
  const pidFile = join(tempDir(t), 'app.pid');
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile } }, env);
  const first = await app.ready();
  const port = portOf(first);
  const load = keepAliveLoad(port);
  const sent = await storm(pidFile);
  // The storm is over: the restart under way (if any) ends, and the last
  // generation serves. The pid file names it once it is ready.
  const serving = () => readFileSync(pidFile, 'utf8').match(/"state":"(\w+)"/)?.[1];
  await waitUntil(() => serving() === 'serving', 30_000, () => `the pid file to say serving (${serving()})`);
  const last = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  // It names a new generation before that one says "ready": until its parent
  // has handed over, both accept.
  if (last !== first.pid) await app.waitForLog(new RegExp(`with new pid ${last} and old pid`), 30_000);
  const { ok, failed } = await load.stop();
  assert.deepEqual(failed, [], `${failed.length} of ${ok + failed.length} requests failed during ${sent} SIGUSR2s`);
  assert.ok(ok > 0);
  assert.equal((await get({ port }, '/')).json.pid, last, 'the generation the pid file names answers');
  const generations = app.events.filter((e) => e.event === 'ready').length;
  assert.ok(generations >= 2, `at least one restart happened (${generations} generations)`);
  t.diagnostic(`${sent} SIGUSR2s, ${generations} generations, ${ok} requests`);
  oneRestartAtATime(app.events);
  // Done: the last generation stops, and every process it left is gone.
  process.kill(last, 'SIGTERM');
  await app.waitFor((e) => e.event === 'exit' && e.pid === last, 30_000);
  for (const pid of app.pids()) await waitUntil(() => !isAlive(pid), 30_000, () => `pid ${pid} to exit`);
}

/** No generation had a second child starting before its first one was ready or had failed. */
function oneRestartAtATime(events: FixtureEvent[]): void {
  const starting = new Map<number, number>();
  for (const e of events) {
    if (e.event === 'restart') {
      assert.equal(starting.get(e.pid), undefined, `pid ${e.pid} started pid ${e.child as number} while pid ${starting.get(e.pid)} was starting`);
      starting.set(e.pid, e.child as number);
    } else if (e.event === 'handover' || e.event === 'restart-failed') starting.delete(e.pid);
  }
}

test('a SIGUSR2 storm under keep-alive load: one restart at a time, no request fails, the last generation serves', { timeout: 120_000 }, async (t) => {
  await survivesAStorm(t, {});
});

test('a SIGUSR2 storm under keep-alive load with a standby: one restart at a time, no request fails, the last generation serves', { timeout: 120_000 }, async (t) => {
  await survivesAStorm(t, { GRACE_STANDBY: '1' });
});
