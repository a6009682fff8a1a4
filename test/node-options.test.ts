// NODE_OPTIONS reaches every generation as the user wrote it: only the
// inspector flags are cut out (a second process cannot bind their port), and
// the standby's park goes in front; every other byte stays, so a quoted
// preload path with two spaces in it still names that file.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { nodeOptionSpans, quoteNodeOption, withoutNodeOptions } from '../src/protocol/node-options.ts';
import { CLI, FIXTURE_ARGS, get, killQuietly, portOf, startFixture, tempDir, waitForExit, type Fixture } from './helpers.ts';

const node = process.execPath;
const LISTEN = { listen: [{ port: 0, host: '127.0.0.1' }] };

test('NODE_OPTIONS is split as node splits it: on spaces only, quotes grouping, a backslash escaping inside quotes', () => {
  const value = '--require "/x/a  b/p.cjs"\t--title=a\\b  "--x=\\"q\\""';
  assert.deepEqual(
    nodeOptionSpans(value).map((s) => s.arg),
    ['--require', '/x/a  b/p.cjs\t--title=a\\b', '--x="q"'],
  );
  const drop = (arg: string) => (arg === '--inspect' ? 1 : arg === '--inspect-port' ? 2 : 0);
  assert.equal(withoutNodeOptions('--inspect --require "/x/a  b/p.cjs"', drop), '--require "/x/a  b/p.cjs"');
  assert.equal(withoutNodeOptions('--a  --inspect-port 9230   --b', drop), '--a  --b');
  assert.equal(withoutNodeOptions('--require "/x/a  b/p.cjs"  --inspect', drop), '--require "/x/a  b/p.cjs"');
  assert.equal(withoutNodeOptions(' --a  ', drop), ' --a  ', 'nothing cut: the very same string');
  assert.equal(quoteNodeOption('/x/a b/"c"\\d'), '"/x/a b/\\"c\\"\\\\d"');
  assert.deepEqual(nodeOptionSpans(`--require ${quoteNodeOption('/x/a b/"c"\\d')}`).map((s) => s.arg), ['--require', '/x/a b/"c"\\d']);
});

/** A preload in a directory whose name has two spaces, saying it ran and the NODE_OPTIONS it saw. */
function spacedPreload(t: TestContext): string {
  const dir = join(tempDir(t), 'a  b');
  mkdirSync(dir);
  const preload = join(dir, 'p.cjs');
  writeFileSync(preload, `process.stdout.write(JSON.stringify({ event: 'preload', pid: process.pid, nodeOptions: process.env.NODE_OPTIONS }) + '\\n');\n`);
  return preload;
}

function preloadIn(app: Fixture, pid: number): unknown {
  return app.events.find((e) => e.event === 'preload' && e.pid === pid)?.nodeOptions;
}

test('direct mode: a preload at a quoted path with two spaces runs in every generation; only --inspect is cut from NODE_OPTIONS', { timeout: 60_000 }, async (t) => {
  const preload = spacedPreload(t);
  const kept = `--require "${preload}"  --max-old-space-size=200`;
  const app = startFixture(t, LISTEN, { NODE_OPTIONS: `${kept} --inspect=127.0.0.1:0` });
  let current = await app.ready();
  const port = portOf(current);
  assert.equal(preloadIn(app, current.pid), `${kept} --inspect=127.0.0.1:0`);
  for (let restart = 0; restart < 2; restart++) {
    process.kill(current.pid, 'SIGUSR2');
    const next = await app.handedOver(current.pid);
    assert.equal(preloadIn(app, next.pid), kept, 'the rest byte for byte');
    assert.equal((await get({ port }, '/')).json.pid, next.pid);
    await waitForExit(current.pid);
    current = next;
  }
  process.kill(current.pid, 'SIGTERM');
  await waitForExit(current.pid);
});

test('grace run --standby 1: the spare parked with the park in front of NODE_OPTIONS runs the spaced preload and sees NODE_OPTIONS as given', { timeout: 60_000 }, async (t) => {
  const preload = spacedPreload(t);
  const nodeOptions = `--require "${preload}"  --max-old-space-size=200`;
  const run = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--standby', '1', '--', node, ...FIXTURE_ARGS];
  const app = startFixture(t, LISTEN, { NODE_OPTIONS: nodeOptions, GRACE_DEBUG: '1' }, { file: node, args: run });
  t.after(() => {
    for (const [, pid] of app.log.matchAll(/booting standby pid (\d+)/g)) killQuietly(Number(pid));
  });
  const first = await app.ready();
  await app.waitForLog(/standby pid (\d+) parked/);
  const spare = Number(/standby pid (\d+) parked/.exec(app.log)![1]);
  process.kill(app.proc.pid!, 'SIGUSR2');
  await app.ready(spare);
  assert.equal(preloadIn(app, first.pid), nodeOptions);
  assert.equal(preloadIn(app, spare), nodeOptions);
  await waitForExit(first.pid); // until it is retired, both accept
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, spare);
  process.kill(app.proc.pid!, 'SIGTERM');
  assert.equal((await app.closed()).code, 0);
});
