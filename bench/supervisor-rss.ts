// Does `grace run`'s own memory settle over many rolling reloads, or grow?
// Starts `grace run --workers N` (the supervisor and the app bundled with
// esbuild, so neither pays tsx's loader and a reload takes a fraction of a
// second), makes RELOADS rolling reloads through `grace reload`'s own
// function, no load, and samples the supervisor's VmRSS and RssAnon (kB,
// /proc) every EVERY reloads. Prints one line a sample and writes
// bench/results/supervisor-rss.json (-heap.json). With --heap, each sample also takes a
// heap snapshot of the supervisor (SIGUSR1, --heapsnapshot-signal: V8 collects
// garbage first), so what the heap still holds is told from what the
// collector had not yet taken back: its live bytes, and the object kinds
// that grew most between the first and the last sample (a snapshot costs
// RSS of its own: read RSS from a run without --heap).
// With --usage, the supervisor is started with a preloaded probe (the bench's,
// not grace's) that, on SIGWINCH, runs a full GC and writes
// process.memoryUsage(): the V8 heap's size and use, and memory outside it.
//   node --import tsx bench/supervisor-rss.ts [--reloads 300] [--every 50] [--workers 2] [--heap | --usage]
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { reload } from '../src/cli/reload.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';

const { values } = parseArgs({ options: { reloads: { type: 'string', default: '300' }, every: { type: 'string', default: '50' }, workers: { type: 'string', default: '2' }, heap: { type: 'boolean', default: false }, usage: { type: 'boolean', default: false } } });
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
const usageFile = join(dir, 'usage.json');
writeFileSync(
  join(dir, 'probe.cjs'),
  `process.on('SIGWINCH', () => { globalThis.gc(); require('node:fs').writeFileSync(${JSON.stringify(usageFile)}, JSON.stringify(process.memoryUsage())); });\n`,
);
const probe = values.usage ? ['--expose-gc', '--require', join(dir, 'probe.cjs')] : [];
const supervisor = spawn(process.execPath, [...(values.heap ? ['--heapsnapshot-signal=SIGUSR1'] : []), ...probe, join(dir, 'cli.mjs'), 'run', '--listen', '127.0.0.1:0', '--workers', String(workers), '--pid-file', pidFile, '--', process.execPath, join(dir, 'app.mjs')], {
  stdio: ['ignore', 'ignore', 'ignore'],
  cwd: dir,
});
const pid = supervisor.pid!;

function kb(field: string): number {
  const line = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? 0);
}

/** A heap snapshot of the supervisor, after a full collection: live bytes, and object counts by constructor. */
async function heap(): Promise<{ liveKb: number; counts: Map<string, number> }> {
  const before = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).length;
  supervisor.kill('SIGUSR1');
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const files = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).sort();
    if (files.length <= before) continue;
    let snapshot;
    try {
      snapshot = JSON.parse(readFileSync(join(dir, files.at(-1)!), 'utf8'));
    } catch {
      continue; // still being written
    }
    rmSync(join(dir, files.at(-1)!));
    const fields: string[] = snapshot.snapshot.meta.node_fields;
    const types: string[] = snapshot.snapshot.meta.node_types[0];
    const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
    let bytes = 0;
    const counts = new Map<string, number>();
    for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
      bytes += snapshot.nodes[i + size!];
      if (types[snapshot.nodes[i + type!]] !== 'object' && types[snapshot.nodes[i + type!]] !== 'closure') continue;
      const label = `${types[snapshot.nodes[i + type!]]} ${snapshot.strings[snapshot.nodes[i + name!]]}`;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    return { liveKb: Math.round(bytes / 1024), counts };
  }
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
  const samples: Array<{ reloads: number; rssKb: number; anonKb: number; liveHeapKb?: number; usageKb?: Record<string, number> }> = [];
  const counts: Array<Map<string, number>> = [];
  const sample = async (n: number) => {
    const s: (typeof samples)[number] = { reloads: n, rssKb: kb('VmRSS'), anonKb: kb('RssAnon') };
    if (values.heap) {
      const h = await heap();
      s.liveHeapKb = h.liveKb;
      counts.push(h.counts);
    }
    if (values.usage) {
      rmSync(usageFile, { force: true });
      supervisor.kill('SIGWINCH');
      let usage: Record<string, number> | undefined;
      while (!usage) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          usage = JSON.parse(readFileSync(usageFile, 'utf8'));
        } catch {
          // not yet
        }
      }
      s.usageKb = Object.fromEntries(Object.entries(usage).map(([k, v]) => [k, Math.round(v / 1024)]));
      // After the collection, as the usage is.
      [s.rssKb, s.anonKb] = [kb('VmRSS'), kb('RssAnon')];
    }
    samples.push(s);
    const mb = (k: number) => (k / 1024).toFixed(1);
    const u = s.usageKb;
    const live = s.liveHeapKb !== undefined ? `, live heap after a full GC ${(s.liveHeapKb / 1024).toFixed(2)} MB` : u ? `; after a full GC: V8 heap ${mb(u.heapUsed!)} used of ${mb(u.heapTotal!)}, external ${mb(u.external!)}` : '';
    console.log(`after ${String(n).padStart(4)} reloads: supervisor RSS ${(s.rssKb / 1024).toFixed(1)} MB (anonymous ${(s.anonKb / 1024).toFixed(1)} MB${live})`);
  };
  await sample(0);
  const started = performance.now();
  for (let n = 1; n <= reloads; n++) {
    await reload({ pidFile, timeout: 30_000, pollInterval: 20 });
    if (n % every === 0) await sample(n);
  }
  let growth: Array<[string, number]> = [];
  if (counts.length > 1) {
    const [first, last] = [counts[0]!, counts.at(-1)!];
    growth = [...last].map(([label, count]): [string, number] => [label, count - (first.get(label) ?? 0)]).sort((a, b) => b[1] - a[1]).slice(0, 8);
    console.log(`objects that grew most from the first sample to the last: ${growth.map(([label, d]) => `${label} +${d}`).join(', ')}`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${reloads} reloads of ${workers} workers in ${seconds.toFixed(0)} s (Node ${process.version})`);
  writeFileSync(
    join(root, `bench/results/supervisor-rss${values.heap ? '-heap' : values.usage ? '-usage' : ''}.json`),
    `${JSON.stringify({ node: process.version, workers, reloads, seconds: Math.round(seconds), load: 'none', probe: values.heap ? 'heap snapshots' : values.usage ? 'memoryUsage after gc()' : 'none', samples, ...(growth.length ? { grewMost: Object.fromEntries(growth) } : {}) }, null, 2)}\n`,
  );
} finally {
  supervisor.kill('SIGTERM');
  await once(supervisor, 'exit');
  rmSync(dir, { recursive: true, force: true });
}
