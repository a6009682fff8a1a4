// `grace run` started by npm (`npm start`, as under npx or `npm exec`):
// SIGTERM to npm makes it pass the signal to its `sh -c` and exit; grace run,
// reparented, used to serve on and hold the port. It follows the wrapper:
// once npm is gone it stops as on SIGTERM, and its workers drain and exit.
// Real npm, offline: a temp package whose start script runs grace run.
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPidFile } from '../src/reporting/pid-file.ts';
import { CLI, FIXTURE, killQuietly, startFixture, tempDir, waitForExit, waitUntil } from './helpers.ts';

const node = process.execPath;
const ROOT = new URL('..', import.meta.url).pathname;

test('grace run under npm start: SIGTERM to npm stops grace run and its workers, and frees the port', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'grace.pid');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules')); // tsx, with no network
  const start = [node, '--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--workers', '2', '--pid-file', pidFile, '--', node, '--import', 'tsx', FIXTURE];
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'under-npm', version: '1.0.0', private: true, scripts: { start: start.map((a) => `'${a}'`).join(' ') } }));
  // npm's own update check and logs stay out of it.
  const env = { npm_config_update_notifier: 'false', npm_config_cache: join(dir, '.npm'), npm_config_loglevel: 'warn' };
  const npm = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }] }, env, { file: 'npm', args: ['--prefix', dir, 'start'] });
  let supervisor = 0;
  t.after(() => killQuietly(supervisor));
  await waitUntil(() => npm.events.filter((e) => e.event === 'ready').length === 2, 30_000, () => `2 workers ready\n${npm.log}`);
  const workers = npm.events.filter((e) => e.event === 'ready');
  const port = (workers[0]!.addresses as Array<{ port: number }>)[0]!.port;
  await waitUntil(() => {
    try {
      return readPidFile(pidFile).state === 'serving';
    } catch {
      return false;
    }
  });
  supervisor = readPidFile(pidFile).pid;
  assert.notEqual(supervisor, npm.proc.pid, 'npm runs grace run as a child (through sh -c), not as itself');

  npm.proc.kill('SIGTERM');
  await npm.waitForLog(`npm pid ${npm.proc.pid}, which started grace run, exited: stopping, as on SIGTERM`);
  // Every process holding npm's output (grace run, its workers) has exited.
  await npm.closed();
  // Its output can reach its end a moment before the kernel has the process a zombie.
  for (const pid of [supervisor, ...workers.map((w) => w.pid)]) await waitForExit(pid, 5_000);
  await assertFree(port);
});

/** Nothing listens on `port` any more: it can be bound again. */
async function assertFree(port: number): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  await new Promise((resolve) => server.close(resolve));
}
