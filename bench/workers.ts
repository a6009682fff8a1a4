// Issue #11's figures: `grace run --workers 2` beside PM2 cluster mode with 2
// instances, the same trivial handler (bench/workers-app.ts), driven by wrk
// (bench/wrk.ts), keep-alive and Connection: close:
//   - a baseline without reloads, and a reload every --interval ms for
//     --seconds: failed requests per reload, throughput with / without,
//     the reload command's duration (`grace reload` / `pm2 reload`);
//   - how evenly requests spread over the two workers (max/min, from each
//     worker's own count, written as it exits);
//   - 1 worker vs 2 (grace, keep-alive);
//   - with --soak: 200 rolling reloads of 2 workers under light load: the
//     supervisor's fds and RSS, the workers' RSS, zombies, failed requests;
//   - idle (--idle N turns, first): `grace reload` (the command a deploy
//     runs) of 2 and of 4 workers, with and without spares (--standby K =
//     workers), beside `node -e 0`, `grace --version` and `pm2 reload`, in
//     turns; and each reload again by its signal, followed in the pid file
//     every ms: what is left is the command's own share.
// grace is the package as built (npm run build: the bin, dist/cjs/cli.js, and
// dist/esm/index.js for the app); the app is compiled to JavaScript first
// (bench/.build/workers), so neither side pays for TypeScript at start-up. The
// load generator runs on the same machine as the servers and shares its cores.
//
// Baseline and reload runs alternate (--rounds pairs) so that load from
// elsewhere on the machine drifts into both alike.
//
//   npm run bench:workers -- [--seconds 20] [--rounds 2] [--interval 1000] [--targets grace,grace-standby2,pm2] [--idle 10] [--soak]
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, percentile, runLoad } from './load.ts';
import { freePort, Pm2Cluster } from './pm2.ts';
import { isAlive, openFds, rssKb, zombiesOf } from './server-process.ts';
import { resultsHeader } from './results-file.ts';
import { drive, type DriveResult } from './wrk.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    interval: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '50' },
    targets: { type: 'string', default: 'grace,grace-standby2,pm2' },
    idle: { type: 'string', default: '10' },
    once: { type: 'boolean', default: true },
    dist: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'keep-alive,close' },
    soak: { type: 'boolean', default: false },
    'soak-reloads': { type: 'string', default: '200' },
    'skip-main': { type: 'boolean', default: false },
    name: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`usage: npm run bench:workers -- [options]

grace run --workers 2 beside PM2 cluster mode (2 instances, private daemon), same handler, wrk
(or the Node generator without it). Prints a Markdown table and writes bench/results/NAME.json.

  --seconds S          each run's length (default 20)
  --interval MS        one reload every MS during the reload runs (default 1000)
  --connections N      wrk connections (default 50; 2 threads)
  --rounds N           baseline/reload pairs per target and mode, alternating (default 2)
  --targets LIST       grace,grace-surge2,grace-standby2,pm2 (default grace,grace-standby2,pm2; grace-surge2 is
                       --surge 2, grace-standby2 --standby 2: two parked spares, released together)
  --idle N             turns of the idle reloads of 2 and 4 workers, with and without spares (default 10; 0: none)
  --no-once            no window of --seconds with a single reload in its middle (each target and mode)
  --dist DIR           the built grace (its cjs/cli.js and esm/index.js); default: npm run build here
  --modes LIST         keep-alive,close (default both)
  --soak               also 200 rolling reloads of 2 workers under light load (fds, RSS, zombies, failures)
  --soak-reloads N     how many for --soak (default 200)
  --skip-main          only the soak
  --name NAME          results file name (default workers-node<major>)
  --help               this text
`);
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const BUILD = join(root, 'bench/.build/workers');
const DIST = args.dist ? resolve(args.dist) : join(root, 'dist');
const CLI = join(DIST, 'cjs/cli.js');
const GRACE_ENTRY = join(DIST, 'esm/index.js');
const APP = join(BUILD, 'bench/workers-app.js');
const seconds = Number(args.seconds);
const interval = Number(args.interval);
const connections = Number(args.connections);
type TargetName = 'grace' | 'grace-surge2' | 'grace-standby2' | 'pm2';
const targets = args.targets.split(',') as TargetName[];
const rounds = Number(args.rounds);
const modes = args.modes.split(',') as Array<'keep-alive' | 'close'>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

function compile(): void {
  if (!args.dist) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  rmSync(BUILD, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '--outDir', BUILD, '--rootDir', root, '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--strict', join(root, 'bench/workers-app.ts')],
    { stdio: 'inherit' },
  );
  writeFileSync(join(BUILD, 'package.json'), '{ "type": "module" }\n');
}

/** What both sides offer the bench. */
interface Target {
  url: string;
  /** One reload, to done; ms, and whether it succeeded. */
  reload(): Promise<{ ms: number; ok: boolean }>;
  /** Stops everything; resolves with each process's answered count. */
  stop(): Promise<Array<{ pid: number; answered: number }>>;
}

function readCounts(dir: string): Array<{ pid: number; answered: number }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number; answered: number });
}

class GraceTarget implements Target {
  readonly url: string;
  readonly pidFile: string;
  private constructor(
    readonly proc: ChildProcess,
    readonly dir: string,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}/`;
    this.pidFile = join(dir, 'grace.pid');
  }

  /** `surge` undefined: grace run's default (1, or with spares min(standby, workers)). */
  static async start(workers: number, surge: number | undefined, standby = 0): Promise<GraceTarget> {
    const dir = mkdtempSync(join(tmpdir(), 'grace-bench-workers-'));
    const stats = join(dir, 'stats');
    mkdirSync(stats);
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [CLI, 'run', '--listen', `127.0.0.1:${port}`, '--workers', String(workers), ...(surge ? ['--surge', String(surge)] : []), ...(standby ? ['--standby', String(standby)] : []), '--pid-file', join(dir, 'grace.pid'), '--', process.execPath, APP],
      { env: { ...process.env, STATS_DIR: stats, GRACE_ENTRY }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-20_000)));
    const target = new GraceTarget(proc, dir, port);
    const deadline = Date.now() + 30_000;
    while (target.servingWorkers().length < workers) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        // It goes with the bench: a supervisor left behind would retry its workers forever.
        proc.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`grace run did not start ${workers} workers:\n${log}`);
      }
      await sleep(20);
    }
    return target;
  }

  /** What the pid file says now (undefined while it cannot be read). */
  state(): { generation: number; state: string; workers: Array<{ pid: number; state: string; index: number }> } | undefined {
    try {
      return JSON.parse(readFileSync(this.pidFile, 'utf8').split('\n')[1]!.slice('grace '.length));
    } catch {
      return undefined;
    }
  }

  /** The pids serving now, from the pid file. */
  servingWorkers(): number[] {
    return (this.state()?.workers ?? []).filter((w) => w.state === 'serving').map((w) => w.pid);
  }

  /** Nothing starting, retiring or booting, and `spares` parked: a reload now starts from rest. */
  async quiet(spares: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const workers = this.state()?.workers ?? [];
      if (workers.every((w) => w.state === 'serving' || w.state === 'standby') && workers.filter((w) => w.state === 'standby').length === spares) return;
      if (Date.now() > deadline) throw new Error(`not quiet: ${JSON.stringify(workers)}`);
      await sleep(20);
    }
  }

  /** One reload by its signal, followed in the pid file every ms to where `grace reload` calls it done; ms. */
  async signalReload(): Promise<number> {
    const before = this.state()!;
    const old = before.workers.filter((w) => w.state === 'serving').map((w) => w.pid);
    const start = performance.now();
    process.kill(this.proc.pid!, 'SIGUSR2');
    const deadline = start + 60_000;
    while (performance.now() < deadline) {
      const now = this.state();
      if (now && now.generation > before.generation && now.state === 'serving' && old.every((pid) => !isAlive(pid))) return performance.now() - start;
      await sleep(1);
    }
    throw new Error('the reload by signal did not finish within 60 s');
  }

  reload(): Promise<{ ms: number; ok: boolean }> {
    const start = performance.now();
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, 'reload', '--pid-file', this.pidFile], { timeout: 60_000 }, (err) => resolve({ ms: performance.now() - start, ok: !err }));
    });
  }

  async stop(): Promise<Array<{ pid: number; answered: number }>> {
    try {
      if (this.proc.exitCode === null) {
        this.proc.kill('SIGTERM');
        await once(this.proc, 'exit');
      }
      return readCounts(join(this.dir, 'stats'));
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

class Pm2Target implements Target {
  private constructor(
    readonly cluster: Pm2Cluster,
    readonly dir: string,
  ) {}

  get url(): string {
    return this.cluster.url;
  }

  static async start(instances: number): Promise<Pm2Target> {
    const dir = mkdtempSync(join(tmpdir(), 'grace-bench-pm2-'));
    try {
      const cluster = await Pm2Cluster.start({ script: APP, instances, env: { PLAIN: '1', STATS_DIR: dir } });
      // It answers once one worker listens: wait for all of them, as grace's side does.
      const deadline = Date.now() + 30_000;
      while ((await cluster.workerPids()).length < instances && Date.now() < deadline) await sleep(100);
      await sleep(500);
      return new Pm2Target(cluster, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async reload(): Promise<{ ms: number; ok: boolean }> {
    try {
      return { ms: await this.cluster.reload(), ok: true };
    } catch {
      return { ms: NaN, ok: false };
    }
  }

  async stop(): Promise<Array<{ pid: number; answered: number }>> {
    try {
      // `pm2 stop` sends SIGINT: each worker writes its count as it exits.
      await this.cluster.pm2(['stop', this.cluster.name]).catch(() => '');
      return readCounts(this.dir);
    } finally {
      await this.cluster.kill();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

const start = (target: TargetName, workers: number): Promise<Target> =>
  target === 'pm2' ? Pm2Target.start(workers) : GraceTarget.start(workers, target === 'grace-surge2' ? 2 : undefined, target === 'grace-standby2' ? 2 : 0);

/** Without reloads, a reload every --interval ms, or one in the middle of the window. */
type Reloads = 'none' | 'every' | 'once';

interface Run {
  target: string;
  mode: string;
  kind: Reloads;
  workers: number;
  reloads: number;
  failedReloads: number;
  load: DriveResult;
  failed: number;
  reloadMs: number[];
  counts: number[];
}

const failedOf = (r: DriveResult) => r.socketErrors.total + r.non2xx;

/** One run: wrk for `seconds`, with a reload every `interval` ms, or one in its middle, if asked. */
async function measure(target: TargetName, mode: 'keep-alive' | 'close', workers: number, kind: Reloads): Promise<Run> {
  const withReloads = kind !== 'none';
  const t = await start(target, workers);
  const reloadMs: number[] = [];
  let failedReloads = 0;
  let load: DriveResult;
  let counts: number[] = [];
  try {
    await sleep(300);
    const stop = new AbortController();
    const driving = drive({ url: t.url, connections, keepAlive: mode === 'keep-alive', seconds, signal: stop.signal });
    if (kind === 'once') {
      await sleep((seconds * 1000) / 2);
      const { ms, ok } = await t.reload();
      if (ok) reloadMs.push(ms);
      else failedReloads++;
    } else if (withReloads) {
      const end = performance.now() + seconds * 1000 - interval;
      while (performance.now() < end) {
        const began = performance.now();
        const { ms, ok } = await t.reload();
        if (ok) reloadMs.push(ms);
        else failedReloads++;
        await sleep(Math.max(0, interval - (performance.now() - began)));
      }
    }
    load = await driving;
  } finally {
    counts = (await t.stop()).map((c) => c.answered);
  }
  const run: Run = { target, mode, kind, workers, reloads: reloadMs.length + failedReloads, failedReloads, load, failed: failedOf(load), reloadMs, counts };
  const spread = withReloads ? '' : `, spread ${f2(Math.max(...counts) / Math.min(...counts))} (${counts.join(' / ')})`;
  console.error(
    `${target} ×${workers} ${mode}${withReloads ? ` with ${run.reloads} reload${kind === 'once' ? ' in the middle' : 's'}` : ' baseline'}: ${load.requestsPerSecond.toFixed(0)} req/s, p99 ${load.latencyMs.p99.toFixed(1)} ms, ${run.failed} failed${withReloads ? `, reload median ${f2(median(reloadMs))} ms` : ''}${spread}`,
  );
  return run;
}

/** 200 rolling reloads of 2 workers under light keep-alive load: does anything grow? */
async function soak(reloads: number) {
  const t = await GraceTarget.start(2, undefined);
  const supervisor = t.proc.pid!;
  const rows: Array<{ reloads: number; fds: number; supervisorRssKb: number; workersRssKb: number; zombies: number }> = [];
  const sample = (n: number) => {
    const workers = t.servingWorkers();
    rows.push({ reloads: n, fds: openFds(supervisor), supervisorRssKb: rssKb(supervisor), workersRssKb: workers.reduce((a, pid) => a + rssKb(pid), 0), zombies: zombiesOf([supervisor]) });
  };
  const stop = new AbortController();
  const port = Number(new URL(t.url).port);
  const loading = runLoad({ host: '127.0.0.1', port, connections: 4, keepAlive: true, signal: stop.signal });
  const reloadMs: number[] = [];
  let failedReloads = 0;
  try {
    sample(0);
    for (let i = 1; i <= reloads; i++) {
      const { ms, ok } = await t.reload();
      if (ok) reloadMs.push(ms);
      else failedReloads++;
      if (i % 20 === 0) {
        sample(i);
        console.error(`soak: ${i} reloads, supervisor fds ${rows.at(-1)!.fds}, rss ${rows.at(-1)!.supervisorRssKb} kB, zombies ${rows.at(-1)!.zombies}`);
      }
    }
  } finally {
    stop.abort();
  }
  const samples = await loading;
  await t.stop();
  const alive = isAlive(supervisor);
  return { reloads, failedReloads, requests: samples.count, failedRequests: samples.failures(), reloadMedianMs: median(reloadMs), reloadP90Ms: percentile(reloadMs, 90), rows, supervisorAliveAfterStop: alive };
}

/** A spawned command's wall time, ms. */
async function timed(file: string, argv: string[]): Promise<number> {
  const start = performance.now();
  const child = spawn(file, argv, { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${file} ${argv.join(' ')} exited with ${code}`);
  return performance.now() - start;
}

const IDLE = [
  { name: 'grace ×2', workers: 2, standby: 0 },
  { name: 'grace ×2 --standby 2', workers: 2, standby: 2 },
  { name: 'grace ×4', workers: 4, standby: 0 },
  { name: 'grace ×4 --standby 4', workers: 4, standby: 4 },
] as const;

/**
 * Idle reloads in turns: node -e 0, grace --version, then for each fleet
 * (started once, at rest before each reload) `grace reload`, and a reload by
 * its signal followed in the pid file every ms; pm2 reload of 2 and of 4.
 */
async function idleReloads(turns: number, lines: string[]) {
  const graces: GraceTarget[] = [];
  const pm2s: Pm2Target[] = [];
  const cols = [...IDLE.map((c) => c.name), ...(targets.includes('pm2') ? ['PM2 ×2', 'PM2 ×4'] : [])];
  const command = new Map<string, number[]>(cols.map((c) => [c, []]));
  const bySignal = new Map<string, number[]>(IDLE.map((c) => [c.name, []]));
  const nodeEmpty: number[] = [];
  const version: number[] = [];
  try {
    for (const c of IDLE) graces.push(await GraceTarget.start(c.workers, undefined, c.standby));
    if (targets.includes('pm2')) for (const n of [2, 4]) pm2s.push(await Pm2Target.start(n));
    for (let turn = 0; turn < turns; turn++) {
      nodeEmpty.push(await timed(process.execPath, ['-e', '0']));
      version.push(await timed(process.execPath, [CLI, '--version']));
      for (const [i, c] of IDLE.entries()) {
        const g = graces[i]!;
        // The command and the signal alternate which goes first, turn by turn.
        for (const how of turn % 2 ? ['signal', 'command'] : ['command', 'signal']) {
          await g.quiet(c.standby);
          await sleep(200);
          if (how === 'command') command.get(c.name)!.push(await timed(process.execPath, [CLI, 'reload', '--pid-file', g.pidFile]));
          else bySignal.get(c.name)!.push(await g.signalReload());
        }
      }
      for (const [i, p] of pm2s.entries()) command.get(cols[IDLE.length + i]!)!.push((await p.reload()).ms);
      process.stderr.write(`\ridle reloads: turn ${turn + 1}/${turns}   `);
    }
  } finally {
    for (const g of graces) await g.stop();
    for (const p of pm2s) await p.stop();
  }
  process.stderr.write('\n');
  const range = (v: number[]) => `${median(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
  // Paired by turn: each figure ÷ that turn's node -e 0.
  const overNode = (v: number[]) => f2(median(v.map((ms, i) => ms / nodeEmpty[i]!)));
  const share = (name: string) => median(command.get(name)!) - median(bySignal.get(name)!);
  const medians = (m: Map<string, number[]>) => Object.fromEntries([...m].map(([name, v]) => [name, median(v)]));
  const idle = {
    // What the table below prints, as figures: medians of the turns.
    medianMs: { nodeEmpty: median(nodeEmpty), version: median(version), command: medians(command), bySignal: medians(bySignal) },
    nodeEmptyMs: nodeEmpty,
    versionMs: version,
    commandMs: Object.fromEntries(command),
    bySignalMs: Object.fromEntries(bySignal),
  };
  lines.push(
    `Idle, ${turns} turns (medians, ranges; ÷ node -e 0 paired by turn):`,
    '',
    `| figure | node -e 0 | grace --version | ${cols.join(' | ')} |`,
    `| --- | --- | --- | ${cols.map(() => '---').join(' | ')} |`,
    `| reload command, ms | ${range(nodeEmpty)} | ${range(version)} | ${cols.map((c) => range(command.get(c)!)).join(' | ')} |`,
    `| ÷ node -e 0 | 1 | ${overNode(version)} | ${cols.map((c) => overNode(command.get(c)!)).join(' | ')} |`,
    `| with spares ÷ without | | | – | ${f2(median(command.get(IDLE[1].name)!) / median(command.get(IDLE[0].name)!))} | – | ${f2(median(command.get(IDLE[3].name)!) / median(command.get(IDLE[2].name)!))} |${pm2s.length ? ' | |' : ''}`,
    `| the reload by its signal, followed every ms, ms | | | ${IDLE.map((c) => range(bySignal.get(c.name)!)).join(' | ')} |${pm2s.length ? ' | |' : ''}`,
    `| the command's own share (command − signal, medians), ms | | | ${IDLE.map((c) => share(c.name).toFixed(0)).join(' | ')} |${pm2s.length ? ' | |' : ''}`,
    '',
  );
  return idle;
}

compile();
const results: Record<string, unknown> = { ...resultsHeader(args), wrk: connections, seconds, interval };
const lines: string[] = [];
if (Number(args.idle) > 0) results.idle = await idleReloads(Number(args.idle), lines);
if (!args['skip-main']) {
  const runs: Run[] = [];
  // Targets alternate within each round, so that load from elsewhere drifts into all alike.
  for (const mode of modes) {
    for (let r = 0; r < rounds; r++) {
      for (const target of targets) {
        runs.push(await measure(target, mode, 2, 'none'));
        runs.push(await measure(target, mode, 2, 'every'));
        if (args.once) runs.push(await measure(target, mode, 2, 'once'));
      }
    }
  }
  const oneWorker = targets.includes('grace') ? await measure('grace', 'keep-alive', 1, 'none') : undefined;
  results.runs = runs;
  results.oneWorker = oneWorker;
  const title = (t: TargetName) =>
    t === 'grace' ? 'grace run --workers 2' : t === 'grace-surge2' ? 'grace run --workers 2 --surge 2' : t === 'grace-standby2' ? 'grace run --workers 2 --standby 2' : 'PM2 cluster ×2';
  lines.push(`| figure | ${targets.map(title).join(' | ')} |`, `| --- | ${targets.map(() => '---').join(' | ')} |`);
  const of = (target: string, mode: string) => ({
    bases: runs.filter((r) => r.target === target && r.mode === mode && r.kind === 'none'),
    reloads: runs.filter((r) => r.target === target && r.mode === mode && r.kind === 'every'),
    onces: runs.filter((r) => r.target === target && r.mode === mode && r.kind === 'once'),
  });
  const row = (label: string, f: (x: ReturnType<typeof of>) => string) => {
    for (const mode of modes) lines.push(`| ${label.replace('MODE', mode)} | ${targets.map((t) => f(of(t, mode))).join(' | ')} |`);
  };
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  row('failed requests per reload, MODE', ({ reloads, onces }) => {
    const failed = sum([...reloads, ...onces].map((r) => r.failed));
    const n = sum([...reloads, ...onces].map((r) => r.reloads));
    return `${f2(failed / Math.max(1, n))} (${failed} in ${n})`;
  });
  row('throughput with a reload every second / without, MODE (each round)', ({ bases, reloads }) =>
    reloads.map((r, i) => f2(r.load.requestsPerSecond / bases[i]!.load.requestsPerSecond)).join(', '),
  );
  row('p99 without / with a reload every second, MODE, ms (each round)', ({ bases, reloads }) =>
    reloads.map((r, i) => `${bases[i]!.load.latencyMs.p99.toFixed(1)} / ${r.load.latencyMs.p99.toFixed(1)}`).join(', '),
  );
  if (args.once) {
    row('one reload in the window: throughput / without, p99 ms, MODE (each round)', ({ bases, onces }) =>
      onces.map((r, i) => `${f2(r.load.requestsPerSecond / bases[i]!.load.requestsPerSecond)}, ${r.load.latencyMs.p99.toFixed(1)}`).join('; '),
    );
  }
  row('req/s without reloads, MODE', ({ bases }) => bases.map((b) => b.load.requestsPerSecond.toFixed(0)).join(', '));
  row('reload command, median (p90), MODE, ms', ({ reloads }) => {
    const ms = reloads.flatMap((r) => r.reloadMs);
    const failed = sum(reloads.map((r) => r.failedReloads));
    return `${median(ms).toFixed(0)} (${percentile(ms, 90).toFixed(0)})${failed ? `, ${failed} failed` : ''}`;
  });
  row('spread over workers, max/min, MODE (no reloads)', ({ bases }) => bases.map((b) => f2(Math.max(...b.counts) / Math.min(...b.counts))).join(', '));
  if (oneWorker) {
    const two = of('grace', 'keep-alive').bases.at(-1);
    if (two) lines.push(`| grace keep-alive throughput, 1 worker → 2 (last runs) | ${oneWorker.load.requestsPerSecond.toFixed(0)} → ${two.load.requestsPerSecond.toFixed(0)} req/s (×${f2(two.load.requestsPerSecond / oneWorker.load.requestsPerSecond)}) |`);
  }
  lines.push('', `${runs[0]?.load.toolVersion ?? ''}, -t2 -c${connections}, ${seconds} s per run, ${rounds} round(s) of the targets in turn (baseline, a reload every ${interval} ms (the next at once when one takes longer)${args.once ? ', one reload in the middle' : ''}); node ${process.version}, ${cpus().length} CPUs shared by the load generator and the servers; load average at the start ${(results.loadAverage as number[]).join(' ')}.`);
}
if (args.soak) {
  const s = await soak(Number(args['soak-reloads']));
  results.soak = s;
  lines.push(
    '',
    `Soak: ${s.reloads} rolling reloads of 2 workers under keep-alive load (4 connections): ${s.failedRequests} failed of ${s.requests} requests, ${s.failedReloads} failed reloads; reload (grace reload command) median ${s.reloadMedianMs.toFixed(0)} ms, p90 ${s.reloadP90Ms.toFixed(0)} ms.`,
    '',
    '| reloads | supervisor fds | supervisor RSS, MiB | workers RSS, MiB | zombies |',
    '| --- | --- | --- | --- | --- |',
    ...s.rows.map((r) => `| ${r.reloads} | ${r.fds} | ${(r.supervisorRssKb / 1024).toFixed(1)} | ${(r.workersRssKb / 1024).toFixed(1)} | ${r.zombies} |`),
  );
}
const name = args.name ?? `workers-node${process.versions.node.split('.')[0]}`;
writeFileSync(join(root, 'bench/results', `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
console.log(lines.join('\n'));
rmSync(BUILD, { recursive: true, force: true });
