// Does `grace run`'s own memory settle over many rolling reloads, or grow?
// Starts `grace run --workers N` (the supervisor and the app bundled with
// esbuild, so neither pays tsx's loader and a reload takes a fraction of a
// second), makes RELOADS rolling reloads through `grace reload`'s own
// function, no load, and samples the supervisor's VmRSS and RssAnon (kB,
// /proc) every EVERY reloads. Prints one line a sample and writes
// bench/results/supervisor-rss.json.
//   node --import tsx bench/supervisor-rss.ts [--reloads 300] [--every 50] [--workers 2]
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { reload } from '../src/cli/reload.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';

const { values } = parseArgs({ options: { reloads: { type: 'string', default: '300' }, every: { type: 'string', default: '50' }, workers: { type: 'string', default: '2' } } });
const reloads = Number(values.reloads);
const every = Number(values.every);
const workers = Number(values.workers);
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'grace-rss-'));
const bundle = (entry: string, out: string) =>
  execFileSync(join(root, 'node_modules/.bin/esbuild'), [join(root, entry), '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${join(dir, out)}`, '--log-level=warning']);
bundle('src/cli.ts', 'cli.mjs');
bundle('bench/workers-app.ts', 'app.mjs');

const pidFile = join(dir, 'grace.pid');
const supervisor = spawn(process.execPath, [join(dir, 'cli.mjs'), 'run', '--listen', '127.0.0.1:0', '--workers', String(workers), '--pid-file', pidFile, '--', process.execPath, join(dir, 'app.mjs')], {
  stdio: ['ignore', 'ignore', 'ignore'],
});
const pid = supervisor.pid!;

function kb(field: string): number {
  const line = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? 0);
}

try {
  for (let i = 0; ; i++) {
    try {
      if (readPidFile(pidFile).state === 'serving') break;
    } catch {
      // not written yet
    }
    if (i > 600) throw new Error('grace run did not serve within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const samples: Array<{ reloads: number; rssKb: number; anonKb: number }> = [];
  const sample = (n: number) => {
    const s = { reloads: n, rssKb: kb('VmRSS'), anonKb: kb('RssAnon') };
    samples.push(s);
    console.log(`after ${String(n).padStart(4)} reloads: supervisor RSS ${(s.rssKb / 1024).toFixed(1)} MB (anonymous ${(s.anonKb / 1024).toFixed(1)} MB)`);
  };
  sample(0);
  const started = performance.now();
  for (let n = 1; n <= reloads; n++) {
    await reload({ pidFile, timeout: 30_000, pollInterval: 20 });
    if (n % every === 0) sample(n);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${reloads} reloads of ${workers} workers in ${seconds.toFixed(0)} s (Node ${process.version})`);
  writeFileSync(
    join(root, 'bench/results/supervisor-rss.json'),
    `${JSON.stringify({ node: process.version, workers, reloads, seconds: Math.round(seconds), load: 'none', samples }, null, 2)}\n`,
  );
} finally {
  supervisor.kill('SIGTERM');
  await once(supervisor, 'exit');
  rmSync(dir, { recursive: true, force: true });
}
