// What started this process, read from the markers and command lines that
// nodemon, node --watch, tsx and npm really leave (recorded on Linux with
// nodemon 3.1, node 20, tsx 4.20, npm 11), against a fake process table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { directCommand, launchedBy, watcherSetting, wrapperWarning, type LaunchFacts } from '../src/generation/launched-by.ts';
import type { ProcessInfo } from '../src/platform/proc.ts';

const TERMINAL = { 20: { ppid: 1, argv: ['bash'] } };
const TSX_EXEC_ARGV = ['--require', '/p/node_modules/tsx/dist/preflight.cjs', '--import', 'file:///p/node_modules/tsx/dist/loader.mjs'];

/** This process (pid 100) with a parent chain given as pid → process, and unreadable elsewhere. */
function facts(table: Record<number, ProcessInfo>, ppid: number, extra: Partial<LaunchFacts> = {}): LaunchFacts {
  return { env: {}, execArgv: [], ppid, readProcess: (pid) => table[pid], ...extra };
}

test('node --watch is told by the WATCH_REPORT_DEPENDENCIES variable it gives its child', { timeout: 5_000 }, () => {
  const table = { 50: { ppid: 20, argv: ['node', '--watch-path=src', 'app.js'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(table, 50, { env: { WATCH_REPORT_DEPENDENCIES: '1' } })), { kind: 'watcher', name: 'node --watch', how: 'detected' });
  assert.deepEqual(launchedBy(facts({}, 50, { env: { WATCH_REPORT_DEPENDENCIES: '1' } })), { kind: 'watcher', name: 'node --watch', how: 'detected' }, 'without /proc too');
});

test('nodemon is told by an ancestor running its bin, forked, through sh -c, global, or above npm', { timeout: 5_000 }, () => {
  const forked = { 50: { ppid: 49, argv: ['node', '/p/node_modules/.bin/nodemon', 'app.js'] }, 49: { ppid: 48, argv: ['sh', '-c', "'nodemon' app.js"] }, 48: { ppid: 20, argv: ['npm exec nodemon app.js'] }, ...TERMINAL };
  // npx leaves its npm_* variables to the app: the nearest tool is still nodemon.
  assert.equal(launchedBy(facts(forked, 50, { env: { npm_lifecycle_event: 'npx', npm_config_user_agent: 'npm/11.19.1 node/v20.20.2' } })).kind, 'watcher');
  const spawned = { 51: { ppid: 50, argv: ['sh', '-c', 'node --import tsx app.ts'] }, 50: { ppid: 20, argv: ['node', '/p/node_modules/.bin/nodemon', '--exec', 'node --import tsx', 'app.ts'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(spawned, 51)), { kind: 'watcher', name: 'nodemon', how: 'detected' });
  const global = { 50: { ppid: 20, argv: ['/usr/bin/node', '/usr/lib/node_modules/nodemon/bin/nodemon.js', 'app.js'] }, ...TERMINAL };
  assert.equal(launchedBy(facts(global, 50)).kind, 'watcher');
  // nodemon --exec "npm start": nodemon signals its whole subtree, so the app is watched.
  const aboveNpm = { 52: { ppid: 51, argv: ['sh', '-c', 'node app.js'] }, 51: { ppid: 50, argv: ['npm start'] }, 50: { ppid: 49, argv: ['sh', '-c', 'npm start'] }, 49: { ppid: 20, argv: ['node', '/usr/bin/nodemon', '--exec', 'npm start'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(aboveNpm, 52)), { kind: 'watcher', name: 'nodemon', how: 'detected' });
});

test('the tsx CLI is told by its preflight hook in execArgv; tsx watch by its parent', { timeout: 5_000 }, () => {
  const watch = { 50: { ppid: 20, argv: ['node', '/p/node_modules/.bin/tsx', 'watch', 'app.ts'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(watch, 50, { execArgv: TSX_EXEC_ARGV })), { kind: 'watcher', name: 'tsx watch', how: 'detected' });
  const run = { 50: { ppid: 20, argv: ['node', '/p/node_modules/.bin/tsx', 'app.ts'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(run, 50, { execArgv: TSX_EXEC_ARGV })), { kind: 'wrapper', name: 'tsx', pid: 50 });
  assert.deepEqual(launchedBy(facts({}, 50, { execArgv: TSX_EXEC_ARGV })), { kind: 'wrapper', name: 'tsx', pid: undefined }, 'without /proc');
  // `node --import tsx` is no wrapper.
  assert.deepEqual(launchedBy(facts(TERMINAL, 20, { execArgv: ['--import', 'tsx'] })), { kind: 'direct' });
});

test('a package manager is the nearest ancestor that is not a shell: npm, yarn, pnpm, and npm as pid 1', { timeout: 5_000 }, () => {
  const npm = { 51: { ppid: 50, argv: ['sh', '-c', 'node app.js'] }, 50: { ppid: 20, argv: ['npm start'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(npm, 51)), { kind: 'wrapper', name: 'npm', pid: 50 });
  const yarn = { 50: { ppid: 20, argv: ['/usr/bin/node', '/usr/share/yarn/bin/yarn.js', 'start'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(yarn, 50)), { kind: 'wrapper', name: 'yarn', pid: 50 });
  const berry = { 50: { ppid: 20, argv: ['node', '/p/.yarn/releases/yarn-4.1.0.cjs', 'run', 'start'] }, ...TERMINAL };
  assert.equal(launchedBy(facts(berry, 50)).kind, 'wrapper');
  const pnpm = { 50: { ppid: 20, argv: ['node', '/usr/lib/node_modules/pnpm/bin/pnpm.cjs', 'start'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(pnpm, 50)), { kind: 'wrapper', name: 'pnpm', pid: 50 });
  const container = { 1: { ppid: 0, argv: ['npm start'] } };
  assert.deepEqual(launchedBy(facts(container, 1)), { kind: 'wrapper', name: 'npm', pid: 1 });
});

test('started by hand, by a test runner or by systemd it is direct, even with npm variables inherited', { timeout: 5_000 }, () => {
  const env = { npm_lifecycle_event: 'test', npm_config_user_agent: 'npm/11.19.1' };
  assert.deepEqual(launchedBy(facts(TERMINAL, 20, { env })), { kind: 'direct' });
  const runner = { 60: { ppid: 59, argv: ['/usr/bin/node', '--import', 'tsx', 'test/x.test.ts'] }, 59: { ppid: 58, argv: ['node', '--test', 'test/'] }, 58: { ppid: 57, argv: ['sh', '-c', 'node --test'] }, 57: { ppid: 20, argv: ['npm test'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(runner, 60, { env })), { kind: 'direct' });
  assert.deepEqual(launchedBy(facts({ 1: { ppid: 0, argv: ['/sbin/init'] } }, 1)), { kind: 'direct' });
});

test('without a process table, npm_lifecycle_event names the package manager from its user agent', { timeout: 5_000 }, () => {
  assert.deepEqual(launchedBy(facts({}, 50, { env: { npm_lifecycle_event: 'dev', npm_config_user_agent: 'pnpm/9.1.0 npm/? node/v20' } })), { kind: 'wrapper', name: 'pnpm', pid: undefined });
  assert.deepEqual(launchedBy(facts({}, 50)), { kind: 'direct' });
});

test('devWatcher true/false decides over GRACE_WATCH, which decides over detection', { timeout: 5_000 }, () => {
  assert.deepEqual(watcherSetting('auto', {}), { setting: 'auto', source: 'detected' });
  assert.deepEqual(watcherSetting('auto', { GRACE_WATCH: '1' }), { setting: true, source: 'GRACE_WATCH=1' });
  assert.deepEqual(watcherSetting('auto', { GRACE_WATCH: '0' }), { setting: false, source: 'GRACE_WATCH=0' });
  assert.deepEqual(watcherSetting(false, { GRACE_WATCH: '1' }), { setting: false, source: 'devWatcher: false' });
  assert.deepEqual(watcherSetting('auto', { GRACE_WATCH: 'yes' }), { setting: 'auto', source: 'detected', invalidEnv: 'GRACE_WATCH="yes" (expected 1 or 0)' });
  const nodemon = { 50: { ppid: 20, argv: ['node', '/p/node_modules/.bin/nodemon', 'app.js'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(nodemon, 50), false), { kind: 'direct' });
  assert.deepEqual(launchedBy(facts(TERMINAL, 20), true), { kind: 'watcher', name: 'a file watcher', how: 'forced' });
  assert.deepEqual(launchedBy(facts(nodemon, 50), true), { kind: 'watcher', name: 'nodemon', how: 'forced' });
  const npm = { 51: { ppid: 50, argv: ['sh', '-c', 'node app.js'] }, 50: { ppid: 20, argv: ['npm run dev'] }, ...TERMINAL };
  assert.deepEqual(launchedBy(facts(npm, 51), true), { kind: 'watcher', name: 'a file watcher', how: 'forced' });
});

test('the wrapper warning names both pids, the kill command and how to start without the wrapper', { timeout: 5_000 }, () => {
  assert.equal(directCommand(['--import', 'tsx'], ['/usr/bin/node', '/srv/app/example/server.ts'], '/srv/app'), 'node --import tsx example/server.ts');
  assert.equal(directCommand(TSX_EXEC_ARGV, ['/usr/bin/node', '/srv/app/app.ts', '--name', 'a b'], '/srv/app'), "node --import tsx app.ts --name 'a b'");
  assert.equal(directCommand([], ['/usr/bin/node', '/elsewhere/app.js'], '/srv/app'), 'node /elsewhere/app.js');
  assert.equal(
    wrapperWarning({ kind: 'wrapper', name: 'npm', pid: 50 }, { pid: 51, signal: 'SIGUSR2', direct: 'node app.js' }),
    'started by npm (pid 50): signal this process, pid 51, for a restart (kill -USR2 51), not npm, which would exit and leave this process running on its own; or run it with `node app.js` or under `grace run`',
  );
});
