import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { CLI, killQuietly } from './helpers.ts';

// Messages for common mistakes: each names what is wrong, the way a new user
// meets it.

const node = process.execPath;

function graceRun(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, ['--import', 'tsx', CLI, 'run', ...args], { timeout: 30_000 }, (err, _out, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }));
  });
}

test('address in use by a process that set its title (PM2): the title is shown whole, quoted, not as "(.pm2))"', { timeout: 30_000 }, async (t) => {
  const title = 'PM2 v7.0.4: God Daemon (/root/.pm2)';
  // Linux keeps a title within the original argv's bytes: the script is long enough.
  const script = `process.title = ${JSON.stringify(title)}; require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const holder = spawn(node, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => killQuietly(holder.pid!));
  const [chunk] = (await once(holder.stdout!, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  const result = await graceRun(['--listen', `127.0.0.1:${port}`, '--', node, '-e', '0']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stderr, `grace: listen EADDRINUSE: 127.0.0.1:${port} is already in use by pid ${holder.pid} (${JSON.stringify(title)})\n`);
});

test('{ port: process.env.PORT } with PORT unset: refused naming the undefined port and its likely cause, not a random port', { timeout: 30_000 }, async () => {
  const script = new URL('./fixtures/port-from-env.ts', import.meta.url).pathname;
  const env = { ...process.env };
  delete env.PORT;
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(node, ['--import', 'tsx', script], { env, timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
  });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.ok(
    result.stderr.includes(
      'invalid listen spec { port: undefined, host: "127.0.0.1" }: the port is undefined, as { port: process.env.PORT } gives when PORT is not set; set it, or give a default (e.g. process.env.PORT ?? 8080)',
    ),
    result.stderr,
  );
});
