// Tasks 2, 3, 4, 8 and 10 of the PM2 trial (bench/pm2-trial.ts): releases,
// on the app each side already serves with 2 workers.
//    2 three reloads of the same code under keep-alive load (8 connections)
//    4 the env file edited, then a reload: which value do the workers see
//      (PM2 has no env-file option: the file is sourced into the shell that
//      runs `pm2 reload`, which passes it on only with --update-env)
//    3 a broken release (the app throws at start) under load: the reload's
//      exit status, does the old code keep serving
//    8 the status command right after it: does it say what happened
//   10 does the reload command show why (the app's error)
// Each side ends with the good release serving on 2 workers again.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import type { Pm2Cluster } from './pm2.ts';
import { exit, failedOf, get, graceCommand, lastLines, pm2Command, probeWorkers, sleep, underLoad, type Command, type Outcome, type Trial } from './pm2-trial-kit.ts';

const ERROR_TEXT = 'PAYMENT_KEY is not set';
const BROKEN = `throw new Error('release 2 cannot start: ${ERROR_TEXT}');\n`;
const BROKEN_LOAD = { keepAlive: false, connections: 2, timeoutMs: 2000 };

export type ReleaseTask = 'reload' | 'env' | 'broken' | 'status' | 'why';

/** Task 2: `reload` three times, 700 ms apart, under keep-alive load. */
async function threeReloads(port: number, reload: () => Promise<Command>): Promise<Outcome> {
  const reloads = await underLoad(port, { keepAlive: true, connections: 8 }, async () => {
    const cmds: Command[] = [];
    for (let i = 0; i < 3; i++) {
      cmds.push(await reload());
      await sleep(700);
    }
    return cmds;
  }, 800);
  return { cell: `${failedOf(reloads.load)} (${reloads.result.map(exit).join(', ')})`, ...reloads.load, reloadMs: reloads.result.map((c) => c.ms) };
}

/** The tasks under PM2; `env` is the cluster's environment (the shell's, as `pm2` commands get it), updated from the env file. */
export async function releasesPm2(trial: Trial, cluster: Pm2Cluster, env: NodeJS.ProcessEnv): Promise<Record<ReleaseTask, Outcome>> {
  const port = cluster.port;
  const reload = await threeReloads(port, () => pm2Command(cluster, 'reload', cluster.name));
  console.error(`pm2: reloads under load: ${reload.cell}`);

  // A plain reload, then one with --update-env (the file re-sourced into the shell for both).
  writeFileSync(trial.envFile, 'TRIAL_CONFIG=v2\n');
  Object.assign(env, parseEnv(readFileSync(trial.envFile, 'utf8')));
  const plain = await pm2Command(cluster, 'reload', cluster.name);
  const plainSeen = [...(await probeWorkers(port, 2)).values()];
  const updated = await pm2Command(cluster, 'reload', cluster.name, '--update-env');
  const updatedSeen = [...(await probeWorkers(port, 2)).values()];
  const envEdited: Outcome = {
    cell: `\`pm2 reload\`: ${plainSeen.join(', ')} (old); \`pm2 reload --update-env\`: ${updatedSeen.join(', ')}`,
    plain: { ...plain, seen: plainSeen },
    updateEnv: { ...updated, seen: updatedSeen },
  };
  console.error(`pm2: env: ${envEdited.cell}`);

  const before = await cluster.workerPids();
  writeFileSync(trial.app, BROKEN + trial.good);
  const broken = await underLoad(port, BROKEN_LOAD, () => pm2Command(cluster, 'reload', cluster.name), 3000);
  const after = await get(port);
  const list = await pm2Command(cluster, 'list');
  const online = (list.out.match(/│ online /g) ?? []).length;
  const errLog = await pm2Command(cluster, 'logs', cluster.name, '--err', '--nostream', '--lines', '15');
  const brokenOutcome: Outcome = {
    cell: `${exit(broken.result)}, "${broken.result.out.split('\n').filter((l) => l.includes('✓')).join(' ')}"; then ${after.ok ? 'served' : `nothing served (${after.error})`}: ${failedOf(broken.load)} during it and 3 s after`,
    reload: broken.result,
    load: broken.load,
    workersBefore: before,
    workersAfter: await cluster.workerPids(),
    afterwards: after,
  };
  console.error(`pm2: broken release: ${brokenOutcome.cell}`);
  // Back to the good release: the broken ESM workers never exit (PM2's container logs the failed
  // import() as an unhandled rejection and stays up), so nothing restarts them: reload again.
  writeFileSync(trial.app, trial.good);
  const recovery = await pm2Command(cluster, 'reload', cluster.name);
  const recovered = await probeWorkers(port, 2);
  brokenOutcome.recovery = { ...recovery, answering: recovered.size };
  if (recovered.size < 2) throw new Error('pm2: did not recover from the broken release');
  return {
    reload,
    env: envEdited,
    broken: brokenOutcome,
    status: { cell: `\`pm2 list\`: ${online} × "online" while nothing answers; no word of the failure`, list: list.out.split('\n') },
    why: {
      cell: broken.result.out.includes(ERROR_TEXT) ? 'yes' : `no (only "✓"); the error is in \`pm2 logs --err\`${errLog.out.includes(ERROR_TEXT) ? '' : ' (not found there either)'}`,
      errLog: lastLines(errLog.out),
    },
  };
}

/** The tasks under `grace run --env-file .env --pid-file grace.pid` (`servingPids`: the workers its pid file names as serving). */
export async function releasesGrace(trial: Trial, port: number, servingPids: () => number[]): Promise<Record<ReleaseTask, Outcome>> {
  const reload = () => graceCommand(trial, 'reload', '--pid-file', 'grace.pid');
  const reloads = await threeReloads(port, reload);
  console.error(`grace: reloads under load: ${reloads.cell}`);

  writeFileSync(trial.envFile, 'TRIAL_CONFIG=v2\n');
  const envReload = await reload();
  const seen = [...(await probeWorkers(port, 2)).values()];
  const envEdited: Outcome = { cell: `\`grace reload\` (${exit(envReload)}): ${seen.join(', ')}`, reload: envReload, seen };
  console.error(`grace: env: ${envEdited.cell}`);

  const before = servingPids();
  writeFileSync(trial.app, BROKEN + trial.good);
  const broken = await underLoad(port, BROKEN_LOAD, reload, 3000);
  const after = await get(port);
  const status = await graceCommand(trial, 'status', '--pid-file', 'grace.pid');
  const brokenOutcome: Outcome = {
    cell: `${exit(broken.result)}, "${broken.result.out.split('\n')[0]!.slice(0, 90)}…"; the old workers ${after.ok && before.includes(after.pid) ? 'kept serving' : 'did not serve'}: ${failedOf(broken.load)} during it and 3 s after`,
    reload: broken.result,
    load: broken.load,
    workersBefore: before,
    workersAfter: servingPids(),
    afterwards: after,
  };
  console.error(`grace: broken release: ${brokenOutcome.cell}`);
  writeFileSync(trial.app, trial.good);
  const statusLines = status.out.split('\n');
  const stderrLines = broken.result.out.split('\n').filter((l) => l.startsWith('  ')).length;
  return {
    reload: reloads,
    env: envEdited,
    broken: brokenOutcome,
    status: {
      cell: `\`grace status\` (${exit(status)}): "${statusLines[0]}", ${statusLines.filter((l) => / serving /.test(l)).length} workers serving, the last failure with ${status.out.includes(ERROR_TEXT) ? 'its stderr' : 'no stderr'}`,
      output: statusLines,
    },
    why: { cell: broken.result.out.includes(ERROR_TEXT) ? `yes: the worker's exit and its last ${stderrLines} lines of stderr` : 'no', output: lastLines(broken.result.out, 16) },
  };
}
