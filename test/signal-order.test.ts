// Whose a SIGTERM is, decided by what was written before it, not by which
// event-loop phase runs first. libuv reads signals in batches: a SIGTERM read
// in the same batch as a refused SIGUSR2 can be handled before the poll that
// would read the new generation's "ready", written before that SIGTERM was
// sent. Here the process seam hands the SIGTERM over at that worst moment:
// the word is in the kernel's buffer, the loop has not read it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Readable } from 'node:stream';
import { startWith } from '../src/api/serve.ts';
import { ChannelWords } from '../src/platform/channel-words.ts';
import { realProcess, type ProcessHost } from '../src/platform/process-host.ts';
import { Net } from '../src/sockets/net.ts';
import { isAlive, killQuietly, tempDir, waitUntil } from './helpers.ts';

/** Blocks the event loop (nothing is read meanwhile) until `path` exists. */
function blockUntilExists(path: string, timeoutMs = 15_000): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    Atomics.wait(cell, 0, 0, 5);
  }
}

test('a SIGTERM taken before the loop has read the new generation\'s "ready" is its SIGTERM: the handover goes on and the child lives', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const said = join(dir, 'said-ready');
  // A stand-in next generation: says "ready" on its channel, then marks that it did.
  const child = join(dir, 'next-generation.cjs');
  writeFileSync(
    child,
    `const fs = require('node:fs');
     fs.writeSync(Number(process.env.GRACE_READY_FD), 'ready\\n');
     fs.writeFileSync(${JSON.stringify(said)}, '');
     setInterval(() => {}, 1000);`,
  );
  const handlers = new Map<NodeJS.Signals, () => void>();
  const host: ProcessHost = {
    ...realProcess,
    execArgv: [],
    argv: [process.execPath, child],
    onSignal(signal, handler) {
      handlers.set(signal, handler);
      return () => handlers.delete(signal);
    },
  };
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await startWith({ host, net: new Net({ host }) }, server, { port: 0, host: '127.0.0.1' }, { logger: false, exit: false });
  let childPid: number | undefined;
  graceful.on('restart', ({ pid }) => (childPid = pid));
  t.after(() => childPid && killQuietly(childPid));

  const restarted = graceful.restart();
  assert.ok(childPid, 'the child is spawned in the same turn');
  blockUntilExists(said);
  // The loop has not turned since: "ready" is unread. Its SIGTERM arrives now.
  handlers.get('SIGTERM')!();

  assert.equal(await restarted, childPid, 'the restart succeeded');
  await graceful.done;
  assert.ok(isAlive(childPid), `the new generation pid ${childPid} was not killed`);
  killQuietly(childPid);
  await waitUntil(() => !isAlive(childPid!));
});

test('a SIGTERM with no "ready" written before it is a stop: the unready child is abandoned', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const started = join(dir, 'started');
  // A stand-in next generation that never says "ready".
  const child = join(dir, 'next-generation.cjs');
  writeFileSync(child, `require('node:fs').writeFileSync(${JSON.stringify(started)}, ''); setInterval(() => {}, 1000);`);
  const handlers = new Map<NodeJS.Signals, () => void>();
  const host: ProcessHost = {
    ...realProcess,
    execArgv: [],
    argv: [process.execPath, child],
    onSignal(signal, handler) {
      handlers.set(signal, handler);
      return () => handlers.delete(signal);
    },
  };
  const server = http.createServer((_req, res) => res.end('ok'));
  const graceful = await startWith({ host, net: new Net({ host }) }, server, { port: 0, host: '127.0.0.1' }, { logger: false, exit: false });
  let childPid: number | undefined;
  graceful.on('restart', ({ pid }) => (childPid = pid));
  t.after(() => childPid && killQuietly(childPid));
  let stopped: string | undefined;
  graceful.on('stopping', ({ reason }) => (stopped = reason));

  const restarted = graceful.restart();
  blockUntilExists(started);
  handlers.get('SIGTERM')!();

  await assert.rejects(restarted, /stopping before pid \d+ was ready/);
  await graceful.done;
  assert.equal(stopped, 'signal');
  await waitUntil(() => !isAlive(childPid!), 15_000, () => `the abandoned child pid ${childPid} to be killed`);
});

test('ChannelWords.readNow hears, synchronously, every word written before it was called and not read yet', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const wrote = join(dir, 'wrote');
  const writer = spawn(
    process.execPath,
    ['-e', `const fs = require('node:fs'); fs.writeSync(3, 'retire\\nping\\npa'); fs.writeFileSync(${JSON.stringify(wrote)}, ''); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] },
  );
  t.after(() => killQuietly(writer.pid!));
  const heard: string[] = [];
  const words = new ChannelWords((word) => heard.push(word));
  const channel = writer.stdio[3] as Readable;
  channel.on('data', (chunk: Buffer) => words.push(chunk));
  blockUntilExists(wrote);
  assert.deepEqual(heard, [], 'the loop has not read the channel yet');
  words.readNow(channel);
  assert.deepEqual(heard, ['retire', 'ping'], 'both whole words, the partial one held');
  words.readNow(channel);
  assert.deepEqual(heard, ['retire', 'ping'], 'an empty channel returns at once');
});
