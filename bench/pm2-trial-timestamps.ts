// Task 11 of the PM2 trial (bench/pm2-trial.ts): timestamps on the log lines.
// PM2: `pm2 start app.mjs -i 2 --time`, read as its user reads them, with
// `pm2 logs --nostream` (each worker's stdout and stderr file, and PM2's own
// daemon log). grace: `grace run --workers 2 --timestamps`, its stdout and
// stderr as a terminal or a file gets them, from its first line to its last
// (a `grace stop` included). The app writes a line to stdout (/log), one to
// stderr (/warn) and a JSON line (/json), asked until both workers wrote each.
// What is read: is every line stamped (the app's, from both workers, and the
// tool's own), in which format, and does a JSON line stay JSON.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pm2Cluster, freePort } from './pm2.ts';
import { get, GraceRun, graceCommand, pm2Command, probeWorkers, sleep, type Outcome, type Trial } from './pm2-trial-kit.ts';

const STAMP = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?/;
const WANT = 4; // lines of each kind from each worker
const KINDS = { stdout: 'handled /log', stderr: 'warned /warn', json: 'handled /json' } as const;
type Kind = keyof typeof KINDS;

/** A line as read (`raw`): who wrote it (a worker, or the tool), its stamp (leading, or a JSON line's `time`), the rest. */
interface Line {
  raw: string;
  worker?: string;
  stamp?: string;
  text: string;
}

interface Tally {
  lines: number;
  stamped: number;
  workers: string[];
}

function tally(lines: Line[], pick: (l: Line) => boolean): Tally {
  const mine = lines.filter(pick);
  return { lines: mine.length, stamped: mine.filter((l) => l.stamp !== undefined).length, workers: [...new Set(mine.map((l) => l.worker ?? '?'))].sort() };
}

/** What a stamp carries: `seconds` or `ms`, and its zone (`Z`, an offset, or none). */
function format(stamp: string | undefined): string {
  if (!stamp) return 'none';
  const precision = /\.\d{3}/.test(stamp) ? 'ms' : /\.\d+/.test(stamp) ? 'sub-second' : 'seconds';
  const zone = stamp.endsWith('Z') ? 'UTC (Z)' : /[+-]\d{2}:?\d{2}$/.test(stamp) ? 'with its offset' : 'no zone';
  return `\`${stamp}\` (${precision}, ${zone})`;
}

const count = (t: Tally) => `${t.stamped} of ${t.lines}`;

/** The outcome from lines read, whatever the tool. */
function outcome(lines: Line[], isTool: (l: Line) => boolean, toolLines: string): Outcome {
  const kinds = Object.fromEntries((Object.keys(KINDS) as Kind[]).map((k) => [k, tally(lines, (l) => l.text.includes(KINDS[k]))])) as Record<Kind, Tally>;
  const own = tally(lines, isTool);
  const all = tally(lines, () => true);
  const json = lines.find((l) => l.text.includes(KINDS.json));
  const app = [kinds.stdout, kinds.stderr, kinds.json];
  const appStamped = app.reduce((n, t) => n + t.stamped, 0);
  const appLines = app.reduce((n, t) => n + t.lines, 0);
  const workers = [...new Set(app.flatMap((t) => t.workers))];
  const sample = lines.find((l) => l.text.includes(KINDS.stdout) && l.stamp);
  return {
    cell: `app lines ${appStamped} of ${appLines} stamped (stdout ${count(kinds.stdout)}, stderr ${count(kinds.stderr)}, JSON ${count(kinds.json)}; workers ${workers.join(', ')}), ${format(sample?.stamp)}; a JSON line ${json ? jsonAfter(json) : 'not seen'}; ${toolLines} ${count(own)} stamped${own.stamped ? `, ${format(lines.find((l) => isTool(l) && l.stamp)?.stamp)}` : ''}`,
    ...kinds,
    own,
    all,
    sample: lines.filter((l) => l.text.includes(KINDS.json) || l.text.includes(KINDS.stderr)).slice(0, 4),
  };
}

/** Asks each path until every worker wrote WANT lines of each kind (`seen` reads what was written), bounded. */
async function writeLines(port: number, workers: number, seen: () => Promise<Line[]>): Promise<void> {
  const enough = (lines: Line[]) => (Object.values(KINDS) as string[]).every((k) => new Set(lines.filter((l) => l.text.includes(k)).map((l) => l.worker)).size >= workers && lines.filter((l) => l.text.includes(k)).length >= WANT * workers);
  for (let round = 0; round < 40; round++) {
    for (const path of ['/log', '/warn', '/json']) await get(port, path);
    if (round >= WANT * workers - 1 && enough(await seen())) return;
  }
  await sleep(500);
}

/** What a JSON line became, as stored (PM2: its log file's line; grace: the line it writes). */
function jsonAfter(line: Line): string {
  if (!isJson(line.raw)) return `is no longer JSON (\`${line.raw}\`)`;
  return `stays JSON${(JSON.parse(line.raw) as { time?: unknown }).time !== undefined ? ', with a "time" field' : ', unstamped'}`;
}

/** `0|grace-be | 2026-12-05T21:44:58: handled /log` (a worker's, by its PM2 id) or `PM2        | 2026-…: PM2 log: …` (the daemon's). */
function pm2Line(raw: string): Line | undefined {
  const m = /^(?:(\d+)\|[^|]*|PM2\s*)\| (.*)$/.exec(raw);
  if (!m) return undefined;
  const stamp = new RegExp(`^(${STAMP.source}):? `).exec(m[2]!);
  return { raw: m[2]!, worker: m[1] === undefined ? 'PM2' : `id ${m[1]}`, stamp: stamp?.[1], text: stamp ? m[2]!.slice(stamp[0].length) : m[2]! };
}

/** `2026-12-05T21:44:58.123Z [w0 4388] handled /log`, `2026-…Z grace: …` or a JSON line with its `time`. */
function graceLine(raw: string): Line {
  const stamp = new RegExp(`^(${STAMP.source}) `).exec(raw);
  const text = stamp ? raw.slice(stamp[0].length) : raw;
  const prefix = /^\[(w\d+) \d+\] /.exec(text);
  if (text.startsWith('{') && isJson(text)) {
    const o = JSON.parse(text) as { time?: string; grace_worker?: number };
    return { raw, worker: o.grace_worker === undefined ? undefined : `w${o.grace_worker}`, stamp: stamp?.[1] ?? o.time, text };
  }
  return { raw, worker: prefix?.[1] ?? (text.startsWith('grace:') ? 'grace' : undefined), stamp: stamp?.[1], text: prefix ? text.slice(prefix[0].length) : text };
}

export async function timestampsPm2(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<Outcome> {
  writeFileSync(trial.app, trial.good);
  const cluster = await Pm2Cluster.start({ script: trial.app, instances: 2, env: trial.pm2Env, startArgs: ['--time'], autorestart: true, cwd: trial.dir });
  cleanups.push(() => cluster.kill());
  try {
    if ((await probeWorkers(cluster.port, 2)).size < 2) throw new Error('pm2 --time: 2 workers did not answer');
    const read = async () => (await pm2Command(cluster, 'logs', '--nostream', '--lines', '200')).out.split('\n').map(pm2Line).filter((l): l is Line => l !== undefined);
    await writeLines(cluster.port, 2, read);
    const result = outcome(await read(), (l) => l.worker === 'PM2', "PM2's own lines (its daemon log)");
    return { ...result, command: `pm2 start app.mjs --name ${cluster.name} -i 2 --time`, read: 'pm2 logs --nostream --lines 200' };
  } finally {
    await cluster.kill();
  }
}

export async function timestampsGrace(trial: Trial, cleanups: Array<() => Promise<void>>): Promise<Outcome> {
  writeFileSync(trial.app, trial.good);
  const pidFile = join(trial.dir, 'timestamps.pid');
  const port = await freePort();
  const args = ['run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--timestamps', '--pid-file', 'timestamps.pid', '--', process.execPath, 'app.mjs'];
  const run = new GraceRun(trial, args, { cwd: trial.dir, pidFile });
  cleanups.push(() => run.kill());
  try {
    await run.untilServing(port, 'grace --timestamps');
    const read = async () => [...run.stdout, ...run.stderr].map(graceLine);
    await writeLines(port, 2, read);
    const stop = await graceCommand(trial, 'stop', '--pid-file', pidFile);
    await Promise.race([run.exited, sleep(10_000)]);
    const result = outcome(await read(), (l) => l.worker === 'grace', "grace's own lines");
    return { ...result, command: `grace ${args.join(' ').replace(process.execPath, 'node').replace(String(port), '<free>')}`, stop: stop.code };
  } finally {
    await run.kill();
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
