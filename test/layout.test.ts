// The source tree's shape, as docs/design.md draws it: each folder is a layer,
// imports go down (never up, never across to a sibling layer), there is no
// import cycle, and no file or class outgrows a reader's screenful or two.
// Type-only imports are not edges: they vanish from the built code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;

/** Lower layers first; a file may import its own folder and any folder ranked below it. */
const RANK: Record<string, number> = {
  platform: 0,
  lifecycle: 0.5, // the lifecycle table every process runs: above platform, below everything that runs it
  // grace run's decisions, pure: they stand on platform alone, and nothing of the supervisor's shell.
  'supervisor/core': 0.5,
  sockets: 1,
  shutdown: 1,
  reporting: 1,
  protocol: 2,
  serving: 2,
  generation: 3,
  supervisor: 3,
  api: 4,
  cli: 5,
  '.': 6, // the entries: index.ts and cli.ts
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Value imports of each source file, as paths relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of walk(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^'";]*?)\s*from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/gm)) {
      const [, , typeOnly, clause, fromSpec, dynamicSpec] = m;
      if (typeOnly) continue;
      const names = /^\{([^}]*)\}$/.exec(clause?.trim() ?? '')?.[1];
      if (names !== undefined && names.split(',').every((n) => !n.trim() || n.trim().startsWith('type '))) continue;
      deps.push(relative(SRC, join(dirname(file), (fromSpec ?? dynamicSpec)!)).replace(/\.js$/, '.ts'));
    }
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

/** A file's layer: its folder under src/, or a folder inside it that has a rank of its own (supervisor/core). */
function layerOf(path: string): string {
  const parts = path.split('/');
  if (parts.length === 1) return '.';
  const inner = parts.slice(0, 2).join('/');
  return parts.length > 2 && inner in RANK ? inner : parts[0]!;
}

test('every source file sits in a known layer folder', () => {
  const unknown = [...importGraph().keys()].filter((f) => !(layerOf(f) in RANK));
  assert.deepEqual(unknown, []);
});

test('imports go down the layers, never up or across', () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    for (const dep of deps) {
      const from = layerOf(file);
      const to = layerOf(dep);
      if (from !== to && RANK[to]! >= RANK[from]!) wrong.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the supervisor\'s core is pure: it imports its own folder and platform/errors.ts, nothing with a side effect', () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    if (layerOf(file) !== 'supervisor/core') continue;
    for (const dep of deps) if (layerOf(dep) !== 'supervisor/core' && dep !== 'platform/errors.ts') wrong.push(`${file} -> ${dep}`);
  }
  assert.deepEqual(wrong, []);
});

test('grace run keeps time in one place: no timer under supervisor/ (the deadline adapter is platform/deadline-timers.ts) but the output that outlives a worker', () => {
  const timers = walk(join(SRC, 'supervisor'))
    .filter((file) => /\bset(Timeout|Interval|Immediate)\(/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file));
  assert.deepEqual(timers.sort(), ['supervisor/log-prefix.ts']);
});

test('there is no import cycle between source files', () => {
  const graph = importGraph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(' -> '));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

test('no source file is over 400 lines, no class over 250', () => {
  const big: string[] = [];
  for (const file of walk(SRC)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.length > 400) big.push(`${relative(SRC, file)}: ${lines.length} lines`);
    let start = -1;
    lines.forEach((line, i) => {
      if (/^(export )?(abstract )?class /.test(line)) start = i;
      else if (start >= 0 && line === '}') {
        if (i - start + 1 > 250) big.push(`${relative(SRC, file)}: class at line ${start + 1} is ${i - start + 1} lines`);
        start = -1;
      }
    });
  }
  assert.deepEqual(big, []);
});
