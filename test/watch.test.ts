// `grace run --watch` (development): a change under the app's directory is a
// rolling reload; a save that does not start keeps the last good code
// serving; a burst of writes is one reload; node_modules, dotfiles and the
// pid file are skipped; a directory made later is watched. Real processes;
// the debounce and the queued reload are replayed in run-policies-table.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, get, killQuietly, tempDir, waitUntil } from './helpers.ts';

const APP = new URL('./fixtures/watch-app.ts', import.meta.url).pathname;
// The app runs in its own directory: tsx found from here, not from there.
const TSX = import.meta.resolve('tsx');

test('--watch: an edit is served after a rolling reload, a syntax error keeps the last good code, a burst of 20 writes is one reload', { timeout: 90_000 }, async (t) => {
  // Before the temp dir's removal (hooks run in order, and stop at one that throws): nothing left writing into it.
  let running: number[] = [];
  t.after(() => running.forEach((pid) => killQuietly(pid)));
  const dir = tempDir(t);
  const code = join(dir, 'code.mjs');
  writeFileSync(code, 'export const version = 1;\n');
  // In the watched directory, written at every step: the pid file, and grace's own log (its stderr): neither may reload.
  const log = openSync(join(dir, 'grace.log'), 'a');
  const proc = spawn(process.execPath, ['--import', TSX, CLI, 'run', '--listen', '127.0.0.1:0', '--watch', '--pid-file', 'grace.pid', '--', process.execPath, '--import', TSX, APP], {
    cwd: dir,
    stdio: ['ignore', 'pipe', log],
  });
  closeSync(log);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const read = () => (err = readFileSync(join(dir, 'grace.log'), 'utf8'));
  const readies = () => [...out.matchAll(/\{"event":"ready".*\}/g)].map((m) => JSON.parse(m[0]) as { pid: number; version: number; port: number });
  running = [proc.pid!];
  proc.stdout!.on('data', () => (running = [proc.pid!, ...readies().map((r) => r.pid)]));
  const reloaded = (generation: number) => waitUntil(() => read().includes(`reload done: generation ${generation} serves`), 30_000, () => `reload ${generation}\n${err}`);
  const version = async () => (JSON.parse((await get({ port: readies()[0]!.port }, '/')).body) as { version: number }).version;

  await waitUntil(() => readies().length === 1, 30_000, () => `ready\n${read()}`);
  assert.equal(await version(), 1);

  writeFileSync(code, 'export const version = 2;\n');
  await reloaded(2);
  assert.equal(await version(), 2);

  // A broken save: the reload fails, the old code serves on.
  writeFileSync(code, 'export const version = ;\n');
  await waitUntil(() => /reload failed: generation 3 pid \d+ exited with code 1 before it was ready; pid \d+ still serving/.test(read()), 30_000, () => `the failed reload\n${err}`);
  assert.match(err, /SyntaxError/);
  assert.equal(await version(), 2);

  // A burst (and a directory made, watched from then on): one reload.
  mkdirSync(join(dir, 'lib'));
  for (let v = 3; v <= 22; v++) writeFileSync(code, `export const version = ${v};\n`);
  await reloaded(4);
  assert.equal(await version(), 22);

  // Skipped: node_modules, dotfiles. Then a change in the new directory is the next reload, generation 5, named first.
  mkdirSync(join(dir, 'node_modules', 'pkg'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'pkg', 'index.js'), '');
  writeFileSync(join(dir, '.env.swp'), '');
  writeFileSync(join(dir, 'lib', 'sentinel.mjs'), '');
  await reloaded(5);
  assert.match(err, /grace: lib\/sentinel\.mjs changed\n/);
  proc.kill('SIGTERM');
  const [status] = await once(proc, 'close');
  read();
  assert.equal(status, 0, err);
  assert.deepEqual([...err.matchAll(/--watch: reloading to generation (\d+)/g)].map((m) => Number(m[1])), [2, 3, 4, 5], err);
  assert.match(err, /--watch \(for development\): a change under \. reloads the workers/);
});
