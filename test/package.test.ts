import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { killQuietly, tempDir, waitForExit } from './helpers.ts';

const root = new URL('..', import.meta.url).pathname;
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } });

test('the packed package works from ESM and CommonJS and ships only dist, docs and the licence', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], root)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed!.files.map((f) => f.path).sort();
  for (const required of ['package.json', 'README.md', 'LICENSE', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/esm/protocol/standby-preload.cjs', 'dist/cjs/protocol/standby-preload.cjs']) {
    assert.ok(files.includes(required), `${required} is packed`);
  }
  // The README links its guides: they ship beside it.
  for (const link of readFileSync(join(root, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#\s]+)/g)) assert.ok(files.includes(link[1]!), `${link[1]} (linked from the README) is packed`);
  assert.deepEqual(files.filter((f) => !f.startsWith('dist/') && !/^docs\/[^/]+\.md$/.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f)), []);

  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  npm(['install', '--no-audit', '--no-fund', '--offline', join(dir, packed!.filename)], app);
  const esm = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', "import { gracehttp, gracenet, GraceError } from 'grace-restart'; console.log(typeof gracehttp.serve, typeof gracenet.Net, typeof GraceError)"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(esm.trim(), 'function function function');
  const cjs = execFileSync(
    process.execPath,
    ['-e', "const { gracehttp, gracenet } = require('grace-restart'); console.log(typeof gracehttp.start, typeof gracenet.parseListenSpec)"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(cjs.trim(), 'function function');
  // The ESM and the CommonJS copy loaded in one process share one guard: the
  // process's sockets and signals can be served once.
  writeFileSync(
    join(app, 'both.mjs'),
    `import http from 'node:http';
    import { createRequire } from 'node:module';
    import { gracehttp } from 'grace-restart';
    const cjs = createRequire(import.meta.url)('grace-restart');
    const options = { logger: false, exit: false };
    const first = await gracehttp.start(http.createServer(), { port: 0, host: '127.0.0.1' }, options);
    const second = await cjs.gracehttp.start(http.createServer(), { port: 0, host: '127.0.0.1' }, options).then(
      (g) => { g.stop(); return 'served'; },
      (err) => err.code,
    );
    await first.stop();
    console.log(second);`,
  );
  assert.equal(execFileSync(process.execPath, ['both.mjs'], { cwd: app, encoding: 'utf8' }).trim(), 'ERR_GRACE_OPTIONS');
  const help = execFileSync(join(app, 'node_modules', '.bin', 'grace'), ['--help'], { cwd: app, encoding: 'utf8' });
  assert.match(help, /grace reload --pid-file FILE/);
  assert.match(help, /grace run \[--listen SPEC\]/);
  // The package's own name too: `npx grace-restart reload` works outside the app's folder.
  const named = execFileSync(join(app, 'node_modules', '.bin', 'grace-restart'), ['--help'], { cwd: app, encoding: 'utf8' });
  assert.equal(named, help);
  // The version comes from the installed package.json, from either build.
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(execFileSync(join(app, 'node_modules', '.bin', 'grace'), ['--version'], { cwd: app, encoding: 'utf8' }), `${version}\n`);
  const cjsCli = join(app, 'node_modules', 'grace-restart', 'dist', 'cjs', 'cli.js');
  assert.equal(execFileSync(process.execPath, [cjsCli, '--version'], { cwd: app, encoding: 'utf8' }), `${version}\n`);
  // Each build finds its standby's park preload (beside its bundled index.js), and so
  // does the bin's `grace run` (a bundle of its own, loaded only by `grace run`).
  writeFileSync(join(app, 'standby.cjs'), `const { gracehttp } = require('grace-restart'); gracehttp.start(require('node:http').createServer(), '127.0.0.1:0', { standby: true });`);
  writeFileSync(join(app, 'standby.mjs'), `import http from 'node:http'; import { gracehttp } from 'grace-restart'; await gracehttp.start(http.createServer(), '127.0.0.1:0', { standby: true });`);
  writeFileSync(join(app, 'worker.mjs'), `import http from 'node:http'; import { gracehttp } from 'grace-restart'; await gracehttp.serve(http.createServer(), undefined, { logger: false });`);
  const grace = join(app, 'node_modules', '.bin', 'grace');
  const esmCli = join(app, 'node_modules', 'grace-restart', 'dist', 'esm', 'cli.js');
  const run = ['run', '--listen', '127.0.0.1:0', '--standby', '1', '--', process.execPath, 'worker.mjs'];
  for (const [file, args] of [[process.execPath, ['standby.cjs']], [process.execPath, ['standby.mjs']], [grace, run], [process.execPath, [esmCli, ...run]]] as const) {
    const child = spawn(file, args, { cwd: app, env: { ...process.env, GRACE_DEBUG: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    t.after(() => killQuietly(child.pid!));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        log += chunk;
        if (/standby pid \d+ parked/.test(log)) resolve();
        if (/no standby/.test(log)) reject(new Error(`${args.join(' ')} found no park preload:\n${log}`));
      });
      child.once('exit', () => reject(new Error(`${args.join(' ')} exited before its standby parked:\n${log}`)));
    });
    const standby = Number(/standby pid (\d+) parked/.exec(log)![1]);
    child.kill('SIGTERM');
    await waitForExit(standby).finally(() => killQuietly(standby));
    await waitForExit(child.pid!);
  }
});

test('the bundled command leaves out exactly what cli.ts loads lazily, so grace run alone loads its supervisor', () => {
  const lazy = [...readFileSync(join(root, 'src', 'cli.ts'), 'utf8').matchAll(/await import\('(\.\/[^']+)'\)/g)].map((m) => m[1]!).sort();
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const format of ['cjs', 'esm']) {
    const call = scripts.bundle!.split(' && ').find((c) => c.includes(`dist/${format}/cli.js`));
    assert.ok(call, `the bundle script bundles dist/${format}/cli.js`);
    assert.deepEqual([...call.matchAll(/--external:(\S+)/g)].map((m) => m[1]).sort(), lazy, `dist/${format}/cli.js leaves the lazy modules out`);
    for (const path of lazy) assert.ok(call.includes(`dist/${format}/${path.slice(2)}`), `${path} is bundled on its own (${format})`);
  }
});

test('npm install leaves package-lock.json as committed', { timeout: 60_000 }, (t) => {
  const dir = tempDir(t);
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(root, file), join(dir, file));
  // Offline and lock-only: what `npm install` would write, without the network or node_modules.
  npm(['install', '--package-lock-only', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
  assert.equal(readFileSync(join(dir, 'package-lock.json'), 'utf8'), readFileSync(join(root, 'package-lock.json'), 'utf8'), 'run `npm install` and commit package-lock.json');
});
