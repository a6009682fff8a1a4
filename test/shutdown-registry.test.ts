import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraceError, Shutdown, type Logger } from '../src/index.ts';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

test('closers run in phase order: intake, then drain (with tracked tasks), then resources', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false });
  const order: string[] = [];
  const step = (name: string, ms = 20) => async () => {
    await new Promise((r) => setTimeout(r, ms));
    order.push(name);
  };
  shutdown.register(step('pool'), { name: 'pool' });
  shutdown.register(step('servers', 50), { name: 'servers', phase: 'drain' });
  shutdown.register(step('consumer'), { name: 'consumer', phase: 'intake' });
  void shutdown.track(step('task', 80)(), 'task');
  const report = await shutdown.shutdown({ reason: 'test' });
  // Guaranteed: the phases in order; within the drain phase, no order.
  assert.deepEqual([order[0], [...order.slice(1, 3)].sort(), order[3]], ['consumer', ['servers', 'task'], 'pool']);
  assert.deepEqual([report.reason, report.forced, report.failed, report.unfinished], ['test', false, [], []]);
});

test('a closer that throws is reported by name and the others still run', { timeout: 10_000 }, async () => {
  const logger = recordingLogger();
  const shutdown = new Shutdown({ logger });
  let closed = false;
  shutdown.register(() => {
    throw new Error('boom');
  }, { name: 'flaky cache' });
  shutdown.register({ close: async () => void (closed = true) }, { name: 'db' });
  const report = await shutdown.shutdown();
  assert.equal(closed, true);
  assert.deepEqual(report.failed.map((f) => f.name), ['flaky cache']);
  assert.ok(logger.lines.includes('error flaky cache failed to close: boom'));
});

test('a closer that hangs past the timeout is reported by name and does not hold the shutdown', { timeout: 10_000 }, async () => {
  const logger = recordingLogger();
  const shutdown = new Shutdown({ logger, timeout: 300 });
  let forced = false;
  shutdown.register(() => new Promise(() => {}), { name: 'stuck consumer', phase: 'drain', force: () => void (forced = true) });
  shutdown.register(async () => {}, { name: 'pool' });
  const start = performance.now();
  const report = await shutdown.shutdown();
  const elapsed = performance.now() - start;
  assert.ok(elapsed >= 290 && elapsed < 1500, `took ${elapsed} ms`);
  assert.equal(report.forced, true);
  assert.equal(forced, true, 'its force hook ran');
  assert.deepEqual(report.unfinished, ['stuck consumer', 'pool (not started)']);
  assert.ok(logger.lines.some((l) => l.includes('deadline (300 ms) reached; unfinished: stuck consumer, pool (not started)')));
});

test('shutdown twice returns the same promise; force() stops waiting at once', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false, timeout: 60_000 });
  shutdown.register(() => new Promise(() => {}), { name: 'forever' });
  const first = shutdown.shutdown();
  assert.equal(shutdown.shutdown(), first);
  assert.equal(shutdown.isShuttingDown(), true);
  assert.equal(shutdown.signal.aborted, true);
  setTimeout(() => shutdown.force(), 50);
  const report = await first;
  assert.deepEqual(report.unfinished, ['forever']);
  assert.equal(await shutdown.done, report);
});

test('objects close through close(callback), close() promises, end() and Symbol.asyncDispose', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false });
  const closed: string[] = [];
  shutdown.register({ close: (cb: (err?: Error) => void) => setTimeout(() => (closed.push('callback'), cb()), 10) });
  shutdown.register({ close: async () => void closed.push('promise') });
  shutdown.register({ end: () => void closed.push('end') });
  shutdown.register({ [Symbol.asyncDispose]: async () => void closed.push('dispose') });
  await shutdown.shutdown();
  assert.deepEqual(closed.sort(), ['callback', 'dispose', 'end', 'promise']);
  assert.throws(() => shutdown.register({} as never), (err: GraceError) => err.code === 'ERR_GRACE_OPTIONS');
});

test('an interval job starts no run after shutdown began and its run in progress is awaited', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false });
  const runs: Array<{ started: number; shuttingDown: boolean; finished?: number }> = [];
  let secondRun!: () => void;
  const inSecondRun = new Promise<void>((r) => (secondRun = r));
  shutdown.every('job', 20, async () => {
    const run: { started: number; shuttingDown: boolean; finished?: number } = { started: performance.now(), shuttingDown: shutdown.isShuttingDown() };
    runs.push(run);
    if (runs.length === 2) secondRun();
    await new Promise((r) => setTimeout(r, 100));
    run.finished = performance.now();
  });
  await inSecondRun; // a run in progress when the shutdown begins
  const report = await shutdown.shutdown();
  // Read as the shutdown resolves: the run in progress has finished by now only if it was awaited.
  assert.deepEqual(runs.map((r) => [r.shuttingDown, r.finished !== undefined]), [[false, true], [false, true]], 'both runs started before the shutdown and finished before it resolved');
  assert.equal(report.unfinished.length, 0);
  await new Promise((r) => setTimeout(r, 200)); // ten intervals: a job still scheduled would have run
  assert.equal(runs.length, 2, 'no run started after shutdown');
});

test('run() passes the abort signal and is refused once shutdown has started', { timeout: 10_000 }, async () => {
  const shutdown = new Shutdown({ logger: false });
  let iterations = 0;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const worker = shutdown.run('worker', async (signal) => {
    while (!signal.aborted) {
      iterations++;
      started();
      await new Promise((r) => setTimeout(r, 10));
    }
    return 'stopped cleanly';
  });
  await running;
  await shutdown.shutdown();
  assert.equal(await worker, 'stopped cleanly');
  assert.ok(iterations > 0);
  await assert.rejects(shutdown.run('late', async () => {}), (err: GraceError) => err.code === 'ERR_GRACE_NOT_SERVING');
});
