// Tasks 12 and 13 of the PM2 trial (bench/pm2-trial.ts): a crash loop, and
// the status command as a script reads it.
//   12 An app that exits at start (two lines of stderr, exit code 3), started
//      with a limit of 3 restarts and a minimum uptime of 1 s: PM2's own flag
//      (`pm2 start crash.mjs -i 2 --max-restarts 3`, on the trial's daemon; its
//      CLI has no --min-uptime: `min_uptime` is an ecosystem file's, default
//      1000 ms), grace's (`grace run --workers 2 --max-restarts 3 --min-uptime
//      1000`). Does the tool give up, after how long, what does it show or exit
//      with, does it show why (the app's stderr).
//   13 The status command's exit status and JSON in each state a monitor
//      meets: serving, nothing serving (a crash loop without a limit under
//      grace; the crash app "errored" under PM2), not running (grace: a stale
//      pid file after `kill -9`, no pid file after a stop; PM2: the app stopped,
//      the daemon killed), and under grace a pid file it cannot trust.
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, type Pm2Cluster } from './pm2.ts';
import { GraceRun, graceCommand, killPids, pm2Command, s, sleep, type Outcome, type Trial } from './pm2-trial-kit.ts';

const CRASH_ERROR = 'DATABASE_URL is not set';
const FIRST_LINE = 'connecting to the database';
const CRASH_APP = 'crash.mjs';
const CRASH = `console.error('${FIRST_LINE}');\nconsole.error('Error: ${CRASH_ERROR}');\nprocess.exit(3);\n`;
const PM2_LIMIT = ['--max-restarts', '3'];
const GRACE_LIMIT = ['--max-restarts', '3', '--min-uptime', '1000'];

/** What a status command said in one state: its exit status, and what its JSON says. */
export interface StatusProbe {
  state: string;
  /** The exit status (PM2: `pm2 status`'s, and `pm2 jlist`'s after a slash where they differ). */
  code: number | string;
  json: string;
  /** A short note on what it printed, for the table. */
  shown?: string;
  output?: string[];
  newDaemon?: number;
}

// ---- PM2 ----

/** `pm2 status` and `pm2 jlist` now: their exit statuses, and `app`'s processes' statuses from the JSON. */
export async function probePm2(cluster: Pm2Cluster, state: string, app = cluster.name): Promise<StatusProbe> {
  const status = await pm2Command(cluster, 'status');
  const jlist = await pm2Command(cluster, 'jlist');
  let json: string;
  try {
    const list = JSON.parse(jlist.out.slice(jlist.out.indexOf('['))) as Array<{ name: string; pm2_env: { status: string } }>;
    const mine = list.filter((p) => p.name === app).map((p) => p.pm2_env.status);
    json = mine.length ? mine.join(', ') : '[] (empty)';
  } catch {
    json = `not JSON: ${jlist.out.slice(0, 80)}`;
  }
  return { state, code: status.code === jlist.code ? status.code : `${status.code}/${jlist.code}`, json, output: status.out.split('\n').filter((l) => l.includes(`│ ${app} `)) };
}

/** Task 12 under PM2, on the trial's daemon beside the serving app; also 13's "nothing serves". Deletes the crash app after. */
export async function crashLoopPm2(trial: Trial, cluster: Pm2Cluster): Promise<{ crash: Outcome; nothingServes: StatusProbe }> {
  writeFileSync(join(trial.dir, CRASH_APP), CRASH);
  const t0 = performance.now();
  const start = await pm2Command(cluster, 'start', CRASH_APP, '--name', 'crash', '-i', '2', ...PM2_LIMIT);
  const crashed = async () => (await cluster.jlist()).filter((p) => p.name === 'crash');
  let list = await crashed();
  while (!(list.length === 2 && list.every((p) => p.pm2_env.status === 'errored')) && performance.now() - t0 < 30_000) {
    await sleep(100);
    list = await crashed();
  }
  const gaveUpMs = list.every((p) => p.pm2_env.status === 'errored') ? performance.now() - t0 : NaN;
  const nothingServes = await probePm2(cluster, 'the crash app errored', 'crash');
  const shown = await pm2Command(cluster, 'list');
  const describe = await pm2Command(cluster, 'describe', 'crash');
  const errLog = await pm2Command(cluster, 'logs', 'crash', '--err', '--nostream', '--lines', '10');
  const daemon = cluster.liveDaemonPid();
  const restarts = list.map((p) => p.pm2_env.restart_time);
  const where = [shown.out.includes(CRASH_ERROR) && '`pm2 list`', describe.out.includes(CRASH_ERROR) && '`pm2 describe`'].filter(Boolean);
  const crash: Outcome = {
    cell: `${Number.isNaN(gaveUpMs) ? 'did not give up within 30 s' : `gave up after ${s(gaveUpMs)}`}: ${list.map((p) => `"${p.pm2_env.status}"`).join(', ')} (${restarts.join(', ')} restarts; \`pm2 start\` ${start.code === 0 ? 'exit 0' : `exit ${start.code}`} after ${s(start.ms)}); the daemon ${daemon ? 'runs on: nothing exits' : 'is gone'}; why: ${where.length ? `in ${where.join(' and ')}` : 'not in `pm2 list` or `pm2 describe`'}; \`pm2 logs crash --err\`: ${logged(errLog.out)}`,
    command: `pm2 start ${CRASH_APP} --name crash -i 2 ${PM2_LIMIT.join(' ')}`,
    start,
    gaveUpMs,
    processes: list.map((p) => ({ status: p.pm2_env.status, restarts: p.pm2_env.restart_time, unstableRestarts: p.pm2_env.unstable_restarts, exitCode: p.pm2_env.exit_code })),
    daemonAlive: daemon !== undefined,
    list: shown.out.split('\n').filter((l) => l.includes('crash')),
    errLog: errLog.out.split('\n').slice(-6),
  };
  await pm2Command(cluster, 'delete', 'crash');
  killPids(await cluster.workerPids('crash'));
  return { crash, nothingServes };
}

/** Which of the crash app's two lines of stderr a log holds. */
function logged(log: string): string {
  const lines = log.split('\n');
  const n = (text: string) => lines.filter((l) => l.endsWith(text)).length;
  return `\`${FIRST_LINE}\` ×${n(FIRST_LINE)}, \`Error: ${CRASH_ERROR}\` ×${n(`Error: ${CRASH_ERROR}`)}`;
}

/** 13 under PM2 once the app is stopped: `pm2 status` with it stopped, then with the daemon killed (`kill -9`). */
export async function notRunningPm2(cluster: Pm2Cluster): Promise<StatusProbe[]> {
  const stopped = await probePm2(cluster, 'the app stopped');
  const daemon = cluster.liveDaemonPid();
  if (daemon) killPids([daemon]);
  while (daemon && cluster.liveDaemonPid() === daemon) await sleep(20);
  const down = await probePm2(cluster, 'the daemon killed');
  const next = cluster.liveDaemonPid();
  down.shown = next ? 'a new daemon started, listing nothing' : 'no daemon';
  down.newDaemon = next;
  return [stopped, down];
}

// ---- grace ----

/** `grace status` and `grace status --json` now. */
export async function probeGrace(trial: Trial, pidFile: string, state: string): Promise<StatusProbe> {
  const text = await graceCommand(trial, 'status', '--pid-file', pidFile);
  const json = await graceCommand(trial, 'status', '--pid-file', pidFile, '--json');
  let verdict: string;
  try {
    verdict = String((JSON.parse(json.out) as { verdict?: unknown }).verdict);
  } catch {
    verdict = `not JSON: ${json.out.slice(0, 80)}`;
  }
  const first = text.out.split('\n')[0]!;
  return { state, code: text.code, json: verdict, shown: /^pid \d+: /.test(first) ? `\`${first.replace(/^pid \d+/, 'pid N')}\`` : undefined, output: text.out.split('\n').slice(0, 3) };
}

/** Task 12 under grace: `grace run --workers 2 --max-restarts 3 --min-uptime 1000` of the crash app, until it exits. */
export async function crashLoopGrace(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<Outcome> {
  writeFileSync(join(trial.dir, CRASH_APP), CRASH);
  const args = ['run', '--listen', `127.0.0.1:${await freePort()}`, '--workers', '2', ...GRACE_LIMIT, '--pid-file', 'crash.pid', '--', process.execPath, CRASH_APP];
  const run = new GraceRun(trial, args, { cwd: trial.dir, pidFile: join(trial.dir, 'crash.pid') });
  cleanups.push(() => run.kill());
  const code = await Promise.race([run.exited, sleep(30_000).then(() => 'still running after 30 s')]);
  const gaveUpMs = performance.now() - run.startedAt;
  await run.kill();
  const at = run.stderr.findIndex((l) => l.includes('giving up'));
  const why = at < 0 ? [] : run.stderr.slice(at + 1).filter((l) => l.startsWith('  '));
  const said = at < 0 ? '' : run.stderr[at]!.replace(/^grace: error: /, '').replace(/; its last lines of stderr:$/, '');
  const afterwards = await probeGrace(trial, 'crash.pid', 'after it gave up');
  return {
    cell: `${typeof code === 'number' ? `gave up after ${s(gaveUpMs)}: \`grace run\` exit ${code}` : code}; ${at < 0 ? 'no word of giving up' : `"${said}", then its last ${why.length} lines of stderr (${logged(why.join('\n'))})`}; \`grace status\` then: exit ${afterwards.code} (${afterwards.json})`,
    command: `grace ${args.join(' ').replace(process.execPath, 'node').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:<free>')}`,
    exit: code,
    gaveUpMs,
    log: run.stderr.slice(-12),
    afterwards,
  };
}

/** 13 under grace for the states a running app does not show: a crash loop without a limit, then its pid file left stale (`kill -9`), then one that cannot be trusted. */
export async function notServingGrace(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<StatusProbe[]> {
  writeFileSync(join(trial.dir, CRASH_APP), CRASH);
  const pidFile = join(trial.dir, 'loop.pid');
  const args = ['run', '--listen', `127.0.0.1:${await freePort()}`, '--workers', '2', '--pid-file', 'loop.pid', '--', process.execPath, CRASH_APP];
  const run = new GraceRun(trial, args, { cwd: trial.dir, pidFile });
  cleanups.push(() => run.kill());
  try {
    // In the loop once a worker has been restarted (the pid file is there from the first launch).
    const t0 = performance.now();
    while (!run.stderr.some((l) => l.includes('restarting worker')) && performance.now() - t0 < 15_000) await sleep(50);
    const loop = await probeGrace(trial, 'loop.pid', 'in a crash loop');
    await run.kill();
    const stale = await probeGrace(trial, 'loop.pid', 'stale pid file (kill -9)');
    chmodSync(pidFile, 0o666);
    const untrusted = await probeGrace(trial, 'loop.pid', 'pid file writable by others');
    return [loop, stale, untrusted];
  } finally {
    await run.kill();
    rmSync(pidFile, { force: true });
  }
}

/** The table's cell for task 13, from the probes in the order they were taken. */
export function statusCell(probes: StatusProbe[], jsonName: string): string {
  return `${probes.map((p) => `exit ${p.code} ${p.state}${p.shown ? `: ${p.shown}` : ''}`).join('; ')}. JSON: ${jsonName} ${probes.map((p) => p.json).join(' / ')}`;
}
