// The README's and the guides' examples run as written, and so does
// example/deploy.sh.
//
// Every ```js block in README.md and in docs/*.md is a whole program and is
// marked with an HTML comment naming the file it runs as, on the line before
// the fence:
//
//   <!-- runs as: express.mjs -->
//
// Each is written, as is, into one consumer project that has the packed
// package installed (built and packed in a copy of this repo, so the build
// does not race package.test.ts's; then npm install --offline), with express, fastify
// and koa linked from this repo's node_modules. It runs with plain node.
// One substitution: `port: 8080` becomes `port: 0`, so runs never collide
// with each other or with whatever holds 8080 (grace keeps a port-0 socket's
// port across restarts); the port is read from grace's "Serving" line.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { get, isAlive, killQuietly, waitForExit, waitUntil } from './helpers.ts';

const repo = new URL('..', import.meta.url).pathname;
// The README first, then the guides in name order: the order the list below expects.
const documents = ['README.md', ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const texts = documents.map((doc) => ({ doc, text: readFileSync(join(repo, doc), 'utf8') }));

// npm's own variables (npm_config_local_prefix above all) would point the
// consumer's npm and npx back at this repo when the suite runs under npm test.
const cleanEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_'))),
  npm_config_loglevel: 'error',
  npm_config_update_notifier: 'false',
  ...extra,
});

let root: string;
let consumer: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'grace-readme-'));
  const pkg = join(root, 'pkg');
  mkdirSync(pkg);
  for (const entry of ['package.json', 'tsconfig.json', 'README.md', 'src']) cpSync(join(repo, entry), join(pkg, entry), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'));
  // Built as `npm pack` builds it: the snippets run the ESM bundle, and the
  // `grace` they call is the bin, the CommonJS bundle.
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: pkg, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const packOutput = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], { cwd: pkg, encoding: 'utf8', env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(packOutput) as Array<{ filename: string }>;
  consumer = join(root, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(root, packed!.filename)], { cwd: consumer, env: cleanEnv(), stdio: 'ignore' });
  for (const framework of ['express', 'fastify', 'koa', '@grpc', 'ws']) {
    symlinkSync(join(repo, 'node_modules', framework), join(consumer, 'node_modules', framework));
  }
});

after(() => rmSync(root, { recursive: true, force: true }));

/** A process whose output is collected, and every grace generation it logs, for cleanup. */
class Run {
  output = '';
  readonly proc: ChildProcess;
  /** The exit code, or the signal's name if a signal ended it. */
  readonly exited: Promise<number | string>;
  /** Its output read to the end: it and every generation that shares its stdout and stderr are gone. */
  readonly closed: Promise<void>;
  static all: Run[] = [];

  constructor(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()) {
    this.proc = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.proc.stdout!, this.proc.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve(code ?? signal!)));
    this.closed = new Promise((resolve) => this.proc.on('close', () => resolve()));
    Run.all.push(this);
  }

  /** Port and pid from each `grace: Serving ADDRESS:PORT with pid N` line. */
  serving(): Array<{ port: number; pid: number }> {
    // Several servers: the first address is the HTTP one the snippets put first.
    return [...this.output.matchAll(/Serving \S*?:(\d+)(?:, [^\n]*)? with pid (\d+)/g)].map((m) => ({ port: Number(m[1]), pid: Number(m[2]) }));
  }

  async servingAs(pid: number): Promise<number> {
    await waitUntil(() => this.serving().some((s) => s.pid === pid) || this.proc.exitCode !== null, 15_000, () => `pid ${pid} to serve:\n${this.output}`);
    const found = this.serving().find((s) => s.pid === pid);
    assert.ok(found, `pid ${pid} serves; output:\n${this.output}`);
    return found.port;
  }

  async nextGeneration(old: number): Promise<number> {
    await waitUntil(() => this.serving().some((s) => s.pid !== old), 15_000, () => `a generation after ${old}:\n${this.output}`);
    return this.serving().find((s) => s.pid !== old)!.pid;
  }
}

after(() => {
  for (const run of Run.all) {
    killQuietly(run.proc.pid!);
    for (const { pid } of run.serving()) killQuietly(pid);
  }
});

const snippets = texts.flatMap(({ doc, text }) =>
  [...text.matchAll(/<!-- runs as: (\S+)[^\n]*-->\n```js\n([\s\S]*?)\n```/g)].map((m) => ({ doc, file: m[1]!, code: m[2]! })),
);

test('every js block in the README and the guides is a whole program marked to run', () => {
  for (const { doc, text } of texts) {
    const jsBlocks = text.match(/^```js$/gm) ?? [];
    assert.equal(snippets.filter((s) => s.doc === doc).length, jsBlocks.length, `each \`\`\`js block in ${doc} has a \`<!-- runs as: FILE -->\` line before it`);
  }
  // Each program, and where it is: a guide added, moved or dropped shows here.
  assert.deepEqual(
    snippets.map((s) => `${s.doc}: ${s.file}`),
    [
      'README.md: app.mjs',
      'README.md: live.mjs',
      'docs/api.md: express.mjs',
      'docs/api.md: fastify.mjs',
      'docs/api.md: koa.mjs',
      'docs/grpc.md: grpc.mjs',
      'docs/load-balancers.md: health.mjs',
      'docs/shutdown.md: shutdown.mjs',
      'docs/warm-up.md: warm-up.mjs',
    ],
  );
  // They are written into one project: two with one name would overwrite each other.
  assert.equal(new Set(snippets.map((s) => s.file)).size, snippets.length, 'each program has a file name of its own');
  for (const { file, code } of snippets) assert.equal(code.match(/port: 8080/g)?.length, 1, `${file} listens on port 8080, once`);
});

for (const { doc, file, code } of snippets) {
  test(`${doc} ${file} serves, hands over on SIGUSR2 and stops cleanly on SIGTERM`, async () => {
    writeFileSync(join(consumer, file), code.replace('port: 8080', 'port: 0').replace('port: 50051', 'port: 0'));

    // A stop: the process we started drains and exits 0.
    const first = new Run(process.execPath, [file], consumer);
    const port = await first.servingAs(first.proc.pid!);
    assert.match((await get({ port }, '/')).body, new RegExp(`hello from ${first.proc.pid}\\b`));
    if (file === 'health.mjs') assert.deepEqual(JSON.parse((await get({ port }, '/readyz')).body), { status: 'ready', checks: { disk: 'ok' } });
    first.proc.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output);

    // A hot restart: a new pid answers on the same port, the old one exits 0.
    const app = new Run(process.execPath, [file], consumer);
    const old = app.proc.pid!;
    const samePort = await app.servingAs(old);
    assert.match((await get({ port: samePort }, '/')).body, new RegExp(`hello from ${old}\\b`));
    app.proc.kill('SIGUSR2');
    const next = await app.nextGeneration(old);
    assert.equal(await app.servingAs(next), samePort);
    assert.equal(await app.exited, 0, app.output);
    assert.match((await get({ port: samePort }, '/')).body, new RegExp(`hello from ${next}\\b`));
    process.kill(next, 'SIGTERM');
    await waitForExit(next);
    await app.closed; // the last generation's lines read too
    assert.match(app.output, new RegExp(`Exiting pid ${next}\\b`));
    assert.doesNotMatch(app.output, /forced|failed|Error/i);
  });
}

test('README "For TypeScript": the quick start runs as app.mts under node --import tsx in a CommonJS package; as app.ts there it does not', async () => {
  const dir = join(root, 'typescript');
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  // What `npm init -y` writes: npm 11 says "commonjs", older ones leave it out, which means the same.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'typescript-app', version: '1.0.0', type: 'commonjs' }));
  symlinkSync(join(consumer, 'node_modules', 'grace-restart'), join(dir, 'node_modules', 'grace-restart'));
  symlinkSync(join(repo, 'node_modules', 'tsx'), join(dir, 'node_modules', 'tsx'));
  const quickStart = snippets.find((s) => s.doc === 'README.md')!.code.replace('port: 8080', 'port: 0');
  for (const file of ['app.mts', 'app.ts']) writeFileSync(join(dir, file), quickStart);
  const mts = new Run(process.execPath, ['--import', 'tsx', 'app.mts'], dir);
  const port = await mts.servingAs(mts.proc.pid!);
  assert.match((await get({ port }, '/')).body, new RegExp(`hello from ${mts.proc.pid}\\b`));
  mts.proc.kill('SIGTERM');
  assert.equal(await mts.exited, 0, mts.output);
  const ts = new Run(process.execPath, ['--import', 'tsx', 'app.ts'], dir);
  assert.notEqual(await ts.exited, 0, ts.output);
  assert.match(ts.output, /Top-level await is currently not supported with the "cjs" output format/);
});

test('"Development": npm start serves the example, npm run reload reloads it', async () => {
  // A copy of the repo, so the pid file npm start writes is the copy's.
  const copy = join(root, 'repo');
  mkdirSync(copy);
  for (const entry of ['package.json', 'tsconfig.json', 'src', 'example']) cpSync(join(repo, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));

  // PORT=0 for the same reason as the snippets' substitution; example/server.ts reads it.
  const start = new Run('npm', ['start'], copy, cleanEnv({ PORT: '0' }));
  await waitUntil(() => /example: http:\/\/127\.0\.0\.1:\d+\/ \(pid \d+\)/.test(start.output), 20_000, () => `npm start:\n${start.output}`);
  const [, port, first] = start.output.match(/example: http:\/\/127\.0\.0\.1:(\d+)\/ \(pid (\d+)\)/)!.map(Number);
  assert.match(start.output, /npm run reload/);
  assert.match((await get({ port: port! }, '/')).body, new RegExp(`^pid ${first} started at`));

  const reload = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('npm', ['run', 'reload'], { cwd: copy, env: cleanEnv() }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(reload.code, 0, reload.stderr);
  const [, old, next] = reload.stdout.match(/reloaded: old pid (\d+), new pid (\d+) \(generation 2\)/)!.map(Number);
  assert.equal(old, first);
  assert.match((await get({ port: port! }, '/')).body, new RegExp(`^pid ${next} started at`));
  assert.equal(await start.exited, 0, 'npm exits once the first generation has');

  process.kill(next!, 'SIGTERM');
  await waitForExit(next!);
});

test('example/deploy.sh switches current and reloads; a release that does not come up is rolled back', async () => {
  const appRoot = join(root, 'srv');
  const release = (name: string, server: string, withGrace = true) => {
    const dir = join(appRoot, 'releases', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    writeFileSync(join(dir, 'server.mjs'), server);
    if (withGrace) symlinkSync(join(consumer, 'node_modules'), join(dir, 'node_modules'));
    return dir;
  };
  const serves = (name: string) => `import http from 'node:http';
import { gracehttp } from 'grace-restart';
const server = http.createServer((req, res) => res.end('release ${name}, pid ' + process.pid));
await gracehttp.serve(server, { port: 0, host: '127.0.0.1' }, { pidFile: process.env.PID_FILE });
`;
  const a = release('a', serves('a'));
  const b = release('b', serves('b'));
  const crashes = release('crashes', `import 'grace-restart';\nthrow new Error('this release cannot start');\n`);
  const noGrace = release('no-grace', serves('no-grace'), false);
  symlinkSync(a, join(appRoot, 'current'));
  const pidFile = join(appRoot, 'app.pid');
  const env = cleanEnv({ APP_ROOT: appRoot, PID_FILE: pidFile });
  const deploy = (dir: string, extra: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', [join(repo, 'example', 'deploy.sh'), dir], { cwd: tmpdir(), env: { ...env, ...extra } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  // Started as the README says: through the symlink, from a directory that outlives releases.
  const app = new Run(process.execPath, [join(appRoot, 'current', 'server.mjs')], appRoot, env);
  const port = await app.servingAs(app.proc.pid!);
  const pidFileNames = (pid: number) => {
    try {
      return readFileSync(pidFile, 'utf8').startsWith(`${pid}\n`);
    } catch {
      return false;
    }
  };
  await waitUntil(() => isAlive(app.proc.pid!) && pidFileNames(app.proc.pid!), 15_000, () => `the pid file:\n${app.output}`);
  assert.equal((await get({ port }, '/')).body, `release a, pid ${app.proc.pid}`);

  const toB = await deploy(b);
  assert.equal(toB.code, 0, toB.stderr);
  const [, , bPid] = toB.stdout.match(/reloaded: old pid (\d+), new pid (\d+)/)!.map(Number);
  assert.match(toB.stdout, /deploy: .*releases\/b is serving/);
  assert.equal(readlinkSync(join(appRoot, 'current')), b);
  assert.equal((await get({ port }, '/')).body, `release b, pid ${bPid}`);

  const bad = await deploy(crashes);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /this release cannot start|exited with code 1/);
  assert.match(bad.stderr, new RegExp(`deploy: the new release did not come up; the previous one is still serving; switched current back to ${b}`));
  assert.equal(readlinkSync(join(appRoot, 'current')), b);
  assert.equal((await get({ port }, '/')).body, `release b, pid ${bPid}`);

  const missing = await deploy(noGrace);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /cannot run grace in .*no-grace .*nothing was switched/);
  assert.equal(readlinkSync(join(appRoot, 'current')), b);

  const nobody = await deploy(a, { PID_FILE: join(appRoot, 'none.pid') });
  assert.equal(nobody.code, 3, nobody.stderr);
  assert.match(nobody.stderr, /cannot send the reload: .*none\.pid does not name a running app; nothing was switched/);
  assert.equal(readlinkSync(join(appRoot, 'current')), b);

  // What the new generation served came from the release, not from the first one's directory.
  assert.equal((await get({ port }, '/')).body, `release b, pid ${bPid}`);
  process.kill(bPid!, 'SIGTERM');
  await waitForExit(bPid!);
});
