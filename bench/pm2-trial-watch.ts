// Task 15 of the PM2 trial (bench/pm2-trial.ts): `--watch` while editing.
// PM2: `pm2 start app.mjs -i 2 --watch` from the app's directory (its
// defaults otherwise: it restarts crashed workers). grace: `grace run
// --workers 2 --watch` there. The same three edits, each under light load
// (2 connections, one request each, no retries), on a directory of its own:
//   1 an edit: how long until the new code answers (first answer, and every
//     answer from both workers), failed requests, reloads or restarts made
//     (PM2: the workers' restarts added up; grace: rolling reloads, each
//     replacing both workers);
//   2 a save with a syntax error: failed requests over the 5 s after it, and
//     what answers then (the last good code, or nothing);
//   3 a burst of 10 writes 30 ms apart (an editor or a build): how many
//     reloads or restarts, failed requests, until the last version answers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pm2Cluster, freePort } from './pm2.ts';
import { failedOf, get, GraceRun, graceCommand, probeWorkers, s, sleep, underLoad, type LoadFigures, type Outcome, type Trial } from './pm2-trial-kit.ts';

const BURST = 10;
const load = { keepAlive: false, connections: 2, timeoutMs: 2000 };
const version = (good: string, name: string) => `process.env.TRIAL_CONFIG = '${name}';\n${good}`;
const broken = (good: string) => `process.env.TRIAL_CONFIG = 'broken';\nconst = ;\n${good}`;

interface Served {
  /** ms from the (first) write to the first answer from the new code, and to every answer being new from 2 workers. */
  firstMs: number;
  allMs: number;
}

/** Polls until `config` answers: first, then only it, from 2 distinct workers (the last 10 answers), bounded at 20 s. */
async function untilServed(port: number, config: string, since: number): Promise<Served> {
  let firstMs = NaN;
  const recent: string[] = [];
  const pids = new Set<number>();
  while (performance.now() - since < 20_000) {
    const a = await get(port, '/', 1000);
    if (a.ok && a.config === config) {
      if (Number.isNaN(firstMs)) firstMs = performance.now() - since;
      pids.add(a.pid);
    }
    recent.push(a.ok ? a.config : '');
    if (recent.length > 10) recent.shift();
    if (pids.size >= 2 && recent.length === 10 && recent.every((c) => c === config)) return { firstMs, allMs: performance.now() - since };
    await sleep(20);
  }
  return { firstMs, allMs: NaN };
}

interface Step {
  load: LoadFigures;
  reloads: number;
}

interface Steps {
  edit: Step & Served;
  syntaxError: Step & { answering: string[] };
  burst: Step & Served;
}

/** The three edits on `file`, with `reloads()` counting the tool's reloads or restarts so far. */
async function edits(port: number, file: string, good: string, reloads: () => Promise<number>): Promise<Steps> {
  if ((await probeWorkers(port, 2)).size < 2) throw new Error('--watch: 2 workers did not answer');
  await sleep(1000); // the watcher's own start (chokidar's scan under PM2)
  let count = await reloads();
  const counted = async () => {
    const before = count;
    count = await reloads();
    return count - before;
  };
  const edit = await underLoad(port, load, () => {
    const t = performance.now();
    writeFileSync(file, version(good, 'edit1'));
    return untilServed(port, 'edit1', t);
  }, 1000);
  const editStep = { ...edit.result, load: edit.load, reloads: await counted() };

  const bad = await underLoad(port, load, async () => {
    writeFileSync(file, broken(good));
    await sleep(5000);
  }, 0);
  const answering = [...(await probeWorkers(port, 2)).values()];
  const badStep = { load: bad.load, reloads: await counted(), answering };

  const burst = await underLoad(port, load, async () => {
    const t = performance.now();
    for (let i = 0; i < BURST; i++) {
      writeFileSync(file, version(good, 'edit2'));
      await sleep(30);
    }
    const served = await untilServed(port, 'edit2', t);
    await sleep(3000); // any reload or restart still to come
    return served;
  }, 0);
  const burstStep = { ...burst.result, load: burst.load, reloads: await counted() };
  return { edit: editStep, syntaxError: badStep, burst: burstStep };
}

function cell({ edit, syntaxError, burst }: Steps, reloadWord: string): string {
  const n = (k: number) => `${k} ${reloadWord}${k === 1 ? '' : 's'}`;
  const failed = (l: LoadFigures) => `${failedOf(l)}${l.failed ? ` (none answered for ${s(l.outageMs)})` : ''}`;
  const kept = syntaxError.answering.length === 0 ? 'nothing answered after it' : syntaxError.answering.every((c) => c === 'edit1') ? 'the last good code answered' : `answers: ${syntaxError.answering.join(', ')}`;
  return `edit: new code after ${s(edit.firstMs)}, from both workers after ${s(edit.allMs)}, ${failed(edit.load)}, ${n(edit.reloads)}; syntax error: ${kept}, ${failed(syntaxError.load)} in 5 s; ${BURST} writes: ${n(burst.reloads)}, ${failed(burst.load)}`;
}

export async function watchPm2(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<Outcome> {
  const dir = join(trial.dir, 'watch-pm2');
  mkdirSync(dir);
  const file = join(dir, 'app.mjs');
  writeFileSync(file, trial.good);
  const cluster = await Pm2Cluster.start({ script: file, instances: 2, env: trial.pm2Env, startArgs: ['--watch'], autorestart: true, cwd: dir });
  cleanups.push(() => cluster.kill());
  try {
    // Restarts done: the workers' own counts, added (a restart of the app by name restarts each).
    const restarts = async () => (await cluster.jlist()).filter((p) => p.name === cluster.name).reduce((n, p) => n + p.pm2_env.restart_time, 0);
    const steps = await edits(cluster.port, file, trial.good, restarts);
    return { cell: cell(steps, 'worker restart'), command: `pm2 start app.mjs --name ${cluster.name} -i 2 --watch (in its directory)`, ...steps };
  } finally {
    await cluster.kill();
  }
}

export async function watchGrace(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<Outcome> {
  const dir = join(trial.dir, 'watch-grace');
  mkdirSync(dir);
  const file = join(dir, 'app.mjs');
  writeFileSync(file, trial.good);
  const pidFile = join(dir, 'grace.pid');
  const port = await freePort();
  const args = ['run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--watch', '--pid-file', 'grace.pid', '--', process.execPath, 'app.mjs'];
  const run = new GraceRun(trial, args, { cwd: dir, pidFile });
  cleanups.push(() => run.kill());
  try {
    await run.untilServing(port, 'grace --watch');
    const reloads = async () => {
      const about = JSON.parse((await graceCommand(trial, 'status', '--pid-file', pidFile, '--json')).out) as { about?: { reloads?: { done: number; failed: number; refused: number } } };
      const r = about.about?.reloads;
      return r ? r.done + r.failed + r.refused : NaN;
    };
    const steps = await edits(port, file, trial.good, reloads);
    return { cell: cell(steps, 'rolling reload'), command: `grace ${args.join(' ').replace(process.execPath, 'node').replace(String(port), '<free>')} (in its directory)`, ...steps, log: run.stderr.filter((l) => l.includes('--watch') || l.includes('changed') || l.includes('reload')) };
  } finally {
    await graceCommand(trial, 'stop', '--pid-file', pidFile);
    await run.kill();
  }
}
