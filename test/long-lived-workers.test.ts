// Long-lived connections across `grace reload` of `grace run --workers 2`,
// with real `ws` and SSE clients and HTTP load beside them: issue #24's
// "done when", for example/live.ts (webSockets given) and for an app that
// does nothing about its WebSockets. What grace decides is asserted: how long
// each old worker drains (from the supervisor's "retiring" to its exit) and
// what its clients saw. The whole reload also counts two worker start-ups,
// which on a loaded 2-core machine vary by seconds: bench/long-lived.ts
// measures it (docs/benchmarks.md).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LiveEventSource, LiveWebSocket, type Target } from '../bench/live-clients.ts';
import { runLoad } from '../bench/load.ts';
import { CLI, isAlive, killQuietly, startFixture, tempDir, waitUntil, type Fixture } from './helpers.ts';

const node = process.execPath;
const EXAMPLE = new URL('../example/live.ts', import.meta.url).pathname;
const LIVE_APP = new URL('./fixtures/live-app.ts', import.meta.url).pathname;

/** `grace run --workers 2` of `app`, every worker it logs killed when the test ends. */
function superviseTwo(t: TestContext, app: string, config: object): { fixture: Fixture; pidFile: string } {
  const pidFile = join(tempDir(t), 'grace.pid');
  const args = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile, '--', node, '--import', 'tsx', app];
  const fixture = startFixture(t, config, { PORT: '0' }, { file: node, args });
  t.after(() => workerPids(fixture).forEach((pid) => killQuietly(pid)));
  return { fixture, pidFile };
}

function workerPids(fixture: Fixture): number[] {
  return [...fixture.log.matchAll(/\[w\d+ (\d+)\]/g)].map((m) => Number(m[1]));
}

/** The pids serving each generation, as the supervisor says it. */
function readyPids(fixture: Fixture, generation: number): number[] {
  return [...fixture.log.matchAll(new RegExp(`worker \\d+ \\(pid (\\d+), generation ${generation}\\) is ready`, 'g'))].map((m) => Number(m[1]));
}

function reload(pidFile: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(node, ['--import', 'tsx', CLI, 'reload', '--pid-file', pidFile], { timeout: 60_000 }, (_err, _stdout, stderr) =>
      resolve({ code: child.exitCode, stderr, ms: performance.now() - started }),
    );
  });
}

/** How long `pid` took from the supervisor's "retiring" to its exit. */
async function drainMs(fixture: Fixture, pid: number): Promise<number> {
  await waitUntil(() => new RegExp(`retiring worker \\d+ \\(pid ${pid},`).test(fixture.log), 60_000);
  const from = performance.now();
  await waitUntil(() => !isAlive(pid), 60_000);
  return performance.now() - from;
}

/** Both workers serve, and `ws` + `sse` clients are connected to them, with HTTP load running. */
async function serving(t: TestContext, fixture: Fixture, pidFile: string, webSockets: number, eventSources: number) {
  await fixture.waitForLog('all 2 workers are ready', 30_000);
  await waitUntil(() => existsSync(pidFile));
  const port = Number(/Serving 127\.0\.0\.1:(\d+) with pid/.exec(fixture.log)![1]);
  const target: Target = { host: '127.0.0.1', port };
  const old = readyPids(fixture, 1);
  const ws = Array.from({ length: webSockets }, () => new LiveWebSocket(target));
  const sse = Array.from({ length: eventSources }, () => new LiveEventSource(target));
  const all = [...ws, ...sse];
  const stopLoad = new AbortController();
  t.after(() => {
    stopLoad.abort();
    all.forEach((c) => c.stop());
  });
  await Promise.all(all.map((c) => c.connectedTo((pid) => old.includes(pid))));
  const loads = [true, false].map((keepAlive) => runLoad({ ...target, connections: 2, keepAlive, signal: stopLoad.signal }));
  const httpFailures = async () => {
    stopLoad.abort();
    return (await Promise.all(loads)).reduce((n, samples) => n + samples.failures(), 0);
  };
  return { old, ws, sse, all, httpFailures };
}

/**
 * `grace reload`, which exits 0, within `shutdownTimeout` (30 s); then every
 * client is on a new pid, no HTTP request failed and no old worker is left.
 * Resolves with how long each old worker drained.
 */
async function reloadMovesEveryone(t: TestContext, fixture: Fixture, pidFile: string, c: Awaited<ReturnType<typeof serving>>): Promise<number[]> {
  const drains = c.old.map((pid) => drainMs(fixture, pid));
  const result = await reload(pidFile);
  assert.equal(result.code, 0, result.stderr);
  const drained = await Promise.all(drains);
  t.diagnostic(`grace reload took ${Math.round(result.ms)} ms; the old workers drained in ${drained.map(Math.round).join(', ')} ms`);
  assert.ok(result.ms < 30_000);
  const fresh = readyPids(fixture, 2);
  await Promise.all(c.all.map((client) => client.connectedTo((pid) => fresh.includes(pid), 15_000)));
  assert.equal(await c.httpFailures(), 0);
  for (const pid of c.old) assert.equal(isAlive(pid), false, `old worker ${pid} has exited`);
  // A stream may end twice: a client the first retiring worker let go can come back on the second old one.
  assert.ok(c.sse.every((s) => s.ends.length > 0 && s.ends.every((end) => end === 'clean')), JSON.stringify(c.sse.map((s) => s.ends)));
  return drained;
}

test('example/live.ts under grace run --workers 2: grace reload exits 0, old workers drain by the close handshakes, 20 WebSockets see 1001, 20 event streams end cleanly, all on new pids, no HTTP failure, nothing forced', { timeout: 120_000 }, async (t) => {
  const { fixture, pidFile } = superviseTwo(t, EXAMPLE, {});
  const c = await serving(t, fixture, pidFile, 20, 20);
  const drained = await reloadMovesEveryone(t, fixture, pidFile, c);
  // Closed by the handshakes, not by the bound (upgradeTimeout, 3000 ms), nor the deadline (30 s).
  assert.ok(drained.every((ms) => ms < 3000), `drains: ${drained}`);
  assert.ok(c.ws.every((w) => w.closeCodes.length > 0 && w.closeCodes.every((code) => code === 1001)), JSON.stringify(c.ws.map((w) => w.closeCodes)));
  assert.doesNotMatch(fixture.log, /forced|upgraded connection/);
});

test('an app that does nothing about its WebSockets, under grace run --workers 2: grace reload exits 0, old workers drain by upgradeTimeout, event streams end cleanly, every client comes back on the new code, no HTTP failure', { timeout: 120_000 }, async (t) => {
  const { fixture, pidFile } = superviseTwo(t, LIVE_APP, { webSockets: 'bare' });
  const c = await serving(t, fixture, pidFile, 10, 10);
  const drained = await reloadMovesEveryone(t, fixture, pidFile, c);
  // The worker(s) holding bare WebSockets: held until the bound (upgradeTimeout, 3000 ms), not the deadline (30 s).
  assert.ok(Math.max(...drained) >= 2900 && drained.every((ms) => ms < 10_000), `drains: ${drained}`);
  for (const pid of c.old) assert.equal(isAlive(pid), false, `old worker ${pid} has exited`);
  // A stream may end twice: a client the first retiring worker let go can come back on the second old one.
  assert.match(fixture.log, /upgraded connection\(s\) \(WebSockets\) still open 3000 ms into the drain.*webSockets: wss/);
  assert.doesNotMatch(fixture.log, /forced/);
});
