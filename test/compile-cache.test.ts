import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { killQuietly, startFixture, tempDir, waitForExit, type FixtureEvent } from './helpers.ts';

const APP = new URL('./fixtures/warm-up-app.ts', import.meta.url).pathname;
const hasCompileCache = 'enableCompileCache' in nodeModule;

async function restartOnce(t: Parameters<typeof startFixture>[0], env: NodeJS.ProcessEnv) {
  const tmp = tempDir(t);
  const app = startFixture(t, {}, { TMPDIR: tmp, ...env }, { file: process.execPath, args: ['--import', 'tsx', APP] });
  const first = await app.ready();
  process.kill(first.pid, 'SIGUSR2');
  const second = (await app.handedOver(first.pid)) as FixtureEvent & { compileCache: string | null };
  await waitForExit(first.pid);
  killQuietly(second.pid, 'SIGTERM');
  await waitForExit(second.pid);
  return { first: first as FixtureEvent & { compileCache: string | null }, second, tmp };
}

test(
  `the next generation gets a compile cache of this user's own under TMPDIR ${hasCompileCache ? '' : '(this node has none: it gets nothing)'}`,
  { timeout: 60_000 },
  async (t) => {
    const { first, second, tmp } = await restartOnce(t, { NODE_COMPILE_CACHE: '', NODE_DISABLE_COMPILE_CACHE: '' });
    assert.equal(first.compileCache, null, 'the first generation is started as the user started it');
    if (!hasCompileCache) {
      assert.equal(second.compileCache, null);
      return;
    }
    const dir = join(tmp, `grace-compile-cache-${process.getuid!()}`);
    assert.equal(second.compileCache, dir);
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
  },
);

test('a compile cache the user chose, or turned off, is left as it is', { timeout: 60_000 }, async (t) => {
  const chosen = await restartOnce(t, { NODE_COMPILE_CACHE: '/nonexistent/cache' });
  assert.equal(chosen.second.compileCache, '/nonexistent/cache');
  const off = await restartOnce(t, { NODE_COMPILE_CACHE: '', NODE_DISABLE_COMPILE_CACHE: '1' });
  assert.equal(off.second.compileCache, null);
});
