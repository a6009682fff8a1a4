// The zero-lost-requests benchmark: the example server under load, restarted
// over and over, every figure measured side by side in one run. Prints a report
// and writes bench/results/<name>.json and .svg.
//
//   npm run bench                      # both load modes, 100 restarts each
//   npm run bench -- --quick           # a short run (10 restarts each)
//   npm run bench -- --sweep           # restart cost vs listeners and idle connections
//   npm run bench -- --soak 1000       # 1000 restarts under light load: fds, zombies, RSS
//   npm run bench -- --overhead        # per-request cost of grace: the same app with and without it
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { renderChart, type ChartSeries } from './chart.ts';
import { FAILURE_KINDS, median, percentile, runLoad, type Samples } from './load.ts';
import { openFds, rssKb, ServerProcess, zombiesOf } from './server-process.ts';

const root = new URL('..', import.meta.url).pathname;
// The apps run as plain JavaScript, compiled here once, so that restarts are
// measured with node's start-up and grace's work, not tsx's transpiling.
const BUILD = `${root}bench/.build`;
const EXAMPLE = [`${BUILD}/example/server.js`];
const MULTI = [`${BUILD}/bench/multi-server.js`];
const BARE = [`${BUILD}/bench/bare-server.js`];

function compileApps(): void {
  rmSync(BUILD, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, '--outDir', BUILD, '--rootDir', root, '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node',
      `${root}example/server.ts`, `${root}example/app.ts`, `${root}bench/multi-server.ts`, `${root}bench/bare-server.ts`],
    { stdio: 'inherit' },
  );
  writeFileSync(`${BUILD}/package.json`, '{ "type": "module" }\n');
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    restarts: { type: 'string' },
    interval: { type: 'string', default: '1000' },
    steady: { type: 'string', default: '20' },
    modes: { type: 'string', default: 'keep-alive,close' },
    sweep: { type: 'boolean', default: false },
    soak: { type: 'string' },
    overhead: { type: 'boolean', default: false },
    name: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`usage: npm run bench -- [options]      (node --import tsx bench/run.ts [options])

The example server under load, restarted over and over; every figure side by side in one run.
Prints a report and writes bench/results/<name>.json and .svg.

  --quick              a short run: 5 s steady, 10 restarts per mode
  --connections N      load connections (default 50)
  --restarts N         restarts per mode (default 100, or 10 with --quick)
  --interval MS        pause between a handover and the next USR2 (default 1000)
  --steady S           seconds of load without restarts (default 20)
  --modes LIST         keep-alive,close (default both)
  --sweep              restart cost vs listeners and idle connections
  --soak N             N restarts under light load: fds, zombies, RSS
  --overhead           per-request cost: the same app with and without grace
  --name NAME          results file name (default: load, quick, sweep, soak or overhead)
  --help               this text
`);
  process.exit(0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => `${v.toFixed(0)} ms`;

async function main() {
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`;
  console.log(`grace bench on ${machine}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const result: Record<string, unknown> = { machine, date: new Date().toISOString(), args };
  compileApps();
  let name = args.name;
  if (args.overhead) {
    result.overhead = await overhead();
    name ??= 'overhead';
  } else if (args.soak) {
    result.soak = await soak(Number(args.soak));
    name ??= 'soak';
  } else if (args.sweep) {
    result.sweep = await sweep();
    name ??= 'sweep';
  } else {
    result.startup = await startupBaseline();
    const charts: ChartSeries[] = [];
    const modes: Record<string, unknown> = {};
    for (const mode of args.modes.split(',') as Array<'keep-alive' | 'close'>) {
      const { summary, chart } = await loadRun(mode);
      modes[mode] = summary;
      charts.push(chart);
    }
    result.modes = modes;
    name ??= args.quick ? 'quick' : 'load';
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(`${root}bench/results/${name}.svg`, renderChart(charts));
    console.log(`chart: bench/results/${name}.svg`);
  }
  mkdirSync(`${root}bench/results`, { recursive: true });
  writeFileSync(`${root}bench/results/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: bench/results/${name}.json`);
}

/** Bare start-up on an idle machine, for reference. */
async function startupBaseline() {
  const nodeOnly: number[] = [];
  const bareApp: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const empty = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(empty, 'exit');
    nodeOnly.push(performance.now() - start);
    bareApp.push(await bareStartup());
  }
  const summary = { nodeEmptyMs: median(nodeOnly), bareAppFirstResponseMs: median(bareApp) };
  console.log(
    `start-up on an idle machine: \`node -e 0\` ${ms(summary.nodeEmptyMs)}; the example app without grace, spawn -> first response ${ms(summary.bareAppFirstResponseMs)} (medians of 5)`,
  );
  return summary;
}

/** Spawn the example app without grace and time it to its first response. */
async function bareStartup(): Promise<number> {
  const start = performance.now();
  const app = spawn(process.execPath, BARE, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(app.stdout!.setEncoding('utf8'), 'data')) as [string];
  await request(Number(line.trim()));
  const elapsed = performance.now() - start;
  app.kill('SIGTERM');
  await once(app, 'exit');
  return elapsed;
}

async function loadRun(mode: 'keep-alive' | 'close') {
  const connections = Number(args.connections);
  const restartCount = Number(args.restarts ?? (args.quick ? 10 : 100));
  const interval = Number(args.interval);
  const steadyMs = Number(args.quick ? 5 : args.steady) * 1000;
  const keepAlive = mode === 'keep-alive';
  const server = new ServerProcess(EXAMPLE, { PORT: '0', HOST: '127.0.0.1' });
  try {
    await server.until(() => server.generations.length > 0);
    const port = server.port;
    const load = (signal: AbortSignal, origin?: number) => runLoad({ host: '127.0.0.1', port, connections, keepAlive, signal }, origin);
    await load(AbortSignal.timeout(2000)); // warm-up
    await sleep(1000); // let the warm-up's connections close, so fd counts compare
    const first = server.current!.pid;
    const before = { fds: openFds(first), zombies: zombiesOf([process.pid, first]) };

    const origin = performance.now();
    const rss: Array<{ t: number; kb: number; processes: number }> = [];
    const sampler = setInterval(() => {
      const pids = server.alivePids();
      rss.push({ t: performance.now() - origin, kb: pids.reduce((sum, pid) => sum + rssKb(pid), 0), processes: pids.length });
    }, 50);
    const steady = await load(AbortSignal.timeout(steadyMs), origin);
    const steadyEnd = performance.now() - origin;

    const stopLoad = new AbortController();
    const during = load(stopLoad.signal, origin);
    const restarts: Array<{ sentAt: number; pid: number }> = [];
    for (let i = 0; i < restartCount; i++) {
      await sleep(interval);
      const { sentAt, to } = await server.restart();
      restarts.push({ sentAt: sentAt - origin, pid: to.pid });
      process.stdout.write(`\r${mode}: restart ${i + 1}/${restartCount}`);
    }
    const last = server.current!.pid;
    await server.until(() => server.alivePids().length === 1);
    await sleep(interval);
    stopLoad.abort();
    const restartSamples = await during;
    const restartEnd = performance.now() - origin;
    // Side by side: the same app without grace, started while the same load runs.
    const stopBareLoad = new AbortController();
    const bareLoad = load(stopBareLoad.signal, origin);
    const bareUnderLoad: number[] = [];
    for (let i = 0; i < 10; i++) {
      await sleep(interval / 2);
      bareUnderLoad.push(await bareStartup());
    }
    stopBareLoad.abort();
    await bareLoad;
    clearInterval(sampler);
    process.stdout.write('\n');
    await sleep(200);
    const after = { fds: openFds(last), zombies: zombiesOf([process.pid, ...server.generations.map((g) => g.pid)]) };

    const summary = summarize(mode, {
      connections,
      steady,
      steadySeconds: steadyEnd / 1000,
      during: restartSamples,
      duringSeconds: (restartEnd - steadyEnd) / 1000,
      restarts,
      rss,
      steadyEnd,
      before,
      after,
      bareUnderLoad,
    });
    const chart = chartSeries(mode, connections, steady, restartSamples, restarts, steadyEnd);
    return { summary, chart };
  } finally {
    await server.stop();
  }
}

function summarize(
  mode: string,
  r: {
    connections: number;
    steady: Samples;
    steadySeconds: number;
    during: Samples;
    duringSeconds: number;
    restarts: Array<{ sentAt: number; pid: number }>;
    rss: Array<{ t: number; kb: number; processes: number }>;
    steadyEnd: number;
    before: { fds: number; zombies: number };
    after: { fds: number; zombies: number };
    bareUnderLoad: number[];
  },
) {
  const failures = Object.fromEntries(FAILURE_KINDS.map((k) => [k, r.during.failures(k)]));
  const totalFailures = r.during.failures();
  const firstResponse = r.restarts.map(({ sentAt, pid }) => {
    let best = Infinity;
    for (let i = 0; i < r.during.count; i++) {
      if (r.during.pid[i] === pid && r.during.failure[i] === null) best = Math.min(best, r.during.at[i]! + r.during.latency[i]! - sentAt);
    }
    return best;
  });
  const okLatency = (s: Samples) => s.latency.filter((_, i) => s.failure[i] === null);
  const steadyRss = r.rss.filter((x) => x.t < r.steadyEnd).map((x) => x.kb);
  const restartRss = r.rss.filter((x) => x.t >= r.steadyEnd);
  const summary = {
    mode,
    connections: r.connections,
    restarts: r.restarts.length,
    requests: r.during.count,
    failures,
    failuresTotal: totalFailures,
    failuresPerRestart: totalFailures / Math.max(1, r.restarts.length),
    steadyRequests: r.steady.count,
    steadyFailures: r.steady.failures(),
    latencyMs: {
      steady: { p50: percentile(okLatency(r.steady), 50), p99: percentile(okLatency(r.steady), 99) },
      restarts: { p50: percentile(okLatency(r.during), 50), p99: percentile(okLatency(r.during), 99) },
    },
    throughput: {
      steadyPerSecond: r.steady.count / r.steadySeconds,
      restartsPerSecond: r.during.count / r.duringSeconds,
      ratio: r.during.count / r.duringSeconds / (r.steady.count / r.steadySeconds),
      // Requests not served because of restarts, in seconds of full throughput per restart.
      costPerRestartSeconds: (r.steady.count / r.steadySeconds * r.duringSeconds - r.during.count) / (r.steady.count / r.steadySeconds) / Math.max(1, r.restarts.length),
    },
    usr2ToFirstNewResponseMs: { median: median(firstResponse), p90: percentile(firstResponse, 90) },
    bareStartupUnderLoadMs: { median: median(r.bareUnderLoad), p90: percentile(r.bareUnderLoad, 90) },
    rssKb: { oneProcess: median(steadyRss), peakDuringRestarts: Math.max(...restartRss.map((x) => x.kb)), peakProcesses: Math.max(...restartRss.map((x) => x.processes)) },
    fds: { before: r.before.fds, after: r.after.fds },
    zombies: { before: r.before.zombies, after: r.after.zombies },
    errors: Object.fromEntries(r.during.errors),
  };
  console.log(`
== ${mode}: ${r.connections} connections, ${summary.restarts} restarts (one every ~${args.interval} ms + handover)
requests during restarts   ${summary.requests}
failed                     ${totalFailures} (${FAILURE_KINDS.map((k) => `${k} ${failures[k]}`).join(', ')}); per restart ${summary.failuresPerRestart.toFixed(2)}
failed without restarts    ${summary.steadyFailures} of ${summary.steadyRequests}
latency p50 / p99          without restarts ${summary.latencyMs.steady.p50.toFixed(1)} / ${summary.latencyMs.steady.p99.toFixed(1)} ms; with restarts ${summary.latencyMs.restarts.p50.toFixed(1)} / ${summary.latencyMs.restarts.p99.toFixed(1)} ms
throughput                 without ${summary.throughput.steadyPerSecond.toFixed(0)} req/s, with restarts ${summary.throughput.restartsPerSecond.toFixed(0)} req/s: ratio ${summary.throughput.ratio.toFixed(3)}
cost of one restart        ${summary.throughput.costPerRestartSeconds.toFixed(2)} s of full throughput (a cold process starting and warming up on busy cores)
USR2 -> first new-pid reply median ${ms(summary.usr2ToFirstNewResponseMs.median)}, p90 ${ms(summary.usr2ToFirstNewResponseMs.p90)}
bare app spawn -> 1st reply median ${ms(summary.bareStartupUnderLoadMs.median)}, p90 ${ms(summary.bareStartupUnderLoadMs.p90)} (same load, no grace): grace adds ${ms(summary.usr2ToFirstNewResponseMs.median - summary.bareStartupUnderLoadMs.median)} at the median
RSS                        one process ${(summary.rssKb.oneProcess / 1024).toFixed(1)} MiB; peak during restarts ${(summary.rssKb.peakDuringRestarts / 1024).toFixed(1)} MiB over ${summary.rssKb.peakProcesses} processes
fds / zombies              before ${summary.fds.before} / ${summary.zombies.before}, after ${summary.fds.after} / ${summary.zombies.after}${Object.keys(summary.errors).length ? `\nerrors                     ${JSON.stringify(summary.errors)}` : ''}`);
  return summary;
}

function chartSeries(mode: string, connections: number, steady: Samples, during: Samples, restarts: Array<{ sentAt: number }>, steadyEnd: number): ChartSeries {
  const bucketMs = 250;
  const buckets = new Map<number, { latencies: number[]; failures: number }>();
  for (const s of [steady, during]) {
    for (let i = 0; i < s.count; i++) {
      const key = Math.floor((s.at[i]! + s.latency[i]!) / bucketMs);
      const bucket = buckets.get(key) ?? { latencies: [], failures: 0 };
      if (s.failure[i] === null) bucket.latencies.push(s.latency[i]!);
      else bucket.failures++;
      buckets.set(key, bucket);
    }
  }
  const keys = [...buckets.keys()].sort((a, b) => a - b);
  return {
    title: `${mode}: ${connections} connections, ${restarts.length} restarts`,
    bucketMs,
    buckets: keys.map((k) => ({ t: k * bucketMs, requests: buckets.get(k)!.latencies.length, p99: percentile(buckets.get(k)!.latencies, 99), failures: buckets.get(k)!.failures })),
    restarts: restarts.map((r) => r.sentAt),
    phaseBoundary: steadyEnd,
  };
}

/** Restart cost vs number of listeners and vs number of idle connections being drained. */
async function sweep() {
  const rows: Array<Record<string, number>> = [];
  console.log('\n== restart cost vs listeners (no load; medians of 3 restarts)');
  console.log('listeners  USR2->handover  USR2->old exit');
  for (const listeners of [1, 8, 64]) {
    const server = new ServerProcess(MULTI, { LISTENERS: String(listeners) });
    try {
      await server.until(() => server.generations.length > 0);
      const handover: number[] = [];
      const exit: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { sentAt, from, to } = await server.restart();
        await server.until(() => server.generations.find((g) => g.pid === from)?.exitedAt !== undefined);
        handover.push(to.handedOverAt! - sentAt);
        exit.push(server.generations.find((g) => g.pid === from)!.exitedAt! - sentAt);
      }
      rows.push({ listeners, handoverMs: median(handover), oldExitMs: median(exit) });
      console.log(`${String(listeners).padStart(9)}  ${ms(median(handover)).padStart(14)}  ${ms(median(exit)).padStart(14)}`);
    } finally {
      await server.stop();
    }
  }
  console.log('\n== restart cost vs idle keep-alive connections being drained (idleGrace 500 ms)');
  console.log('connections  USR2->handover  USR2->old exit  closed cleanly  reset  old RSS MiB');
  for (const count of [100, 1000, 10_000]) {
    const server = new ServerProcess(EXAMPLE, { PORT: '0', HOST: '127.0.0.1' });
    try {
      await server.until(() => server.generations.length > 0);
      const sockets = await openIdle(server.port, count);
      const from = server.current!.pid;
      const oldRss = rssKb(from) / 1024;
      let clean = 0;
      let reset = 0;
      for (const s of sockets) {
        s.on('end', () => clean++);
        s.on('error', () => reset++);
      }
      const { sentAt, to } = await server.restart();
      await server.until(() => server.generations.find((g) => g.pid === from)?.exitedAt !== undefined, 60_000);
      const exitMs = server.generations.find((g) => g.pid === from)!.exitedAt! - sentAt;
      await sleep(100);
      rows.push({ idleConnections: count, handoverMs: to.handedOverAt! - sentAt, oldExitMs: exitMs, closedCleanly: clean, reset, oldRssMiB: oldRss });
      console.log(
        `${String(count).padStart(11)}  ${ms(to.handedOverAt! - sentAt).padStart(14)}  ${ms(exitMs).padStart(14)}  ${String(clean).padStart(14)}  ${String(reset).padStart(5)}  ${oldRss.toFixed(1).padStart(11)}`,
      );
      for (const s of sockets) s.destroy();
    } finally {
      await server.stop();
    }
  }
  return rows;
}

/** Opens `count` connections that each complete one keep-alive request, then sit idle. */
async function openIdle(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const batch = 200;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const socket = net.connect(port, '127.0.0.1');
        sockets.push(socket);
        await once(socket, 'connect');
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await once(socket, 'data');
      }),
    );
  }
  return sockets;
}

/**
 * What grace costs per request when nothing restarts: the example app with
 * and without grace, same load, alternating rounds so drift hits both alike.
 */
async function overhead() {
  const connections = Number(args.connections);
  // Many short rounds: this machine's noise comes in bursts of seconds. The
  // client and the server each get a core of their own where taskset exists,
  // so the scheduler's placement does not decide the result.
  const rounds = args.quick ? 3 : 10;
  const seconds = 3;
  pin(process.pid, 0);
  const runs: Record<'bare' | 'grace', { rate: number[]; p50: number[]; p99: number[]; rssMiB: number[] }> = {
    bare: { rate: [], p50: [], p99: [], rssMiB: [] },
    grace: { rate: [], p50: [], p99: [], rssMiB: [] },
  };
  for (let round = 0; round < rounds; round++) {
    for (const which of ['bare', 'grace'] as const) {
      const { port, pid, stop } = which === 'bare' ? await startBare() : await startGrace();
      try {
        const load = (signal: AbortSignal) => runLoad({ host: '127.0.0.1', port, connections, keepAlive: true, signal });
        await load(AbortSignal.timeout(1500)); // warm-up
        const samples = await load(AbortSignal.timeout(seconds * 1000));
        runs[which].rate.push(samples.count / seconds);
        runs[which].p50.push(percentile(samples.latency, 50));
        runs[which].p99.push(percentile(samples.latency, 99));
        runs[which].rssMiB.push(rssKb(pid) / 1024);
      } finally {
        await stop();
      }
    }
  }
  const summary = Object.fromEntries(
    (['bare', 'grace'] as const).map((k) => [k, { reqPerSecond: median(runs[k].rate), p50Ms: median(runs[k].p50), p99Ms: median(runs[k].p99), rssMiB: median(runs[k].rssMiB) }]),
  ) as Record<'bare' | 'grace', { reqPerSecond: number; p50Ms: number; p99Ms: number; rssMiB: number }>;
  // Paired by round: each round ran both back to back, under the same conditions.
  const ratios = runs.grace.rate.map((rate, i) => rate / runs.bare.rate[i]!);
  const ratio = median(ratios);
  console.log(`
== overhead: keep-alive, ${connections} connections, ${rounds} alternating rounds of ${seconds} s (medians)
                 req/s    p50 ms   p99 ms   RSS MiB
without grace  ${summary.bare.reqPerSecond.toFixed(0).padStart(7)}  ${summary.bare.p50Ms.toFixed(2).padStart(7)}  ${summary.bare.p99Ms.toFixed(2).padStart(7)}  ${summary.bare.rssMiB.toFixed(1).padStart(8)}
with grace     ${summary.grace.reqPerSecond.toFixed(0).padStart(7)}  ${summary.grace.p50Ms.toFixed(2).padStart(7)}  ${summary.grace.p99Ms.toFixed(2).padStart(7)}  ${summary.grace.rssMiB.toFixed(1).padStart(8)}
throughput ratio (grace / bare), median of rounds: ${ratio.toFixed(3)} (rounds: ${ratios.map((r) => r.toFixed(3)).join(', ')})`);
  return { ...summary, ratio, ratios, runs };
}

function pin(pid: number, cpu: number): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
  } catch {
    // no taskset, or one core: run unpinned
  }
}

async function startBare() {
  const app = spawn(process.execPath, BARE, { stdio: ['ignore', 'pipe', 'inherit'] });
  pin(app.pid!, 1);
  const [line] = (await once(app.stdout!.setEncoding('utf8'), 'data')) as [string];
  return {
    port: Number(line.trim()),
    pid: app.pid!,
    stop: async () => {
      app.kill('SIGTERM');
      await once(app, 'exit');
    },
  };
}

async function startGrace() {
  const server = new ServerProcess(EXAMPLE, { PORT: '0', HOST: '127.0.0.1' });
  await server.until(() => server.generations.length > 0);
  pin(server.current!.pid, 1);
  return { port: server.port, pid: server.current!.pid, stop: () => server.stop() };
}

/** Many restarts under light load: fds, zombies and RSS must stay flat. */
async function soak(count: number) {
  const server = new ServerProcess(EXAMPLE, { PORT: '0', HOST: '127.0.0.1' });
  const rows: Array<Record<string, number>> = [];
  try {
    await server.until(() => server.generations.length > 0);
    const stopLoad = new AbortController();
    const during = runLoad({ host: '127.0.0.1', port: server.port, connections: 4, keepAlive: true, signal: stopLoad.signal });
    const record = (restarts: number) => {
      const pid = server.current!.pid;
      const row = {
        restarts,
        pid,
        fds: openFds(pid),
        rssMiB: Number((rssKb(pid) / 1024).toFixed(1)),
        zombies: zombiesOf([process.pid, ...server.generations.map((g) => g.pid)]),
        processes: server.alivePids().length,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    };
    await sleep(1000);
    record(0);
    for (let i = 1; i <= count; i++) {
      const { from } = await server.restart();
      await server.until(() => server.generations.find((g) => g.pid === from)?.exitedAt !== undefined);
      if (i % 50 === 0 || i === count) {
        await sleep(300);
        record(i);
      }
      // Keep the follow-up list short over a thousand generations.
      if (server.generations.length > 20) server.generations.splice(0, server.generations.length - 10);
    }
    stopLoad.abort();
    const samples = await during;
    const first = rows[0]!;
    const last = rows.at(-1)!;
    const summary = {
      restarts: count,
      requests: samples.count,
      failures: samples.failures(),
      errors: Object.fromEntries(samples.errors),
      first,
      last,
      rssMiBRange: [Math.min(...rows.map((r) => r.rssMiB)), Math.max(...rows.map((r) => r.rssMiB))],
      fdsRange: [Math.min(...rows.map((r) => r.fds)), Math.max(...rows.map((r) => r.fds))],
      maxZombies: Math.max(...rows.map((r) => r.zombies)),
      rows,
    };
    console.log(
      `\n== soak: ${count} restarts, ${samples.count} requests, ${summary.failures} failed; fds ${summary.fdsRange.join('..')}, RSS ${summary.rssMiBRange.join('..')} MiB, zombies at most ${summary.maxZombies}`,
    );
    return summary;
  } finally {
    await server.stop();
  }
}

function request(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

await main();
