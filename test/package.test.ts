import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { killQuietly, tempDir, waitForExit, waitUntil } from './helpers.ts';

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
  // Each generation says whether grace was loaded before its own require (it is, in a released standby: the park loads it).
  writeFileSync(
    join(app, 'standby.cjs'),
    `const loaded = Object.keys(require.cache).some((f) => f.endsWith(require('node:path').join('grace-restart', 'dist', 'cjs', 'index.js')));
    // LISTEN_FDS still in process.env: grace has not taken its protocol variables (a released standby's grace took them as it was released).
    process.stdout.write(JSON.stringify({ pid: process.pid, loaded, listenFds: process.env.LISTEN_FDS !== undefined }) + '\\n');
    const { gracehttp } = require('grace-restart'); gracehttp.start(require('node:http').createServer(), '127.0.0.1:0', { standby: true });`,
  );
  writeFileSync(join(app, 'standby.mjs'), `import http from 'node:http'; import { gracehttp } from 'grace-restart'; await gracehttp.start(http.createServer(), '127.0.0.1:0', { standby: true });`);
  writeFileSync(join(app, 'worker.mjs'), `import http from 'node:http'; import { gracehttp } from 'grace-restart'; await gracehttp.serve(http.createServer(), undefined, { logger: false });`);
  const grace = join(app, 'node_modules', '.bin', 'grace');
  const esmCli = join(app, 'node_modules', 'grace-restart', 'dist', 'esm', 'cli.js');
  const run = ['run', '--listen', '127.0.0.1:0', '--standby', '1', '--', process.execPath, 'worker.mjs'];
  for (const [file, args] of [[process.execPath, ['standby.cjs']], [process.execPath, ['standby.mjs']], [grace, run], [process.execPath, [esmCli, ...run]]] as const) {
    const child = spawn(file, args, { cwd: app, env: { ...process.env, GRACE_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
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
    if (args[0] === 'standby.cjs') {
      // Released, the standby finds grace's bundle loaded by its park; the first generation did not.
      child.kill('SIGUSR2');
      await waitUntil(() => out.includes(`"pid":${standby}`), 15_000, () => `no line from the released standby ${standby}:\n${out}\n${log}`);
      assert.deepEqual(out.trim().split('\n').map((line) => JSON.parse(line) as unknown), [
        { pid: child.pid, loaded: false, listenFds: false },
        { pid: standby, loaded: true, listenFds: false },
      ]);
      await waitForExit(child.pid!);
      // The released one boots a standby of its own: whatever was booted goes at the end.
      t.after(() => {
        for (const m of log.matchAll(/standby pid (\d+)/g)) killQuietly(Number(m[1]));
      });
      // grace upgraded in place after the released one's own standby parked: that standby loaded the old bundle, so it is not used.
      await waitUntil(() => [...log.matchAll(/standby pid (\d+) parked/g)].length === 2, 15_000, () => `the second standby never parked:\n${log}`);
      const second = Number([...log.matchAll(/standby pid (\d+) parked/g)][1]![1]);
      const bundle = join(app, 'node_modules', 'grace-restart', 'dist', 'cjs', 'index.js');
      writeFileSync(bundle, `${readFileSync(bundle, 'utf8')}\n// upgraded\n`);
      process.kill(standby, 'SIGUSR2');
      await waitUntil(() => new RegExp(`standby pid ${second} not used: grace's own .*index\\.js, loaded in the park, changed on disk`).test(log), 15_000, () => log);
      await waitForExit(standby).finally(() => killQuietly(standby));
      await waitUntil(() => out.trim().split('\n').length === 3, 15_000, () => out);
      const last = JSON.parse(out.trim().split('\n')[2]!) as { pid: number; loaded: boolean; listenFds: boolean };
      assert.ok(last.pid !== standby && last.pid !== second && !last.loaded && last.listenFds, `a fresh generation, loading the new bundle itself: ${JSON.stringify(last)}`);
      process.kill(last.pid, 'SIGTERM');
      await waitForExit(last.pid).finally(() => killQuietly(last.pid));
      continue;
    }
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
