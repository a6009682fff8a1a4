// Issue #20's side-by-side trial: the daily tasks of an operator, done once
// with PM2 in cluster mode (2 instances, a private daemon: bench/pm2.ts) and
// once with `grace run --workers 2`, on the same app (bench/pm2-trial-app.ts:
// a plain listen(PORT) under PM2, gracehttp.serve under grace). One table
// row per task, each tool's result:
//    1 start: time to the first answer, and to both workers answering
//    2 reload under load (keep-alive, 8 connections, 3 reloads): failed requests
//    3 a broken release (the app throws at start): the reload's exit status, does the old code serve
//    4 an env file edited between reloads: does the new value reach the workers
//    5 stop with a request in flight: does it finish, does the command wait for the exit
//    6 logs: can you tell which worker wrote a line
//    7 scale 2 → 3 → 2 under load: failed requests
//    8 status, right after the broken release: does it say what happened
//    9 a hung worker (busy loop): is it replaced (grace run --watchdog 2000)
//   10 why the release failed: does the reload command show the app's error
// The app and grace's CLI are bundled with esbuild first (neither side pays
// tsx's loader); a "release" is that bundle rewritten in place, as a deploy
// would. Everything runs on loopback on free ports, each step bounded; the
// PM2 daemon and grace's supervisor and workers are killed by pid at the
// end (also on failure, or past the 5-minute bound) and the temp dir removed.
//
//   node --import tsx bench/pm2-trial.ts [--name pm2-trial-node20]
// Prints the table (Markdown) and writes bench/results/NAME.json.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, parseEnv, stripVTControlCharacters } from 'node:util';
import { runLoad, type Samples } from './load.ts';
import { freePort, Pm2Cluster } from './pm2.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';
import { isAlive } from './server-process.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';

const { values: args } = parseArgs({ options: { name: { type: 'string', default: `pm2-trial-node${nodeMajor}` }, help: { type: 'boolean', default: false } } });
if (args.help) {
  process.stdout.write('usage: node --import tsx bench/pm2-trial.ts [--name NAME]\n\nPM2 cluster ×2 beside grace run --workers 2, ten daily tasks; prints a Markdown table, writes bench/results/NAME.json.\n');
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(os.tmpdir(), 'grace-pm2-trial-'));
const CLI = join(dir, 'cli.mjs');
const APP = join(dir, 'app.mjs');
const ENV_FILE = join(dir, '.env');
const PID_FILE = join(dir, 'grace.pid');
const SLOW_MS = 2500;
const WATCHDOG_MS = 2000;
const ERROR_TEXT = 'PAYMENT_KEY is not set';
const BROKEN = `throw new Error('release 2 cannot start: ${ERROR_TEXT}');\n`;
const header = resultsHeader(args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const bundle = (entry: string, out: string) =>
  execFileSync(join(root, 'node_modules/.bin/esbuild'), [join(root, entry), '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${out}`, '--log-level=warning']);
bundle('src/cli.ts', CLI);
bundle('bench/pm2-trial-app.ts', APP);
const GOOD = readFileSync(APP, 'utf8');

// ---- what both sides share: requests, load, probes ----

interface Answer {
  ok: boolean;
  pid: number;
  config: string;
  error?: string;
}

/** One request on its own connection (Connection: close), bounded. */
function get(port: number, path = '/', timeoutMs = 2000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        const m = /pid (\d+) config (\S+)/.exec(body);
        resolve({ ok: res.statusCode === 200 && m !== null, pid: Number(m?.[1] ?? 0), config: m?.[2] ?? '' });
      });
      res.on('error', (err) => resolve({ ok: false, pid: 0, config: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ ok: false, pid: 0, config: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

/** ms until the port answers 200, or throws. */
async function untilAnswers(port: number, since: number, timeoutMs = 30_000): Promise<number> {
  while (performance.now() - since < timeoutMs) {
    if ((await get(port, '/', 1000)).ok) return performance.now() - since;
    await sleep(20);
  }
  throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms`);
}

/** Asks until `want` distinct workers answered (or 80 tries): each worker's pid → its TRIAL_CONFIG. */
async function probeWorkers(port: number, want: number): Promise<Map<number, string>> {
  const seen = new Map<number, string>();
  for (let i = 0; i < 80 && seen.size < want; i++) {
    const a = await get(port);
    if (a.ok) seen.set(a.pid, a.config);
  }
  return seen;
}

interface LoadFigures {
  requests: number;
  failed: number;
  errors: Record<string, number>;
}

/** Closed-loop load (bench/load.ts) while `during` runs, and `tailMs` after it. */
async function underLoad<T>(port: number, load: { keepAlive: boolean; connections: number; timeoutMs?: number }, during: () => Promise<T>, tailMs: number): Promise<{ load: LoadFigures; result: T }> {
  const stop = new AbortController();
  const loading = runLoad({ host: '127.0.0.1', port, ...load, signal: stop.signal });
  let result: T;
  try {
    await sleep(300);
    result = await during();
    await sleep(tailMs);
  } finally {
    stop.abort();
  }
  return { load: figures(await loading), result };
}

function figures(samples: Samples): LoadFigures {
  return { requests: samples.count, failed: samples.failures(), errors: Object.fromEntries(samples.errors) };
}

const failedOf = (l: LoadFigures) => `${l.failed} failed of ${l.requests}`;

/** A request whose headers come at once and whose body comes SLOW_MS later: in flight once `started` resolves. */
function slowRequest(port: number): { started: Promise<void>; done: Promise<string> } {
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<string>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
      started();
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(/pid \d+/.test(body) ? 'finished (200, whole body)' : `ended without its body`));
      res.on('error', (err) => resolve(`cut (${(err as NodeJS.ErrnoException).code ?? err.message})`));
      res.on('aborted', () => resolve('cut (aborted)'));
    });
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => {
      started();
      resolve(`cut (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
  });
  return { started: startedP, done };
}

interface Command {
  command: string;
  code: number | 'non-zero';
  ms: number;
  out: string;
}

/** A grace CLI command: exit status, time, what it printed (stdout and stderr). */
function grace(...cliArgs: string[]): Promise<Command> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...cliArgs], { timeout: 60_000, cwd: dir }, (err, stdout, stderr) =>
      resolve({ command: `grace ${cliArgs.join(' ')}`, code: err ? (typeof err.code === 'number' ? err.code : 'non-zero') : 0, ms: performance.now() - start, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

/** A pm2 command on the private daemon (bench/pm2.ts resolves with stdout or rejects, so the status is 0 or not). */
async function pm2(cluster: Pm2Cluster, ...pm2Args: string[]): Promise<Command> {
  const start = performance.now();
  const command = `pm2 ${pm2Args.join(' ')}`;
  try {
    const out = await cluster.pm2(pm2Args, 60_000);
    return { command, code: 0, ms: performance.now() - start, out: stripVTControlCharacters(out).trim() };
  } catch (err) {
    return { command, code: 'non-zero', ms: performance.now() - start, out: stripVTControlCharacters((err as Error).message).trim() };
  }
}

const exit = (c: Command) => `exit ${c.code}`;
const lastLines = (text: string, n = 14) => text.split('\n').slice(-n);

// ---- the trial ----

type Task = 'start' | 'reload' | 'broken' | 'env' | 'stop' | 'logs' | 'scale' | 'status' | 'hang' | 'why';
const TASKS: Array<[Task, string]> = [
  ['start', '1. start 2 workers: first answer / both answer'],
  ['reload', '2. 3 reloads under keep-alive load (8 conns)'],
  ['broken', '3. broken release (app throws at start)'],
  ['env', '4. env file edited, then reload'],
  ['stop', '5. stop with a request in flight'],
  ['logs', '6. logs: which worker wrote a line'],
  ['scale', '7. scale 2 → 3 → 2 under load'],
  ['status', '8. status after the broken release'],
  ['hang', '9. a hung worker (busy loop)'],
  ['why', '10. why the release failed, in the reload output'],
];
interface Outcome {
  cell: string;
  [detail: string]: unknown;
}
type Side = Partial<Record<Task, Outcome>> & { commands?: string[] };
const results: { pm2: Side; grace: Side } = { pm2: {}, grace: {} };
const cleanups: Array<() => Promise<void>> = [];

function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

async function trialPm2(): Promise<void> {
  const r = results.pm2;
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v1\n');
  // As `set -a; . ./.env; pm2 start …`: the file's values in the pm2 command's environment.
  const env: NodeJS.ProcessEnv = { PLAIN: '1', SLOW_MS: String(SLOW_MS), ...parseEnv(readFileSync(ENV_FILE, 'utf8')) };
  const t0 = performance.now();
  const cluster = await Pm2Cluster.start({ script: APP, instances: 2, env });
  cleanups.push(() => cluster.kill());
  const first = performance.now() - t0;
  const port = cluster.port;
  const deadline = performance.now() + 30_000;
  while ((await cluster.workerPids()).length < 2 || (await probeWorkers(port, 2)).size < 2) {
    if (performance.now() > deadline) throw new Error('pm2: 2 workers did not answer within 30 s');
    await sleep(20);
  }
  const both = performance.now() - t0;
  const version = (await cluster.pm2(['--version'])).trim().split('\n').at(-1) ?? '';
  r.commands = [
    `PM2_HOME=<tmp> PORT=<free> PLAIN=1 TRIAL_CONFIG=v1 pm2 start app.mjs --name ${cluster.name} -i 2 --no-autorestart   (bench/pm2.ts; daemon spawned by it)`,
  ];
  r.start = { cell: `${s(first)} / ${s(both)} (daemon start included)`, firstAnswerMs: first, bothMs: both, pm2: version };
  console.error(`pm2 ${version}: start ${r.start.cell}`);

  // 2. reloads under load
  const reloads = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const cmds: Command[] = [];
    for (let i = 0; i < 3; i++) {
      cmds.push(await pm2(cluster, 'reload', cluster.name));
      await sleep(700);
    }
    return cmds;
  }, 800);
  r.reload = { cell: `${failedOf(reloads.load)} (${reloads.result.map(exit).join(', ')})`, ...reloads.load, reloadMs: reloads.result.map((c) => c.ms) };
  console.error(`pm2: reloads under load: ${r.reload.cell}`);

  // 4. an env file edited: a plain reload, then one with --update-env (the file re-sourced into the shell for both)
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v2\n');
  Object.assign(env, parseEnv(readFileSync(ENV_FILE, 'utf8')));
  const plain = await pm2(cluster, 'reload', cluster.name);
  const plainSeen = [...(await probeWorkers(port, 2)).values()];
  const updated = await pm2(cluster, 'reload', cluster.name, '--update-env');
  const updatedSeen = [...(await probeWorkers(port, 2)).values()];
  r.env = {
    cell: `\`pm2 reload\`: ${plainSeen.join(', ')} (old); \`pm2 reload --update-env\`: ${updatedSeen.join(', ')}`,
    plain: { ...plain, seen: plainSeen },
    updateEnv: { ...updated, seen: updatedSeen },
  };
  console.error(`pm2: env: ${r.env.cell}`);

  // 3, 8, 10. a broken release
  const before = await cluster.workerPids();
  writeFileSync(APP, BROKEN + GOOD);
  const broken = await underLoad(port, { keepAlive: false, connections: 2, timeoutMs: 2000 }, () => pm2(cluster, 'reload', cluster.name), 3000);
  const after = await get(port);
  const list = await pm2(cluster, 'list');
  const online = (list.out.match(/│ online /g) ?? []).length;
  const errLog = await pm2(cluster, 'logs', cluster.name, '--err', '--nostream', '--lines', '15');
  r.broken = {
    cell: `${exit(broken.result)}, "${broken.result.out.split('\n').filter((l) => l.includes('✓')).join(' ')}"; then ${after.ok ? 'served' : `nothing served (${after.error})`}: ${failedOf(broken.load)} during it and 3 s after`,
    reload: broken.result,
    load: broken.load,
    workersBefore: before,
    workersAfter: await cluster.workerPids(),
    afterwards: after,
  };
  r.status = { cell: `\`pm2 list\`: ${online} × "online" while nothing answers; no word of the failure`, list: list.out.split('\n') };
  r.why = {
    cell: broken.result.out.includes(ERROR_TEXT) ? 'yes' : `no (only "✓"); the error is in \`pm2 logs --err\`${errLog.out.includes(ERROR_TEXT) ? '' : ' (not found there either)'}`,
    errLog: lastLines(errLog.out),
  };
  console.error(`pm2: broken release: ${r.broken.cell}`);
  // Back to the good release: the broken ESM workers never exit (PM2's container logs the failed
  // import() as an unhandled rejection and stays up), so nothing restarts them: reload again.
  writeFileSync(APP, GOOD);
  const recovery = await pm2(cluster, 'reload', cluster.name);
  const recovered = await probeWorkers(port, 2);
  r.broken.recovery = { ...recovery, answering: recovered.size };
  if (recovered.size < 2) throw new Error('pm2: did not recover from the broken release');

  // 6. logs
  for (let i = 0; i < 6; i++) await get(port, '/log');
  let logLines: string[] = [];
  for (let i = 0; i < 25 && logLines.length < 6; i++) {
    logLines = (await pm2(cluster, 'logs', cluster.name, '--out', '--nostream', '--lines', '20')).out.split('\n').filter((l) => l.includes('handled /log'));
    if (logLines.length < 6) await sleep(200);
  }
  const ids = new Set(logLines.map((l) => /^(\d+)\|/.exec(l.trim())?.[1]).filter(Boolean));
  r.logs = { cell: `"${logLines[0]?.trim().replace(/\s+\|/, ' |') ?? '(none)'}": instance id (${ids.size} ids), not pid`, lines: logLines };

  // 7. scale 2 → 3 → 2
  const scaled = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const up = await pm2(cluster, 'scale', cluster.name, '3');
    const upSeen = (await probeWorkers(port, 3)).size;
    const down = await pm2(cluster, 'scale', cluster.name, '2');
    return { up, upSeen, down, after: (await cluster.workerPids()).length };
  }, 1000);
  r.scale = { cell: `${failedOf(scaled.load)} (${exit(scaled.result.up)}, ${exit(scaled.result.down)}; ${scaled.result.upSeen} then ${scaled.result.after} workers)`, ...scaled.load, ...scaled.result };
  console.error(`pm2: scale: ${r.scale.cell}`);

  // 9. a hung worker
  const hung = await get(port, '/hang');
  const hungLoad = await underLoad(port, { keepAlive: false, connections: 4, timeoutMs: 1500 }, () => sleep(6000), 0);
  const jlist = JSON.parse((await cluster.pm2(['jlist'])).replace(/^[^[]*/, '')) as Array<{ pid: number; pm2_env: { status: string } }>;
  const hungState = jlist.find((p) => p.pid === hung.pid)?.pm2_env.status ?? 'gone';
  r.hang = {
    cell: `not replaced: pid still "${hungState}" after 6 s (${isAlive(hung.pid) ? 'alive' : 'gone'}); ${failedOf(hungLoad.load)} (1.5 s timeout)`,
    hungPid: hung.pid,
    ...hungLoad.load,
  };
  console.error(`pm2: hang: ${r.hang.cell}`);
  // The operator's way out: a reload (SIGINT, ignored by the spinning loop, then SIGKILL at kill_timeout).
  const unhang = await pm2(cluster, 'reload', cluster.name);
  r.hang.unhang = { ...unhang, hungAliveAfter: isAlive(hung.pid) };
  if ((await probeWorkers(port, 2)).size < 2) throw new Error('pm2: 2 workers did not answer after the hang');

  // 5. stop with a request in flight
  const workers = await cluster.workerPids();
  const slow = slowRequest(port);
  await slow.started;
  const stopped = await pm2(cluster, 'stop', cluster.name);
  const stillAlive = workers.filter(isAlive);
  const inflight = await slow.done;
  r.stop = {
    cell: `in-flight: ${inflight}; ${exit(stopped)} after ${s(stopped.ms)}; workers ${stillAlive.length ? `alive: ${stillAlive.join(', ')}` : 'gone'} when it returned`,
    command: stopped,
    workers,
    stillAlive,
    inflight,
  };
  console.error(`pm2: stop: ${r.stop.cell}`);
  r.commands.push(
    `pm2 reload ${cluster.name} [--update-env]`,
    'pm2 list',
    `pm2 logs ${cluster.name} --out|--err --nostream --lines N`,
    `pm2 scale ${cluster.name} 3, pm2 scale ${cluster.name} 2`,
    `pm2 stop ${cluster.name}`,
    'pm2 jlist (pids), then the daemon and workers killed by pid, PM2_HOME removed (bench/pm2.ts)',
  );
  await cluster.kill();
}

async function trialGrace(): Promise<void> {
  const r = results.grace;
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v1\n');
  writeFileSync(APP, GOOD);
  const port = await freePort();
  const runArgs = ['run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--pid-file', PID_FILE, '--env-file', ENV_FILE, '--watchdog', String(WATCHDOG_MS), '--stop-timeout', '5000', '--', process.execPath, APP];
  const t0 = performance.now();
  const proc: ChildProcess = spawn(process.execPath, [CLI, ...runArgs], { cwd: dir, env: { ...process.env, SLOW_MS: String(SLOW_MS) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (proc.exitCode !== null) return;
    killPids([...servingPids(), proc.pid!]);
    await Promise.race([exited, sleep(5000)]);
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const keep = (into: string[]) => (chunk: string) => {
    into.push(...chunk.split('\n').filter(Boolean));
    if (into.length > 4000) into.splice(0, 2000);
  };
  proc.stdout!.setEncoding('utf8').on('data', keep(stdout));
  proc.stderr!.setEncoding('utf8').on('data', keep(stderr));
  const first = await untilAnswers(port, t0);
  const deadline = performance.now() + 30_000;
  while (servingPids().length < 2 || (await probeWorkers(port, 2)).size < 2) {
    if (performance.now() > deadline) throw new Error(`grace: 2 workers did not answer within 30 s:\n${stderr.slice(-20).join('\n')}`);
    await sleep(20);
  }
  const both = performance.now() - t0;
  r.commands = [`grace ${runArgs.join(' ').replaceAll(dir + '/', '').replace(process.execPath, 'node').replace(String(port), '<free>')}`];
  r.start = { cell: `${s(first)} / ${s(both)}`, firstAnswerMs: first, bothMs: both };
  console.error(`grace: start ${r.start.cell}`);

  function servingPids(): number[] {
    try {
      return (readPidFile(PID_FILE).workers ?? []).filter((w) => w.state === 'serving').map((w) => w.pid);
    } catch {
      return [];
    }
  }
  const reload = () => grace('reload', '--pid-file', 'grace.pid');

  // 2. reloads under load
  const reloads = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const cmds: Command[] = [];
    for (let i = 0; i < 3; i++) {
      cmds.push(await reload());
      await sleep(700);
    }
    return cmds;
  }, 800);
  r.reload = { cell: `${failedOf(reloads.load)} (${reloads.result.map(exit).join(', ')})`, ...reloads.load, reloadMs: reloads.result.map((c) => c.ms) };
  console.error(`grace: reloads under load: ${r.reload.cell}`);

  // 4. an env file edited
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v2\n');
  const envReload = await reload();
  const seen = [...(await probeWorkers(port, 2)).values()];
  r.env = { cell: `\`grace reload\` (${exit(envReload)}): ${seen.join(', ')}`, reload: envReload, seen };
  console.error(`grace: env: ${r.env.cell}`);

  // 3, 8, 10. a broken release
  const before = servingPids();
  writeFileSync(APP, BROKEN + GOOD);
  const broken = await underLoad(port, { keepAlive: false, connections: 2, timeoutMs: 2000 }, reload, 3000);
  const after = await get(port);
  const status = await grace('status', '--pid-file', 'grace.pid');
  r.broken = {
    cell: `${exit(broken.result)}, "${broken.result.out.split('\n')[0]!.slice(0, 90)}…"; the old workers ${after.ok && before.includes(after.pid) ? 'kept serving' : 'did not serve'}: ${failedOf(broken.load)} during it and 3 s after`,
    reload: broken.result,
    load: broken.load,
    workersBefore: before,
    workersAfter: servingPids(),
    afterwards: after,
  };
  const statusLines = status.out.split('\n');
  r.status = {
    cell: `\`grace status\` (${exit(status)}): "${statusLines[0]}", ${statusLines.filter((l) => / serving /.test(l)).length} workers serving, the last failure with ${status.out.includes(ERROR_TEXT) ? 'its stderr' : 'no stderr'}`,
    output: statusLines,
  };
  const stderrLines = broken.result.out.split('\n').filter((l) => l.startsWith('  ')).length;
  r.why = { cell: broken.result.out.includes(ERROR_TEXT) ? `yes: the worker's exit and its last ${stderrLines} lines of stderr` : 'no', output: lastLines(broken.result.out, 16) };
  console.error(`grace: broken release: ${r.broken.cell}`);
  writeFileSync(APP, GOOD);

  // 6. logs
  for (let i = 0; i < 6; i++) await get(port, '/log');
  for (let i = 0; i < 25 && stdout.filter((l) => l.includes('handled /log')).length < 6; i++) await sleep(200);
  const logLines = stdout.filter((l) => l.includes('handled /log'));
  const prefixes = new Set(logLines.map((l) => /^\[w\d+ \d+\]/.exec(l)?.[0]).filter(Boolean));
  r.logs = { cell: `"${logLines[0] ?? '(none)'}": slot and pid (${prefixes.size} prefixes)`, lines: logLines };

  // 7. scale 2 → 3 → 2
  const scaled = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const up = await grace('scale', '3', '--pid-file', 'grace.pid');
    const upSeen = servingPids().length;
    const down = await grace('scale', '2', '--pid-file', 'grace.pid');
    return { up, upSeen, down, after: servingPids().length };
  }, 1000);
  r.scale = { cell: `${failedOf(scaled.load)} (${exit(scaled.result.up)}, ${exit(scaled.result.down)}; ${scaled.result.upSeen} then ${scaled.result.after} workers)`, ...scaled.load, ...scaled.result };
  console.error(`grace: scale: ${r.scale.cell}`);

  // 9. a hung worker
  const hung = await get(port, '/hang');
  const hungAt = performance.now();
  let replacedMs = NaN;
  const hungLoad = await underLoad(port, { keepAlive: false, connections: 4, timeoutMs: 1500 }, async () => {
    while (performance.now() - hungAt < 6000) {
      const serving = servingPids();
      if (Number.isNaN(replacedMs) && !serving.includes(hung.pid) && serving.length === 2) replacedMs = performance.now() - hungAt;
      await sleep(50);
    }
  }, 0);
  // The hung one gets SIGTERM (never handled), then SIGKILL at --stop-timeout: wait for it, so the stop below starts clean.
  while (isAlive(hung.pid) && performance.now() - hungAt < 15_000) await sleep(100);
  const goneMs = isAlive(hung.pid) ? NaN : performance.now() - hungAt;
  r.hang = {
    cell: `replaced after ${s(replacedMs)} (--watchdog ${WATCHDOG_MS}), killed after ${s(goneMs)}; ${failedOf(hungLoad.load)} (1.5 s timeout)`,
    hungPid: hung.pid,
    replacedMs,
    goneMs,
    ...hungLoad.load,
    log: stderr.filter((l) => l.includes('watchdog') || l.includes(`pid ${hung.pid}`)),
  };
  console.error(`grace: hang: ${r.hang.cell}`);

  // 5. stop with a request in flight
  const workers = servingPids();
  const slow = slowRequest(port);
  await slow.started;
  const stopped = await grace('stop', '--pid-file', 'grace.pid');
  const stillAlive = [...workers, proc.pid!].filter(isAlive);
  const inflight = await slow.done;
  const supervisorExit = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
  r.stop = {
    cell: `in-flight: ${inflight}; ${exit(stopped)} after ${s(stopped.ms)}; workers ${stillAlive.length ? `alive: ${stillAlive.join(', ')}` : 'and supervisor gone'} when it returned (grace run exit ${supervisorExit})`,
    command: stopped,
    workers,
    stillAlive,
    inflight,
    supervisorExit,
  };
  console.error(`grace: stop: ${r.stop.cell}`);
  r.commands.push('grace reload --pid-file grace.pid', 'grace status --pid-file grace.pid', 'grace scale 3 --pid-file grace.pid, grace scale 2 --pid-file grace.pid', 'grace stop --pid-file grace.pid');
}

async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

// A bound on the whole run: past it, everything started is killed by pid.
const guard = setTimeout(() => {
  console.error('pm2-trial: over its 5-minute bound; cleaning up');
  void cleanup().finally(() => process.exit(1));
}, 300_000);
guard.unref();

const began = performance.now();
try {
  await trialPm2();
  await trialGrace();
} finally {
  await cleanup();
  clearTimeout(guard);
}

const cell = (v: string) => v.replaceAll('|', '\\|');
const table = [
  `| task | PM2 ${String(results.pm2.start?.pm2 ?? '')}, cluster mode, 2 instances | grace run --workers 2 |`,
  '| --- | --- | --- |',
  ...TASKS.map(([task, title]) => `| ${title} | ${cell(results.pm2[task]?.cell ?? '–')} | ${cell(results.grace[task]?.cell ?? '–')} |`),
];
const loadAtEnd = os.loadavg().map((l) => Number(l.toFixed(2)));
const note = `node ${process.version}, ${os.cpus().length} CPUs shared with other work (load average ${header.loadAverage.join(', ')} at the start, ${loadAtEnd.join(', ')} at the end); trial ${s(performance.now() - began)}.`;
const file = writeResults(args.name, { ...header, loadAverageAtEnd: loadAtEnd, note, seconds: (performance.now() - began) / 1000, table, pm2: results.pm2, grace: results.grace });
console.log([...table, '', note, `results: ${file}`].join('\n'));
