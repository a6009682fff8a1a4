// What a full disk does to the pid file. Real files, real processes, on a
// tmpfs mount of four pages (skipped where mounting is not permitted).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { readPidFile, writePidFile, type PidFileState } from '../src/pid-file.ts';
import { reload } from '../src/reload.ts';
import { get, portOf, startFixture } from './helpers.ts';

/**
 * A directory on its own tmpfs of four pages, unmounted when the test ends.
 * Returns undefined (and skips the test) where mounting is not permitted.
 */
function tinyFilesystem(t: TestContext): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'grace-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    t.skip(`cannot mount a tmpfs to fill: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', [dir]);
    rmdirSync(dir);
  });
  return dir;
}

/** Writes a file until the filesystem refuses: ENOSPC is the proof it is full. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(1024));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
}

test('on a full disk writePidFile leaves no temp file behind and still records the new state', { timeout: 30_000 }, (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  const pidFile = join(dir, 'app.pid');
  writePidFile(pidFile, { pid: 100, start: 1, generation: 1, serving: 100, state: 'serving', at: 1 });
  fill(dir);
  const next: PidFileState = { pid: 100, start: 1, generation: 2, serving: 200, state: 'failed', message: 'x'.repeat(200), at: 2 };
  writePidFile(pidFile, next);
  assert.deepEqual(readdirSync(dir).sort(), ['app.pid', 'filler']);
  assert.deepEqual(readPidFile(pidFile), next);
  const shorter: PidFileState = { pid: 100, start: 1, generation: 3, serving: 300, state: 'serving', at: 3 };
  writePidFile(pidFile, shorter);
  assert.deepEqual(readPidFile(pidFile), shorter, 'a shorter state leaves no tail of the longer one');
  assert.equal(readFileSync(pidFile, 'utf8'), `100\ngrace ${JSON.stringify(shorter)}\n`);
});

test('on a full disk with no pid file yet, writePidFile throws and leaves nothing behind', { timeout: 30_000 }, (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  fill(dir);
  assert.throws(() => writePidFile(join(dir, 'app.pid'), { pid: 100, start: 1, generation: 1, serving: 100, state: 'serving', at: 1 }), { code: 'ENOSPC' });
  assert.deepEqual(readdirSync(dir), ['filler']);
});

test('grace reload on a full disk reports the restart that happened', { timeout: 60_000 }, async (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  const pidFile = join(dir, 'app.pid');
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile } });
  const first = await app.ready();
  fill(dir);
  const result = await reload({ pidFile, timeout: 20_000 });
  const second = app.events.find((e) => e.event === 'ready' && e.pid !== first.pid)!;
  assert.deepEqual(result, { signalled: first.pid, oldPid: first.pid, newPid: second.pid, generation: 2 });
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
  assert.deepEqual(readdirSync(dir).sort(), ['app.pid', 'filler']);
});
