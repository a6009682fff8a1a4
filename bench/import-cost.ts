// What loading grace adds to a node start: `import()` of the built package
// (dist/, as an app gets it from npm) timed in fresh processes, wall and CPU,
// after `node:http` (which any HTTP app loads anyway; timed alone beside it); with the V8
// compile cache off and, where this node has it (>= 22.1), on and warm (the
// case of a second generation, which finds the first one's cache).
//
//   npm run build && node --import tsx bench/import-cost.ts [--runs 15] [--dist DIR] [--name NAME]
// Prints the figures and writes them to bench/results/NAME.json (default import-cost-nodeN).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './load.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    dist: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`usage: npm run build && node --import tsx bench/import-cost.ts [--runs N] [--dist DIR]

Times import() of the built package in N fresh processes (medians, wall and CPU), beside
node:http alone, with the compile cache off and (node >= 22.1) on.
  --runs N     processes per figure (default 15)
  --dist DIR   the dist/esm to load (default: this checkout's; e.g. another worktree's, for a before/after)
  --name NAME  results file bench/results/NAME.json (default import-cost-node${nodeMajor})
`);
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const entry = join(values.dist ?? join(root, 'dist/esm'), 'index.js');
// node:http first (an HTTP app loads it anyway), unless it is what is timed.
const PROBE = `
const { performance } = await import('node:perf_hooks');
if (process.argv[1] !== 'node:http') await import('node:http');
const c0 = process.cpuUsage(); const t0 = performance.now();
await import(process.argv[1]);
const c = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, startMs: t0 }));
`;

function time(target: string, env: NodeJS.ProcessEnv, runs: number) {
  const ms: number[] = [];
  const cpu: number[] = [];
  const start: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, target], { env: { ...process.env, ...env }, encoding: 'utf8' });
    const r = JSON.parse(out) as { ms: number; cpuMs: number; startMs: number };
    ms.push(r.ms);
    cpu.push(r.cpuMs);
    start.push(r.startMs);
  }
  return { ms: median(ms), cpuMs: median(cpu), nodeStartMs: median(start) };
}

const header = resultsHeader(values);
const runs = Number(values.runs);
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const hasCache = major > 22 || (major === 22 && minor >= 1);
console.log(`import cost on node ${process.version}, ${runs} fresh processes per figure (medians): ${entry}`);
const rows: Array<[string, { ms: number; cpuMs: number; nodeStartMs: number }]> = [];
rows.push(['node:http', time('node:http', { NODE_COMPILE_CACHE: '' }, runs)]);
rows.push(['grace-restart', time(entry, { NODE_COMPILE_CACHE: '' }, runs)]);
if (hasCache) {
  const dir = mkdtempSync(join(tmpdir(), 'grace-compile-cache-'));
  try {
    time(entry, { NODE_COMPILE_CACHE: dir }, 1); // fills it
    rows.push(['grace-restart, compile cache warm', time(entry, { NODE_COMPILE_CACHE: dir }, runs)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const [name, r] of rows) console.log(`${name.padEnd(36)} ${r.ms.toFixed(1).padStart(6)} ms wall ${r.cpuMs.toFixed(1).padStart(6)} ms CPU   (node itself took ${r.nodeStartMs.toFixed(0)} ms to get there)`);
if (!hasCache) console.log(`(no compile cache on node ${process.version}: module.enableCompileCache() needs >= 22.1)`);
const result = { ...header, entry, runs, compileCache: hasCache, medians: Object.fromEntries(rows) };
console.log(`results: ${writeResults(values.name ?? `import-cost-node${nodeMajor}`, result)}`);
