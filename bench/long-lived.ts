// Issue #24's bench: long-lived connections across a reload of two workers.
// N WebSocket and N Server-Sent Events clients (reconnecting: a WebSocket at
// once when closed, an EventSource after its reconnection time, 3 s unless
// the server said `retry:`), HTTP load beside them (4 keep-alive + 4
// one-shot connections, no retries), then one reload. Scenarios:
//   grace            grace run --workers 2, webSockets given, closes spread (default reconnectSpread)
//   grace-no-spread  the same with reconnectSpread 0: every close at once
//   grace-bare       webSockets not given: upgraded connections closed at upgradeTimeout
//   pm2              PM2 cluster mode, 2 instances, a plain listen(PORT) app, `pm2 reload`
// For each: the reload command's time, the WebSocket close codes and how
// event streams ended, the time until every client is on a new-generation
// pid, HTTP failures, and the latency (p50/p99/max) of the requests the new
// generation answered between the reload and that moment, beside a baseline.
// The clients run in a child process (their own event loop, so the load's
// latencies are not theirs). The app and grace's CLI are bundled with esbuild
// (no tsx on either side). Loopback only; every step bounded; every process
// killed by pid at the end, and the temp dirs removed.
//
// With --rounds N the scenarios run in turn N times (so a busy machine's
// moments fall on each alike), and the summary gives each one's medians.
//
//   node --import tsx bench/long-lived.ts [--clients 1000] [--rounds 1] [--only grace,pm2] [--name long-lived-node20]
import { execFile, execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readPidFile } from '../src/reporting/pid-file.ts';
import { LiveEventSource, LiveWebSocket } from './live-clients.ts';
import { median, percentile, runLoad, type Samples } from './load.ts';
import { freePort, Pm2Cluster } from './pm2.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';
import { isAlive } from './server-process.ts';

const SCENARIOS = ['grace', 'grace-no-spread', 'grace-bare', 'pm2'] as const;
type Scenario = (typeof SCENARIOS)[number];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the clients, in their own process ----

interface ClientReport {
  closeCodes: Record<string, number>;
  eventStreamEnds: { clean: number; cut: number };
  reconnects: number;
  failedAttempts: number;
  /** ms from the reload until each client was first on a new-generation pid: p50, p90, p99, max. */
  onNewGeneration: { p50: number; p90: number; p99: number; max: number };
}
type ToClients = { connect: { host: string; port: number; each: number } } | { watch: number[]; since: number } | { report: true };
type FromClients = { connected: true } | { allOnNew: number } | { report: ClientReport };

async function clientsProcess(): Promise<void> {
  let ws: LiveWebSocket[] = [];
  let sse: LiveEventSource[] = [];
  const movedAfter: number[] = [];
  const send = (message: FromClients) => process.send!(message);
  process.on('message', async (message: ToClients) => {
    if ('connect' in message) {
      const { host, port, each } = message.connect;
      // In batches: the first connections should not overflow the accept queue.
      for (let i = 0; i < each; i += 100) {
        const batch = Math.min(100, each - i);
        const more = [...Array.from({ length: batch }, () => new LiveWebSocket({ host, port })), ...Array.from({ length: batch }, () => new LiveEventSource({ host, port }))];
        ws.push(...(more.filter((c) => c instanceof LiveWebSocket) as LiveWebSocket[]));
        sse.push(...(more.filter((c) => c instanceof LiveEventSource) as LiveEventSource[]));
        await Promise.all(more.map((c) => c.connectedTo(() => true, 30_000)));
      }
      send({ connected: true });
    } else if ('watch' in message) {
      const old = new Set(message.watch);
      const all = [...ws, ...sse];
      let done = false;
      for (const c of all) {
        let moved = false;
        c.onOpen = (pid) => {
          if (!moved && !old.has(pid)) {
            moved = true;
            movedAfter.push(Date.now() - message.since);
          }
          if (done || !all.every((each) => each.pid !== 0 && !old.has(each.pid))) return;
          done = true;
          send({ allOnNew: Date.now() });
        };
      }
    } else {
      const closeCodes: Record<string, number> = {};
      for (const code of ws.flatMap((c) => c.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      const ends = sse.flatMap((c) => c.ends);
      const all = [...ws, ...sse];
      send({
        report: {
          closeCodes,
          eventStreamEnds: { clean: ends.filter((e) => e === 'clean').length, cut: ends.filter((e) => e === 'cut').length },
          reconnects: all.reduce((n, c) => n + c.connections.length - 1, 0),
          failedAttempts: all.reduce((n, c) => n + c.failures, 0),
          onNewGeneration: { p50: percentile(movedAfter, 50), p90: percentile(movedAfter, 90), p99: percentile(movedAfter, 99), max: Math.max(...movedAfter) },
        },
      });
      for (const c of all) c.stop();
      ws = [];
      sse = [];
      setTimeout(() => process.exit(0), 100);
    }
  });
}

function next<T extends FromClients>(child: ChildProcess, key: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`clients: no ${key} within ${timeoutMs} ms`)), timeoutMs);
    const on = (message: FromClients) => {
      if (!(key in message)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(message as T);
    };
    child.on('message', on);
  });
}

// ---- the servers ----

interface Served {
  port: number;
  workers(): Promise<number[]>;
  reload(): Promise<{ ms: number; code: number | string }>;
  stop(): Promise<void>;
}

function bundle(root: string, entry: string, out: string): void {
  execFileSync(join(root, 'node_modules/.bin/esbuild'), [
    join(root, entry), '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${out}`, '--log-level=warning', '--external:bufferutil', '--external:utf-8-validate',
    // ws is CommonJS: its require()s of node built-ins need a require in the ESM bundle.
    "--banner:js=import { createRequire as __graceCreateRequire } from 'node:module'; const require = __graceCreateRequire(import.meta.url);",
  ]);
}

async function serveWithGrace(dir: string, scenario: Scenario): Promise<Served> {
  const port = await freePort();
  const pidFile = join(dir, `${scenario}.pid`);
  const env = { ...process.env, GRACE: '1', PORT: String(port), HOST: '127.0.0.1', ...(scenario === 'grace-no-spread' ? { RECONNECT_SPREAD: '0' } : {}), ...(scenario === 'grace-bare' ? { WEB_SOCKETS: 'bare' } : {}) };
  const cli = join(dir, 'cli.mjs');
  const supervisor = spawn(process.execPath, [cli, 'run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--pid-file', pidFile, '--', process.execPath, join(dir, 'app.mjs')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  supervisor.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const deadline = Date.now() + 30_000;
  while (!log.includes('all 2 workers are ready')) {
    if (Date.now() > deadline || supervisor.exitCode !== null) {
      supervisor.kill('SIGKILL'); // its workers see the channel's EOF and go
      throw new Error(`grace run did not serve:\n${log}`);
    }
    await sleep(20);
  }
  const workers = async () => (readPidFile(pidFile)?.workers ?? []).filter((w) => w.state === 'serving').map((w) => w.pid);
  return {
    port,
    workers,
    reload: () =>
      new Promise((resolve) => {
        const start = performance.now();
        execFile(process.execPath, [cli, 'reload', '--pid-file', pidFile], { timeout: 120_000 }, (err) =>
          resolve({ ms: performance.now() - start, code: err ? (typeof err.code === 'number' ? err.code : String(err.code)) : 0 }),
        );
      }),
    stop: async () => {
      const pids = [supervisor.pid!, ...(await workers())];
      supervisor.kill('SIGTERM');
      const until = Date.now() + 15_000;
      while (pids.some(isAlive) && Date.now() < until) await sleep(20);
      for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
    },
  };
}

async function serveWithPm2(dir: string): Promise<Served> {
  const cluster = await Pm2Cluster.start({ script: join(dir, 'app.mjs'), instances: 2 });
  return {
    port: cluster.port,
    workers: () => cluster.workerPids(),
    reload: async () => {
      try {
        return { ms: await cluster.reload(), code: 0 };
      } catch (err) {
        return { ms: NaN, code: (err as Error).message.split('\n')[0]! };
      }
    },
    stop: () => cluster.kill(),
  };
}

// ---- one scenario ----

function latency(samples: Samples, from: number, to: number, pids?: Set<number>) {
  const picked = samples.latency.filter((_, i) => samples.at[i]! >= from && samples.at[i]! <= to && samples.failure[i] === null && (!pids || pids.has(samples.pid[i]!)));
  const round = (v: number) => Number(v.toFixed(1));
  return { requests: picked.length, p50: round(percentile(picked, 50)), p99: round(percentile(picked, 99)), max: round(Math.max(...picked)) };
}

async function run(dir: string, scenario: Scenario, each: number) {
  const served = scenario === 'pm2' ? await serveWithPm2(dir) : await serveWithGrace(dir, scenario);
  const clients = fork(new URL(import.meta.url).pathname, ['--clients-process'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stopLoad = new AbortController();
  try {
    const old = await served.workers();
    clients.send({ connect: { host: '127.0.0.1', port: served.port, each } } satisfies ToClients);
    await next(clients, 'connected', 120_000);
    const origin = performance.now();
    const target = { host: '127.0.0.1', port: served.port, signal: stopLoad.signal };
    const loads = [runLoad({ ...target, connections: 4, keepAlive: true }, origin), runLoad({ ...target, connections: 4, keepAlive: false }, origin)];
    await sleep(2000);
    const reloadWall = Date.now();
    clients.send({ watch: old, since: reloadWall } satisfies ToClients);
    const allOnNew = next<{ allOnNew: number }>(clients, 'allOnNew', 90_000);
    const reloadAt = performance.now() - origin;
    const reload = await served.reload();
    const onNewMs = (await allOnNew).allOnNew - reloadWall;
    await sleep(1000);
    stopLoad.abort();
    const samples = await Promise.all(loads);
    const fresh = new Set(await served.workers());
    const all = samples[0]!;
    for (const more of samples.slice(1)) for (let i = 0; i < more.count; i++) {
      all.at.push(more.at[i]!);
      all.latency.push(more.latency[i]!);
      all.pid.push(more.pid[i]!);
      all.failure.push(more.failure[i]!);
    }
    clients.send({ report: true } satisfies ToClients);
    const { report } = await next<{ report: ClientReport }>(clients, 'report', 30_000);
    return {
      scenario,
      reloadMs: Math.round(reload.ms),
      reloadExit: reload.code,
      allOnNewGenerationMs: Math.round(onNewMs),
      ...report,
      httpRequests: all.count,
      httpFailures: all.failures(),
      baseline: latency(all, 0, reloadAt),
      newGenerationDuringReconnect: latency(all, reloadAt, reloadAt + onNewMs, fresh),
    };
  } finally {
    stopLoad.abort();
    if (clients.exitCode === null) clients.kill('SIGKILL');
    await served.stop();
  }
}

// ---- main ----

if (process.argv.includes('--clients-process')) {
  await clientsProcess();
} else {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '1' },
      only: { type: 'string', default: SCENARIOS.join(',') },
      name: { type: 'string', default: `long-lived-node${nodeMajor}` },
    },
  });
  const each = Number(values.clients);
  const scenarios = values.only.split(',') as Scenario[];
  const header = resultsHeader(values);
  const root = new URL('..', import.meta.url).pathname;
  const dir = mkdtempSync(join(os.tmpdir(), 'grace-long-lived-'));
  try {
    bundle(root, 'src/cli.ts', join(dir, 'cli.mjs'));
    bundle(root, 'bench/long-lived-app.ts', join(dir, 'app.mjs'));
    const results: Array<Awaited<ReturnType<typeof run>> & { round: number }> = [];
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const scenario of scenarios) {
        console.log(`round ${round}, ${scenario}: ${each} WebSocket + ${each} SSE clients, HTTP load, one reload …`);
        const result = { round, ...(await run(dir, scenario, each)) };
        console.log(JSON.stringify(result));
        results.push(result);
      }
    }
    const summary = scenarios.map((scenario) => {
      const mine = results.filter((r) => r.scenario === scenario);
      const med = (pick: (r: (typeof mine)[number]) => number) => Math.round(median(mine.map(pick)));
      return {
        scenario,
        runs: mine.length,
        reloadMs: med((r) => r.reloadMs),
        allOnNewGenerationMs: med((r) => r.allOnNewGenerationMs),
        newGenerationP99: med((r) => r.newGenerationDuringReconnect.p99),
        baselineP99: med((r) => r.baseline.p99),
        httpFailures: mine.reduce((n, r) => n + r.httpFailures, 0),
        closeCodes: [...new Set(mine.flatMap((r) => Object.keys(r.closeCodes)))],
        eventStreamsCut: mine.reduce((n, r) => n + r.eventStreamEnds.cut, 0),
      };
    });
    console.table(summary);
    console.log(`results: ${writeResults(values.name, { ...header, clients: { webSockets: each, eventSources: each }, summary, results })}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
