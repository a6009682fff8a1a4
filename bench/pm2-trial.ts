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
// (2, 3, 4, 8 and 10, the releases: bench/pm2-trial-release.ts), and issue
// #26's, each with the tool's own flag or command:
//   11 timestamps (`pm2 start --time`, `grace run --timestamps`): bench/pm2-trial-timestamps.ts
//   12 a crash loop with a limit (`--max-restarts 3 --min-uptime 1000`): bench/pm2-trial-crash.ts
//   13 the status command's exit status and JSON, serving / nothing serves / not running: bench/pm2-trial-crash.ts
//   14 describe (`pm2 describe`, `grace status`): bench/pm2-trial-describe.ts
//   15 `--watch`: an edit, a syntax error, a burst of writes: bench/pm2-trial-watch.ts
// The app and grace's CLI are bundled with esbuild first (neither side pays
// tsx's loader); a "release" is that bundle rewritten in place, as a deploy
// would. The CLI is bundled to where an install puts it (node_modules/grace-
// restart/dist/esm/cli.js, the package.json beside), so it knows its version.
// Everything runs on loopback on free ports, each step bounded; the PM2
// daemons and grace's supervisors and workers are killed by pid at the end
// (also on failure, or past the 10-minute bound) and the temp dir removed.
//
//   node --import tsx bench/pm2-trial.ts [--name pm2-trial-node20]
// Prints the table (Markdown) and writes bench/results/NAME.json.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, parseEnv } from 'node:util';
import { freePort, Pm2Cluster } from './pm2.ts';
import { crashLoopGrace, crashLoopPm2, notRunningPm2, notServingGrace, probeGrace, probePm2, statusCell, type StatusProbe } from './pm2-trial-crash.ts';
import { describeGrace, describePm2 } from './pm2-trial-describe.ts';
import { exit, failedOf, get, GraceRun, graceCommand, pm2Command, probeWorkers, s, sleep, slowRequest, underLoad, untilAnswers, type Outcome, type Trial } from './pm2-trial-kit.ts';
import { releasesGrace, releasesPm2 } from './pm2-trial-release.ts';
import { timestampsGrace, timestampsPm2 } from './pm2-trial-timestamps.ts';
import { watchGrace, watchPm2 } from './pm2-trial-watch.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';
import { isAlive } from './server-process.ts';

const { values: args } = parseArgs({ options: { name: { type: 'string', default: `pm2-trial-node${nodeMajor}` }, help: { type: 'boolean', default: false } } });
if (args.help) {
  process.stdout.write('usage: node --import tsx bench/pm2-trial.ts [--name NAME]\n\nPM2 cluster ×2 beside grace run --workers 2, fifteen daily tasks; prints a Markdown table, writes bench/results/NAME.json.\n');
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(os.tmpdir(), 'grace-pm2-trial-'));
const CLI = join(dir, 'node_modules/grace-restart/dist/esm/cli.js');
const APP = join(dir, 'app.mjs');
const ENV_FILE = join(dir, '.env');
const PID_FILE = join(dir, 'grace.pid');
const SLOW_MS = 2500;
const WATCHDOG_MS = 2000;
const header = resultsHeader(args);

const bundle = (entry: string, out: string) =>
  execFileSync(join(root, 'node_modules/.bin/esbuild'), [join(root, entry), '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${out}`, '--log-level=warning']);
bundle('src/cli.ts', CLI);
copyFileSync(join(root, 'package.json'), join(CLI, '../../../package.json'));
bundle('bench/pm2-trial-app.ts', APP);
const GOOD = readFileSync(APP, 'utf8');
// As `set -a; . ./.env; pm2 start …`: the env file's values in the pm2 command's environment.
const pm2Env = (): NodeJS.ProcessEnv => ({ PLAIN: '1', SLOW_MS: String(SLOW_MS), ...parseEnv(readFileSync(ENV_FILE, 'utf8')) });
writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v1\n');
const trial: Trial = { dir, cli: CLI, app: APP, good: GOOD, envFile: ENV_FILE, pm2Env: pm2Env() };

// ---- the trial ----

type Task = 'start' | 'reload' | 'broken' | 'env' | 'stop' | 'logs' | 'scale' | 'status' | 'hang' | 'why' | 'timestamps' | 'crashLoop' | 'scripts' | 'describe' | 'watch';
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
  ['timestamps', '11. timestamps (`--time` / `--timestamps`): stamped lines, format'],
  ['crashLoop', '12. crash loop (app exits at start), `--max-restarts 3`, min uptime 1 s'],
  ['scripts', '13. status for scripts: exit status, JSON'],
  ['describe', '14. describe: what runs, how, since when'],
  ['watch', '15. `--watch`: an edit, a syntax error, 10 quick writes'],
];
type Side = Partial<Record<Task, Outcome>> & { commands?: string[] };
const results: { pm2: Side; grace: Side } = { pm2: {}, grace: {} };
const cleanups: Array<() => Promise<void>> = [];

async function trialPm2(): Promise<void> {
  const r = results.pm2;
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v1\n');
  const env = pm2Env();
  const t0 = performance.now();
  const cluster = await Pm2Cluster.start({ script: APP, instances: 2, env, scriptArgs: ['trial'], cwd: dir });
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
    `PM2_HOME=<tmp> PORT=<free> PLAIN=1 TRIAL_CONFIG=v1 pm2 start app.mjs --name ${cluster.name} -i 2 --no-autorestart -- trial   (bench/pm2.ts; daemon spawned by it)`,
  ];
  r.start = { cell: `${s(first)} / ${s(both)} (daemon start included)`, firstAnswerMs: first, bothMs: both, pm2: version };
  console.error(`pm2 ${version}: start ${r.start.cell}`);

  // 2, 4, 3, 8, 10. releases: reloads under load, an env file edited, a broken release
  Object.assign(r, await releasesPm2(trial, cluster, env));

  // 6. logs
  for (let i = 0; i < 6; i++) await get(port, '/log');
  let logLines: string[] = [];
  for (let i = 0; i < 25 && logLines.length < 6; i++) {
    logLines = (await pm2Command(cluster, 'logs', cluster.name, '--out', '--nostream', '--lines', '20')).out.split('\n').filter((l) => l.includes('handled /log'));
    if (logLines.length < 6) await sleep(200);
  }
  const ids = new Set(logLines.map((l) => /^(\d+)\|/.exec(l.trim())?.[1]).filter(Boolean));
  r.logs = { cell: `"${logLines[0]?.trim().replace(/\s+\|/, ' |') ?? '(none)'}": instance id (${ids.size} ids), not pid`, lines: logLines };

  // 7. scale 2 → 3 → 2
  const scaled = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const up = await pm2Command(cluster, 'scale', cluster.name, '3');
    const upSeen = (await probeWorkers(port, 3)).size;
    const down = await pm2Command(cluster, 'scale', cluster.name, '2');
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
  const unhang = await pm2Command(cluster, 'reload', cluster.name);
  r.hang.unhang = { ...unhang, hungAliveAfter: isAlive(hung.pid) };
  if ((await probeWorkers(port, 2)).size < 2) throw new Error('pm2: 2 workers did not answer after the hang');

  // 14. describe, after the reloads; 13. status while serving; 12. a crash loop beside it (and 13 then)
  const described = await pm2Command(cluster, 'describe', cluster.name);
  r.describe = { ...describePm2(described.out, version, '.env'), command: `pm2 describe ${cluster.name}`, exit: described.code };
  console.error(`pm2: describe: ${r.describe.cell}`);
  const probes: StatusProbe[] = [await probePm2(cluster, 'serving')];
  const crash = await crashLoopPm2(trial, cluster);
  r.crashLoop = crash.crash;
  probes.push(crash.nothingServes);
  console.error(`pm2: crash loop: ${r.crashLoop.cell}`);

  // 5. stop with a request in flight
  const workers = await cluster.workerPids();
  const slow = slowRequest(port);
  await slow.started;
  const stopped = await pm2Command(cluster, 'stop', cluster.name);
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
  probes.push(...(await notRunningPm2(cluster)));
  r.scripts = { cell: statusCell(probes, '`pm2 jlist`, each process\'s `status`:'), probes };
  console.error(`pm2: status for scripts: ${r.scripts.cell}`);
  await cluster.kill();

  // 11. timestamps, 15. --watch: each on a daemon of its own, with PM2's defaults (autorestart on)
  r.timestamps = await timestampsPm2(trial, cleanups);
  console.error(`pm2: timestamps: ${r.timestamps.cell}`);
  r.watch = await watchPm2(trial, cleanups);
  console.error(`pm2: watch: ${r.watch.cell}`);
  r.commands.push(
    `pm2 reload ${cluster.name} [--update-env]`,
    'pm2 list',
    `pm2 logs ${cluster.name} --out|--err --nostream --lines N`,
    `pm2 scale ${cluster.name} 3, pm2 scale ${cluster.name} 2`,
    `pm2 describe ${cluster.name}`,
    'pm2 status, pm2 jlist',
    String(r.crashLoop.command),
    'pm2 list, pm2 describe crash, pm2 logs crash --err --nostream --lines 10, pm2 delete crash',
    `pm2 stop ${cluster.name}`,
    'kill -9 <daemon>; pm2 status, pm2 jlist',
    String(r.timestamps.command),
    String(r.watch.command),
    'pm2 jlist (pids), then the daemon and workers killed by pid, PM2_HOME removed (bench/pm2.ts)',
  );
}

async function trialGrace(): Promise<void> {
  const r = results.grace;
  writeFileSync(ENV_FILE, 'TRIAL_CONFIG=v1\n');
  writeFileSync(APP, GOOD);
  const port = await freePort();
  const runArgs = ['run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--pid-file', 'grace.pid', '--env-file', '.env', '--watchdog', String(WATCHDOG_MS), '--stop-timeout', '5000', '--', process.execPath, 'app.mjs', 'trial'];
  const t0 = performance.now();
  const run = new GraceRun(trial, runArgs, { cwd: dir, pidFile: PID_FILE, env: { SLOW_MS: String(SLOW_MS) } });
  cleanups.push(() => run.kill());
  const { stdout, stderr } = run;
  const servingPids = () => run.servingPids();
  const first = await untilAnswers(port, t0);
  await run.untilServing(port, 'grace');
  const both = performance.now() - t0;
  r.commands = [`grace ${runArgs.join(' ').replace(process.execPath, 'node').replace(String(port), '<free>')}`];
  r.start = { cell: `${s(first)} / ${s(both)}`, firstAnswerMs: first, bothMs: both };
  console.error(`grace: start ${r.start.cell}`);

  // 2, 4, 3, 8, 10. releases: reloads under load, an env file edited, a broken release
  Object.assign(r, await releasesGrace(trial, port, servingPids));

  // 6. logs
  for (let i = 0; i < 6; i++) await get(port, '/log');
  for (let i = 0; i < 25 && stdout.filter((l) => l.includes('handled /log')).length < 6; i++) await sleep(200);
  const logLines = stdout.filter((l) => l.includes('handled /log'));
  const prefixes = new Set(logLines.map((l) => /^\[w\d+ \d+\]/.exec(l)?.[0]).filter(Boolean));
  r.logs = { cell: `"${logLines[0] ?? '(none)'}": slot and pid (${prefixes.size} prefixes)`, lines: logLines };

  // 7. scale 2 → 3 → 2
  const scaled = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const up = await graceCommand(trial, 'scale', '3', '--pid-file', 'grace.pid');
    const upSeen = servingPids().length;
    const down = await graceCommand(trial, 'scale', '2', '--pid-file', 'grace.pid');
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

  // 14. describe, after the reloads (a failed one among them); 13. status while serving
  const described = await graceCommand(trial, 'status', '--pid-file', 'grace.pid');
  r.describe = { ...describeGrace(described.out, '.env'), command: 'grace status --pid-file grace.pid', exit: described.code };
  console.error(`grace: describe: ${r.describe.cell}`);
  const probes: StatusProbe[] = [await probeGrace(trial, 'grace.pid', 'serving')];

  // 5. stop with a request in flight
  const workers = servingPids();
  const slow = slowRequest(port);
  await slow.started;
  const stopped = await graceCommand(trial, 'stop', '--pid-file', 'grace.pid');
  const stillAlive = [...workers, run.pid].filter(isAlive);
  const inflight = await slow.done;
  const supervisorExit = await Promise.race([run.exited, sleep(10_000).then(() => 'still running')]);
  r.stop = {
    cell: `in-flight: ${inflight}; ${exit(stopped)} after ${s(stopped.ms)}; workers ${stillAlive.length ? `alive: ${stillAlive.join(', ')}` : 'and supervisor gone'} when it returned (grace run exit ${supervisorExit})`,
    command: stopped,
    workers,
    stillAlive,
    inflight,
    supervisorExit,
  };
  console.error(`grace: stop: ${r.stop.cell}`);

  // 12. a crash loop with a limit; 13. status in a crash loop without one, with its pid file left stale, untrusted, and with none (stopped)
  r.crashLoop = await crashLoopGrace(trial, cleanups);
  console.error(`grace: crash loop: ${r.crashLoop.cell}`);
  probes.push(...(await notServingGrace(trial, cleanups)), await probeGrace(trial, 'grace.pid', 'no pid file (after a stop)'));
  r.scripts = { cell: statusCell(probes, '`grace status --json`, its `verdict`:'), probes };
  console.error(`grace: status for scripts: ${r.scripts.cell}`);

  // 11. timestamps, 15. --watch
  r.timestamps = await timestampsGrace(trial, cleanups);
  console.error(`grace: timestamps: ${r.timestamps.cell}`);
  r.watch = await watchGrace(trial, cleanups);
  console.error(`grace: watch: ${r.watch.cell}`);
  r.commands.push(
    'grace reload --pid-file grace.pid',
    'grace status --pid-file grace.pid [--json]',
    'grace scale 3 --pid-file grace.pid, grace scale 2 --pid-file grace.pid',
    'grace stop --pid-file grace.pid',
    String(r.crashLoop.command),
    'grace run --listen 127.0.0.1:<free> --workers 2 --pid-file loop.pid -- node crash.mjs; grace status --pid-file loop.pid [--json]; kill -9 (supervisor and workers); chmod 666 loop.pid',
    String(r.timestamps.command),
    String(r.watch.command),
  );
}

async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

// A bound on the whole run: past it, everything started is killed by pid.
const guard = setTimeout(() => {
  console.error('pm2-trial: over its 10-minute bound; cleaning up');
  void cleanup().finally(() => process.exit(1));
}, 600_000);
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
const note = `node ${process.version}, ${os.cpus().length} CPUs shared with other work (load average ${header.loadAverage.join(', ')} at the start, ${loadAtEnd.join(', ')} at the end); trial ${s(performance.now() - began)}. On a shared machine the times are rough: read the failure counts, exit statuses and what each tool shows.`;
const file = writeResults(args.name, { ...header, loadAverageAtEnd: loadAtEnd, note, seconds: (performance.now() - began) / 1000, table, pm2: results.pm2, grace: results.grace });
console.log([...table, '', note, `results: ${file}`].join('\n'));
