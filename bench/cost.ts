// Issue #12's table in one run: what a restart costs, side by side against a
// bare node process and PM2's cluster reload, with the profile of one restart.
//
//   1. idle: `node -e 0`; the bare app spawned → its first answer; grace's
//      USR2 → first answer from the new pid (with the new generation's own
//      marks: node's bootstrap, loading grace, loading the app, the ready
//      hook, adopting; CPU at each); the same with a parked standby released
//      (grace-standby; each USR2 waits until the standby parked; its RSS and
//      CPU while parked); PM2's reload → first answer from a new pid.
//   2. under load (wrk when installed, else the Node generator: it says which):
//      for each mode and round, each target alone: throughput and p99 without
//      restarts, then with one restart every --interval ms, the ratio, the cost
//      of one restart in seconds of full throughput, socket errors and non-2xx.
//
//   npm run bench:cost [-- --quick] [-- --help]
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import * as nodeModule from 'node:module';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, percentile } from './load.ts';
import { freePort, Pm2Cluster } from './pm2.ts';
import { ServerProcess } from './server-process.ts';
import { drive, wrkVersion, type DriveResult } from './wrk.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    interval: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '10' },
    targets: { type: 'string' },
    modes: { type: 'string', default: 'keep-alive,close' },
    tool: { type: 'string', default: 'auto' },
    dist: { type: 'string' },
    base: { type: 'string' },
    'once-seconds': { type: 'string', default: '10' },
    name: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`usage: npm run bench:cost -- [options]     (node --import tsx bench/cost.ts [options])

Issue #12's figures side by side in one run: restart cost, throughput ratio and p99 with and
without restarts (keep-alive and Connection: close), USR2 -> first answer from the new pid
against a bare spawn of the same app, and the profile of one restart; for grace, grace with
warmUp, and PM2 cluster reload. Writes bench/results/<name>.json.

  --quick              1 round of 5 s, 5 idle restarts
  --seconds S          length of each load phase (default 10)
  --rounds N           alternating rounds per mode (default 3; 0: the idle figures alone)
  --connections N      load connections (default 50)
  --interval MS        pause after a restart before the next one (default 1000)
  --once-seconds S     and a window of S seconds with one restart in its middle (default 10; 0: none)
  --idle N             idle restarts for the start-up figures (default 10)
  --targets LIST       of grace, grace-warm (warmUp on; grace-warmN: N rounds), grace-nocache (NODE_DISABLE_COMPILE_CACHE=1),
                       grace-standby (standby: true), grace-standby-samenice (the same without CAP_SYS_NICE, via
                       setpriv: its standby boots at normal priority), pm2; default grace,grace-standby,grace-warm,pm2,
                       and grace-nocache where node has a compile cache (>= 22.1); the bare app always runs
  --modes LIST         keep-alive,close (default both)
  --tool auto|wrk|node load generator (default auto: wrk if installed)
  --dist DIR           the built grace to load (its esm/index.js); default: npm run build here
  --base DIR           another built grace (e.g. /work/main/dist): a target named TARGET@base loads it, so a
                       before/after runs side by side in one run (grace-standby,grace-standby@base)
  --name NAME          results file (default cost-node<major>, or cost-quick-node<major>)
  --help               this text

Node 22: npx -y -p node@22 node --import tsx bench/cost.ts
`);
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const BUILD = `${root}bench/.build-cost`;
const COST_APP = [`${BUILD}/bench/cost-app.js`];
const BARE = `${BUILD}/bench/bare-server.js`;
const seconds = Number(args.quick ? 5 : args.seconds);
const rounds = Number(args.quick ? 1 : args.rounds);
const idleCount = Number(args.quick ? 5 : args.idle);
const connections = Number(args.connections);
const interval = Number(args.interval);
const hasCompileCache = 'enableCompileCache' in nodeModule;
const targets = (args.targets ?? `grace,grace-standby,grace-warm,${hasCompileCache ? 'grace-nocache,' : ''}pm2`).split(',') as Target[];
const ENTRY = resolve(args.dist ?? `${root}dist`, 'esm/index.js');
const onceSeconds = Number(args['once-seconds']);
const modes = args.modes.split(',') as Mode[];
type Kind = 'grace' | 'grace-warm' | `grace-warm${number}` | 'grace-nocache' | 'grace-standby' | 'grace-standby-samenice' | 'pm2';
/** A kind of target, or the same with `@base`: it loads the grace of --base. */
type Target = Kind | `${Kind}@base`;
const kindOf = (target: Target): Kind => target.replace(/@base$/, '') as Kind;
/** The grace a target loads: --base's for TARGET@base. */
function entryOf(target: Target): string {
  if (!target.endsWith('@base')) return ENTRY;
  if (!args.base) throw new Error(`${target} needs --base DIR`);
  return resolve(args.base, 'esm/index.js');
}
type Mode = 'keep-alive' | 'close';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

function compileApps(): void {
  rmSync(BUILD, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, '--outDir', BUILD, '--rootDir', root, '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node',
      `${root}bench/cost-app.ts`, `${root}bench/bare-server.ts`],
    { stdio: 'inherit' },
  );
  writeFileSync(`${BUILD}/package.json`, '{ "type": "module" }\n');
}

/** GET / on a fresh connection: the pid that answered, or 0 on failure. */
function askPid(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => resolve(Number(/pid (\d+)/.exec(body)?.[1] ?? 0)));
      res.on('error', () => resolve(0));
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Polls until a pid other than `old` (and not 0) answers; resolves with it and when (epoch ms). */
async function firstAnswerNotFrom(port: number, old: number, timeoutMs = 30_000): Promise<{ pid: number; at: number }> {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    const pid = await askPid(port);
    if (pid !== 0 && pid !== old) return { pid, at: now() };
    await sleep(1);
  }
  throw new Error(`no answer from a pid other than ${old} within ${timeoutMs} ms`);
}

interface Marks {
  pid: number;
  timeOrigin: number;
  bootstrapComplete: number;
  marks: Array<{ name: string; at: number; cpuMs: number }>;
}
interface ExitReport {
  pid: number;
  drainCpuMs: number | null;
  cold: { count: number; mean: number; p50: number; p99: number; max: number };
  warm: { count: number; mean: number; p50: number; p99: number; max: number };
}

/** What the standbys of a grace-standby target did, from grace's debug lines. */
interface StandbyLog {
  booted: number[];
  parked: Set<number>;
  released: number;
  /** Of those, released while still booting (it ran once parked). */
  releasedBooting: number;
  /** Why a restart spawned afresh instead, each time. */
  fallbacks: string[];
}

/** A grace app under the bench: its marks and exit reports, read from stderr. */
function startGrace(target: Target) {
  const marks = new Map<number, Marks>();
  const exits = new Map<number, ExitReport>();
  const standby = target.startsWith('grace-standby');
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    GRACE_ENTRY: entryOf(target),
    WARM_UP: target.startsWith('grace-warm') ? '1' : '0',
    // grace-warm10: 10 rounds
    ...(/^grace-warm\d+$/.test(target) ? { WARM_UP_ROUNDS: target.slice('grace-warm'.length) } : {}),
    ...(target === 'grace-nocache' ? { NODE_DISABLE_COMPILE_CACHE: '1' } : {}),
    ...(standby ? { GRACE_STANDBY: '1', GRACE_DEBUG: '1' } : {}),
  };
  // Without CAP_SYS_NICE (root here has it) a lowered standby could not be restored: it boots at normal priority.
  const server = kindOf(target) === 'grace-standby-samenice'
    ? new ServerProcess(['--bounding-set', '-sys_nice', process.execPath, ...COST_APP], env, 'setpriv')
    : new ServerProcess(COST_APP, env);
  const standbys: StandbyLog = { booted: [], parked: new Set(), released: 0, releasedBooting: 0, fallbacks: [] };
  server.lineListeners.push((line) => {
    if (line.startsWith('bench-marks ')) {
      const m = JSON.parse(line.slice(12)) as Marks;
      marks.set(m.pid, m);
    } else if (line.startsWith('bench-exit ')) {
      const e = JSON.parse(line.slice(11)) as ExitReport;
      exits.set(e.pid, e);
    }
    let m: RegExpExecArray | null;
    if ((m = /booting standby pid (\d+)/.exec(line))) standbys.booted.push(Number(m[1]));
    else if ((m = /standby pid (\d+) parked/.exec(line))) standbys.parked.add(Number(m[1]));
    else if (/releasing standby pid/.test(line)) {
      standbys.released++;
      if (/still booting/.test(line)) standbys.releasedBooting++;
    }
    else if ((m = /standby pid \d+ not used: (.*); starting a fresh process/.exec(line))) standbys.fallbacks.push(m[1]!);
  });
  /** With a standby: until the newest one parked; its pid. */
  const standbyParked = async (): Promise<number | undefined> => {
    if (!standby) return undefined;
    await server.until(() => standbys.booted.length > 0 && standbys.parked.has(standbys.booted.at(-1)!));
    return standbys.booted.at(-1);
  };
  return { server, marks, exits, standbys, standbyParked };
}

/** A live process's resident memory in MB, from /proc. */
function rssMbOf(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- idle

/** CPU time a live process has used, in ms, from /proc (10 ms ticks). */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, at USER_HZ 100
  } catch {
    return NaN;
  }
}

const PHASES = [
  ['signal → exec', 'the old generation handles USR2, forks and execs node'],
  ['node bootstrap', "node's own start, to bootstrapComplete"],
  ['main module', 'ESM loader, the app module itself'],
  ['load grace', "import('grace-restart')"],
  ['load app', 'the app\'s own imports'],
  ['start() → ready hook', 'reading LISTEN_FDS, signal handlers'],
  ['ready hook → serving', 'warm-up (if on), adopting the sockets'],
  ['serving → first answer', 'ready pipe, old gen told to go, a poll lands on the new pid'],
] as const;

interface RestartProfile {
  total: number;
  phases: number[]; // ms, in PHASES order
  cpu: number[]; // CPU ms of the new process spent in each phase (NaN for the first and last)
  cpuTotal: number; // CPU ms of the new process from exec to serving
}

function profileOf(sentAt: number, firstAt: number, m: Marks): RestartProfile {
  const at = (name: string) => m.marks.find((x) => x.name === name)!;
  const [main, grace, app, ready, serving] = ['main', 'grace-loaded', 'app-loaded', 'ready-hook', 'serving'].map(at) as [Marks['marks'][0], Marks['marks'][0], Marks['marks'][0], Marks['marks'][0], Marks['marks'][0]];
  // A released standby booted before the signal: its boot counts as no time of the restart.
  const points = [sentAt, m.timeOrigin, m.bootstrapComplete, main.at, grace.at, app.at, ready.at, serving.at, firstAt].map((p) => Math.max(p, sentAt));
  const phases = points.slice(1).map((p, i) => p - points[i]!);
  // CPU before main is node's bootstrap plus the loader: counted on 'node bootstrap' + 'main module' together.
  const cpu = [NaN, main.cpuMs, NaN, grace.cpuMs - main.cpuMs, app.cpuMs - grace.cpuMs, ready.cpuMs - app.cpuMs, serving.cpuMs - ready.cpuMs, NaN];
  return { total: firstAt - sentAt, phases, cpu, cpuTotal: serving.cpuMs };
}

async function idle() {
  // Every target started once, then measured in turns (`node -e 0`, a bare
  // spawn, one restart of each), so each turn's figures share the machine's
  // moment: on a shared machine the load moves more between minutes than
  // between targets.
  const graces = new Map<Target, ReturnType<typeof startGrace>>();
  let cluster: Pm2Cluster | undefined;
  const nodeEmpty: number[] = [];
  const bare: number[] = [];
  const bareCpu: number[] = [];
  const pm2Times: number[] = [];
  const profiles = new Map<Target, RestartProfile[]>(targets.map((t) => [t, []]));
  const parkedCost = new Map<Target, Array<{ rssMb: number; bootCpuMs: number; parkedCpuMs: number }>>(targets.map((t) => [t, []]));
  try {
    for (const target of targets) {
      if (target === 'pm2') {
        cluster = await Pm2Cluster.start({ script: BARE, instances: 1 });
        continue;
      }
      const g = startGrace(target);
      graces.set(target, g);
      await g.server.until(() => g.server.generations.length > 0);
    }
    for (let i = 0; i < idleCount; i++) {
      let start = now();
      const empty = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
      await once(empty, 'exit');
      nodeEmpty.push(now() - start);
      const port = await freePort();
      start = now();
      const app = spawn(process.execPath, [BARE], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
      bare.push((await firstAnswerNotFrom(port, -1)).at - start);
      bareCpu.push(cpuMsOf(app.pid!));
      app.kill('SIGTERM');
      await once(app, 'exit');
      for (const target of targets) {
        await sleep(300);
        if (target === 'pm2') {
          const old = await askPid(cluster!.port);
          const sentAt = now();
          const reload = cluster!.reload();
          pm2Times.push((await firstAnswerNotFrom(cluster!.port, old)).at - sentAt);
          await reload;
          continue;
        }
        const { server, marks, standbyParked } = graces.get(target)!;
        const standby = await standbyParked();
        const bootCpuMs = standby === undefined ? NaN : cpuMsOf(standby);
        if (standby !== undefined) await sleep(200); // parked a while: what does it cost?
        if (standby !== undefined) parkedCost.get(target)!.push({ rssMb: rssMbOf(standby), bootCpuMs, parkedCpuMs: cpuMsOf(standby) - bootCpuMs });
        const old = server.current!.pid;
        const sentAt = now();
        process.kill(old, 'SIGUSR2');
        const { pid, at } = await firstAnswerNotFrom(server.port, old);
        await server.until(() => marks.has(pid) && server.generations.some((g) => g.pid === old && g.exitedAt !== undefined));
        profiles.get(target)!.push(profileOf(sentAt, at, marks.get(pid)!));
      }
    }
  } finally {
    for (const { server } of graces.values()) await server.stop();
    await cluster?.kill();
  }
  await sleep(200);
  const result: Record<string, unknown> = { nodeEmptyMs: median(nodeEmpty), bareSpawnToFirstAnswerMs: median(bare), bareCpuToFirstAnswerMs: median(bareCpu) };
  console.log(`\n== idle start-up (medians of ${idleCount} turns; in each: node -e 0, a bare spawn, one restart of each target)`);
  console.log(`node -e 0                                  ${f1(median(nodeEmpty))} ms`);
  console.log(`bare app: spawn → first answer             ${f1(median(bare))} ms; its CPU by then ${f0(median(bareCpu))} ms (/proc, 10 ms ticks)`);
  for (const target of targets) {
    if (target === 'pm2') {
      result.pm2ReloadToFirstAnswerMs = median(pm2Times);
      console.log(`pm2 reload → first answer from new pid     ${f1(median(pm2Times))} ms`);
      continue;
    }
    const list = profiles.get(target)!;
    const phases = PHASES.map((_, i) => median(list.map((p) => p.phases[i]!)));
    const cpu = PHASES.map((_, i) => median(list.map((p) => p.cpu[i]!)));
    const drain = [...graces.get(target)!.exits.values()].map((e) => e.drainCpuMs).filter((v): v is number => v !== null);
    const total = median(list.map((p) => p.total));
    // Paired by turn: this restart minus the bare spawn of the same turn.
    const overBare = median(list.map((p, i) => p.total - bare[i]!));
    const vsBare = median(list.map((p, i) => p.total / bare[i]!));
    const { standbys } = graces.get(target)!;
    const parked = parkedCost.get(target)!;
    result[target] = {
      signalToFirstAnswerMs: total,
      overBareSameTurnMs: overBare,
      vsBareSameTurn: vsBare,
      ...(target.startsWith('grace-standby')
        ? {
            standby: {
              released: standbys.released,
              fallbacks: standbys.fallbacks,
              parkedRssMb: median(parked.map((c) => c.rssMb)),
              bootCpuMs: median(parked.map((c) => c.bootCpuMs)),
              parkedCpuMsPer200ms: median(parked.map((c) => c.parkedCpuMs)),
            },
          }
        : {}),
      phases: Object.fromEntries(PHASES.map(([n], i) => [n, { ms: phases[i], cpuMs: cpu[i] }])),
      cpuToServingMs: median(list.map((p) => p.cpuTotal)),
      oldDrainCpuMs: median(drain),
    };
    console.log(`${target}: USR2 → first answer from new pid ${' '.repeat(Math.max(0, 10 - target.length))}${f1(total)} ms; over the same turn's bare spawn ${f1(overBare)} ms, ${f2(vsBare)}× it`);
    if (target.startsWith('grace-standby')) {
      console.log(`    standby released ${standbys.released}×, fell back ${standbys.fallbacks.length}×${standbys.fallbacks.length ? ` (${[...new Set(standbys.fallbacks)].join('; ')})` : ''}; parked: RSS ${f1(median(parked.map((c) => c.rssMb)))} MB, boot CPU ${f0(median(parked.map((c) => c.bootCpuMs)))} ms, CPU while parked 200 ms ${f0(median(parked.map((c) => c.parkedCpuMs)))} ms`);
    }
    for (const [i, [name, what]] of PHASES.entries()) {
      console.log(`    ${name.padEnd(24)} ${f1(phases[i]!).padStart(6)} ms  cpu ${i === 1 ? `${f1(cpu[i]!)} (to main)` : f1(cpu[i]!)}  ${what}`);
    }
    console.log(`    new generation's CPU from exec to serving ${f1(median(list.map((p) => p.cpuTotal)))} ms; old generation's CPU while draining (idle) ${f1(median(drain))} ms`);
    // The CPU one restart costs, by process: a standby's boot was spent before the signal (its own figure, /proc's 10 ms ticks).
    const spareBoot = target.startsWith('grace-standby') ? median(parked.map((c) => c.bootCpuMs)) : 0;
    const perRestart = { newMs: median(list.map((p) => p.cpuTotal)) - spareBoot, oldMs: median(drain), spareMs: spareBoot };
    (result[target] as Record<string, unknown>).cpuOfOneRestart = perRestart;
    console.log(`    CPU of one restart: the new ${f1(perRestart.newMs)} ms after the signal, the old ${f1(perRestart.oldMs)} ms draining, the spare ${f0(perRestart.spareMs)} ms booting before it`);
  }
  return result;
}

// ---------------------------------------------------------------- load

interface Running {
  url: string;
  /** The server's last log lines, kept when a round saw socket errors. */
  log?: () => string[];
  restart: (() => Promise<void>) | undefined;
  stop: () => Promise<void>;
  exits?: Map<number, ExitReport>;
  standbys?: StandbyLog;
}

async function run(target: Target | 'bare'): Promise<Running> {
  if (target === 'bare') {
    const port = await freePort();
    const app = spawn(process.execPath, [BARE], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
    await firstAnswerNotFrom(port, -1);
    return {
      url: `http://127.0.0.1:${port}/`,
      restart: undefined,
      stop: async () => {
        app.kill('SIGTERM');
        await once(app, 'exit');
      },
    };
  }
  if (target === 'pm2') {
    const cluster = await Pm2Cluster.start({ script: BARE, instances: 1 });
    return { url: cluster.url, restart: async () => void (await cluster.reload()), stop: () => cluster.kill() };
  }
  const { server, exits, standbys } = startGrace(target);
  await server.until(() => server.generations.length > 0);
  return {
    url: `http://127.0.0.1:${server.port}/`,
    restart: async () => void (await server.restart()),
    stop: () => server.stop(),
    exits,
    ...(target.startsWith('grace-standby') ? { standbys } : {}),
    log: () => server.log.slice(-40),
  };
}

interface Round {
  steady: DriveResult;
  during?: DriveResult;
  /** --once-seconds: a window with one restart in its middle. */
  once?: DriveResult;
  restarts?: number;
  ratio?: number;
  costSeconds?: number;
  cold?: { p99: number; mean: number };
  warm?: { p99: number; mean: number };
  log?: string[];
  /** grace-standby: restarts by a released standby, and by a fresh spawn instead (it was not parked yet, say). */
  standby?: { released: number; releasedBooting: number; fallbacks: number };
}

async function loadRound(target: Target | 'bare', mode: Mode): Promise<Round> {
  const running = await run(target);
  const keepAlive = mode === 'keep-alive';
  const load = (s: number, tool = args.tool) => drive({ url: running.url, connections, keepAlive, seconds: s, tool: tool as 'auto' });
  try {
    await load(2); // warm-up
    const steady = await load(seconds);
    if (!running.restart) return { steady };
    let finished = false;
    const pending = load(seconds).finally(() => (finished = true));
    let restarts = 0;
    while (!finished) {
      await sleep(interval);
      if (finished) break;
      await running.restart();
      restarts++;
    }
    const during = await pending;
    // One restart in a window: what a deploy costs a client, beside a restart every second.
    let once: DriveResult | undefined;
    if (onceSeconds > 0) {
      await sleep(interval);
      const window = load(onceSeconds);
      await sleep((onceSeconds * 1000) / 2);
      await running.restart();
      restarts++;
      once = await window;
    }
    const released = running.standbys?.released ?? 0;
    const releasedBooting = running.standbys?.releasedBooting ?? 0;
    const fallbacks = running.standbys?.fallbacks.length ?? 0;
    const ratio = during.requestsPerSecond / steady.requestsPerSecond;
    const costSeconds = (steady.requestsPerSecond * (during.durationMs / 1000) - during.requests) / steady.requestsPerSecond / Math.max(1, restarts);
    await sleep(1500); // the last old generation drains and reports
    const reports = running.exits ? [...running.exits.values()].filter((e) => e.cold.count > 0) : [];
    return {
      steady,
      during,
      ...(once ? { once } : {}),
      restarts,
      ratio,
      costSeconds,
      ...(running.standbys ? { standby: { released, releasedBooting, fallbacks } } : {}),
      ...(during.socketErrors.total > 0 && running.log ? { log: running.log() } : {}),
      ...(reports.length
        ? { cold: { p99: median(reports.map((r) => r.cold.p99)), mean: median(reports.map((r) => r.cold.mean)) }, warm: { p99: median(reports.filter((r) => r.warm.count > 100).map((r) => r.warm.p99)), mean: median(reports.filter((r) => r.warm.count > 100).map((r) => r.warm.mean)) } }
        : {}),
    };
  } finally {
    await running.stop();
  }
}

async function underLoad() {
  const all: Record<string, Record<string, Round[]>> = {};
  for (const mode of modes) {
    for (let round = 0; round < rounds; round++) {
      for (const target of ['bare', ...targets] as const) {
        process.stdout.write(`\r${mode}: round ${round + 1}/${rounds}, ${target}          `);
        const r = await loadRound(target, mode);
        ((all[mode] ??= {})[target] ??= []).push(r);
      }
    }
  }
  process.stdout.write('\n');
  const summary: Record<string, Record<string, Record<string, number>>> = {};
  for (const mode of modes) {
    console.log(`\n== ${mode}: ${connections} connections, ${rounds} round(s) of ${seconds} s without and ${seconds} s with a restart every ~${interval} ms (medians of rounds; ranges)`);
    console.log(`${''.padEnd(11)} ${'req/s without'.padStart(13)} ${'with'.padStart(7)}  ${'ratio'.padEnd(17)} ${'cost/restart s'.padEnd(17)} ${'p99 ms without'.padStart(14)} ${'with'.padStart(6)}  ${'errors'.padStart(6)} ${'non-2xx'.padStart(7)}  server-side first 500 req / later: p99 ms`);
    for (const target of ['bare', ...targets]) {
      const rs = all[mode]![target]!;
      const range = (v: number[], f: (n: number) => string) => (v.length > 1 ? `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})` : f(v[0]!));
      const s = {
        steadyRps: median(rs.map((r) => r.steady.requestsPerSecond)),
        duringRps: median(rs.map((r) => r.during?.requestsPerSecond ?? NaN)),
        ratio: median(rs.map((r) => r.ratio ?? NaN)),
        costSeconds: median(rs.map((r) => r.costSeconds ?? NaN)),
        steadyP99: median(rs.map((r) => r.steady.latencyMs.p99)),
        duringP99: median(rs.map((r) => r.during?.latencyMs.p99 ?? NaN)),
        onceRatio: median(rs.map((r) => (r.once ? r.once.requestsPerSecond / r.steady.requestsPerSecond : NaN))),
        onceP99: median(rs.map((r) => r.once?.latencyMs.p99 ?? NaN)),
        errors: rs.reduce((a, r) => a + (r.during?.socketErrors.total ?? 0) + (r.once?.socketErrors.total ?? 0), 0),
        non2xx: rs.reduce((a, r) => a + (r.during?.non2xx ?? 0) + (r.once?.non2xx ?? 0), 0),
        restarts: rs.reduce((a, r) => a + (r.restarts ?? 0), 0),
        coldP99: median(rs.map((r) => r.cold?.p99 ?? NaN)),
        warmP99: median(rs.map((r) => r.warm?.p99 ?? NaN)),
        standbyReleased: rs.reduce((a, r) => a + (r.standby?.released ?? 0), 0),
        standbyReleasedBooting: rs.reduce((a, r) => a + (r.standby?.releasedBooting ?? 0), 0),
        standbyFallbacks: rs.reduce((a, r) => a + (r.standby?.fallbacks ?? 0), 0),
      };
      (summary[mode] ??= {})[target] = s;
      const restarting = rs[0]!.during !== undefined;
      console.log(
        `${target.padEnd(11)} ${f0(s.steadyRps).padStart(13)} ${f0(s.duringRps).padStart(7)}  ${(restarting ? range(rs.map((r) => r.ratio!), f2) : '').padEnd(17)} ${(restarting ? range(rs.map((r) => r.costSeconds!), f2) : '').padEnd(17)} ${f1(s.steadyP99).padStart(14)} ${f1(s.duringP99).padStart(6)}  ${(restarting ? String(s.errors) : '').padStart(6)} ${(restarting ? String(s.non2xx) : '').padStart(7)}  ${Number.isFinite(s.coldP99) ? `${f2(s.coldP99)} / ${f2(s.warmP99)}` : ''}`,
      );
      if (restarting && onceSeconds > 0) console.log(`${''.padEnd(11)} one restart in ${onceSeconds} s: throughput ÷ without ${range(rs.map((r) => r.once!.requestsPerSecond / r.steady.requestsPerSecond), f2)}, p99 ${range(rs.map((r) => r.once!.latencyMs.p99), f1)} ms`);
      if (target.startsWith('grace-standby')) console.log(`${''.padEnd(11)} (restarts by the released standby: ${s.standbyReleased}, of which still booting when released: ${s.standbyReleasedBooting}; by a fresh spawn, the standby gone or unfit: ${s.standbyFallbacks})`);
    }
  }
  return { summary, rounds: all };
}

async function main() {
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${os.platform()} ${os.release()}, node ${process.version}`;
  const tool = args.tool === 'node' ? undefined : wrkVersion();
  const generator = tool ? `${tool}, -t2 -c${connections}` : `the bench's Node generator (bench/load.ts), ${connections} connections${args.tool === 'node' ? '' : ': wrk is not installed'}`;
  console.log(`grace restart cost on ${machine}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`load generator: ${generator}`);
  if (!args.dist) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  console.log(`grace: ${ENTRY}`);
  compileApps();
  const result: Record<string, unknown> = { machine, date: new Date().toISOString(), generator, args };
  try {
    result.idle = await idle();
    if (rounds > 0) result.load = await underLoad();
  } finally {
    rmSync(BUILD, { recursive: true, force: true });
  }
  const name = args.name ?? `cost-${args.quick ? 'quick-' : ''}node${process.versions.node.split('.')[0]}`;
  mkdirSync(`${root}bench/results`, { recursive: true });
  writeFileSync(`${root}bench/results/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: bench/results/${name}.json`);
}

await main();
