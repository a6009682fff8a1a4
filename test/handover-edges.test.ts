// The edges of the handover protocol (issue #8), each through real processes:
// what a new generation may do before it is ready, whose SIGTERM is whose, what
// a stop leaves behind and says, and what the protocol variables reach.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  assertKilledUnreadyChild,
  CLI,
  FIXTURE_ARGS,
  get,
  isAlive,
  portOf,
  startFixture,
  tempDir,
  waitForExit,
  waitUntil,
  type Fixture,
  type FixtureEvent,
} from './helpers.ts';

const local = { port: 0, host: '127.0.0.1' };

function withControl(t: TestContext, config: object = {}) {
  const dir = tempDir(t);
  const control = join(dir, 'control.json');
  writeFileSync(control, '{}');
  const app = startFixture(t, { listen: [local], reportReadyHook: true, ...config, control });
  const setControl = (value: object) => writeFileSync(control, JSON.stringify(value));
  return { app, setControl, dir };
}

interface Answer {
  pid: number;
  readyHookDone: boolean;
}

/**
 * Closed-loop load: `loops` clients, each sending its next GET on a fresh
 * connection when the previous one ends, until stopped. Every answer and every
 * failure is kept.
 */
function load(port: number, loops = 4) {
  const answers: Answer[] = [];
  const failures: string[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const res = await get({ port }, '/');
        const json = res.json as unknown as Answer;
        answers.push({ pid: json.pid, readyHookDone: json.readyHookDone });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: loops }, loop));
  return {
    answers,
    failures,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** Resolves with how the process ended once its output is read to the end ('close'), or rejects after `ms`. */
async function exitOf(app: Fixture, ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      app.closed(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`pid ${app.proc.pid} did not exit within ${ms} ms\n${app.log}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// Two at a time: each mostly waits for processes to start, and the whole file
// must stay well inside the runner's per-file timeout on a loaded machine.
describe('handover edges (issue #8)', { concurrency: 2 }, () => {
  // 1. A new generation takes traffic before it is ready.

  test('a new generation answers nobody until its ready hook has resolved, under continuous load', { timeout: 90_000 }, async (t) => {
    const { app, setControl } = withControl(t);
    const first = await app.ready();
    const port = portOf(first);
    setControl({ readyDelay: 2000 });
    const traffic = load(port);
    t.after(() => traffic.stop());
    await waitUntil(() => traffic.answers.length > 0, 15_000, () => 'the load\'s first answer');
    process.kill(first.pid, 'SIGUSR2');
    const spawned = await app.waitFor((e) => e.event === 'restart');
    // While the new one's 2 s ready hook runs, the old one answers.
    await app.waitFor((e) => e.event === 'ready-hook' && e.pid === spawned.child);
    const atHook = traffic.answers.length;
    await waitUntil(() => traffic.answers.slice(atHook).some((a) => a.pid === first.pid), 15_000, () => `an answer from old pid ${first.pid} during the ready hook; failures: ${traffic.failures.join(', ')}`);
    assert.doesNotMatch(app.log, /Graceful handoff/, 'that answer came before the handover');
    const second = await app.handedOver(first.pid);
    assert.equal(second.pid, spawned.child);
    await waitForExit(first.pid);
    // Once the old one is gone, every answer is the new one's: the load saw it serve.
    await waitUntil(() => traffic.answers.some((a) => a.pid === second.pid), 15_000, () => 'an answer from the new generation');
    await traffic.stop();
    assert.deepEqual(traffic.failures, [], 'no request failed across the handover');
    const fromChild = traffic.answers.filter((a) => a.pid === second.pid);
    const early = fromChild.filter((a) => !a.readyHookDone);
    assert.equal(early.length, 0, `${early.length} of ${fromChild.length} answers from new pid ${second.pid} came while its 2 s ready hook was still running`);
  });

  test('a new generation killed at readyTimeout answered nobody and no request failed', { timeout: 90_000 }, async (t) => {
    const { app, setControl } = withControl(t, { options: { readyTimeout: 6000 } });
    const first = await app.ready();
    const port = portOf(first);
    setControl({ hang: true });
    const traffic = load(port);
    t.after(() => traffic.stop());
    await waitUntil(() => traffic.answers.length > 0, 15_000, () => 'the load\'s first answer');
    process.kill(first.pid, 'SIGUSR2');
    const spawned = await app.waitFor((e) => e.event === 'restart');
    const failed = await app.waitFor((e) => e.event === 'restart-failed');
    assert.match(failed.message as string, /was not ready within 6000 ms/);
    await waitForExit(spawned.child as number);
    const before = traffic.answers.length;
    await waitUntil(() => traffic.answers.length > before + 4, 15_000, () => 'answers after the child exited');
    await traffic.stop();
    assert.deepEqual(traffic.failures, [], 'no request was reset or refused');
    const pids = new Set(traffic.answers.map((a) => a.pid));
    assert.deepEqual([...pids], [first.pid], `answers came from ${[...pids].join(', ')}; only old pid ${first.pid} may answer`);
  });

  // 2. Every old generation exits with status 0 and runs the app's code after serve() resolves.

  test('ten handovers in a row: every old generation runs the code after serve() and exits with status 0', { timeout: 180_000 }, async (t) => {
    const app = startFixture(t, { listen: [local] });
    // Every generation writes to the same stdout pipe: its end means all of them are gone and all they said is read.
    const eof = once(app.proc.stdout!, 'end');
    let current = await app.ready();
    const port = portOf(current);
    const retired: number[] = [];
    for (let i = 0; i < 10; i++) {
      const old = current.pid;
      process.kill(old, 'SIGUSR2');
      current = await app.handedOver(old);
      retired.push(old);
      await waitForExit(old);
    }
    assert.equal((await get({ port }, '/')).json.pid, current.pid);
    process.kill(current.pid, 'SIGTERM');
    await eof;
    for (const pid of [...retired, current.pid]) {
      const said = (event: string) => app.events.filter((e: FixtureEvent) => e.pid === pid && e.event === event);
      assert.equal(said('after-serve').length, 1, `pid ${pid} ran the code after serve() resolved\n${app.log}`);
      assert.deepEqual(said('exit').map((e) => e.code), [0], `pid ${pid} exited with status 0 (not killed by a signal)\n${app.log}`);
    }
    assert.equal((await exitOf(app)).code, 0, 'the first generation exited with status 0');
  });

  // 3. An operator's SIGTERM during a restart must not be handed to an unready
  // child, however long the new release takes before it calls serve().

  test('SIGTERM while the new release takes more than 1 s to reach serve() stops the old one and kills the child', { timeout: 60_000 }, async (t) => {
    const { app, setControl } = withControl(t);
    const first = await app.ready();
    // It waits 60 s before serve(): until then it reads no channel, so only a kill ends it within this test.
    setControl({ startDelay: 60_000 });
    process.kill(first.pid, 'SIGUSR2');
    const spawned = await app.waitFor((e) => e.event === 'restart');
    const child = spawned.child as number;
    await app.waitFor((e) => e.pid === child && e.event === 'start-delay'); // up, and waiting before serve()
    assert.ok(isAlive(child), 'the child is still starting');
    assert.equal(app.events.some((e) => e.pid === child && e.event === 'ready-hook'), false, 'the child has not called serve() yet');
    process.kill(first.pid, 'SIGTERM');
    await assertKilledUnreadyChild(app, child);
    assert.match(app.log, new RegExp(`Stopping pid ${first.pid} on SIGTERM`));
  });

  // 4. A new generation stopped while starting leaves the old one's unix socket file.

  test('a new generation stopped while starting leaves the unix socket file the old one serves; a later restart works', { timeout: 60_000 }, async (t) => {
    const dir = tempDir(t);
    const socketPath = join(dir, 'app.sock');
    const control = join(dir, 'control.json');
    writeFileSync(control, '{}');
    const app = startFixture(t, { listen: [local, socketPath], control, reportReadyHook: true });
    const first = await app.ready();
    writeFileSync(control, JSON.stringify({ hang: true }));
    process.kill(first.pid, 'SIGUSR2');
    const spawned = await app.waitFor((e) => e.event === 'restart');
    const child = spawned.child as number;
    await app.waitFor((e) => e.pid === child && e.event === 'ready-hook'); // hung in its ready hook
    process.kill(child, 'SIGTERM');
    await app.waitFor((e) => e.event === 'restart-failed');
    await waitForExit(child);
    assert.ok(existsSync(socketPath), `${socketPath} is still there`);
    assert.equal((await get({ socketPath }, '/')).json.pid, first.pid, 'the old generation still answers on the unix socket');
    writeFileSync(control, '{}');
    process.kill(first.pid, 'SIGUSR2');
    const next = await app.handedOver(first.pid);
    await waitForExit(first.pid);
    assert.equal((await get({ socketPath }, '/')).json.pid, next.pid);
    assert.equal((await get({ port: portOf(first) }, '/')).json.pid, next.pid);
  });

  // 10. The protocol variables must not reach a subprocess the app starts before serve().

  test('a subprocess started before serve() in generation 2 inherits no protocol variables', { timeout: 60_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], probeEnv: true });
    const first = await app.ready();
    process.kill(first.pid, 'SIGUSR2');
    const second = await app.handedOver(first.pid);
    const probe = await app.waitFor((e) => e.event === 'env-probe' && e.pid === second.pid);
    assert.deepEqual(probe.keys, []);
  });

  // 11. A signal that is not a stop signal does what it would without grace.

  test('with stopSignals [SIGINT] and restarts on, SIGTERM terminates the process and SIGINT still drains', { timeout: 60_000 }, async (t) => {
    const options = { stopSignals: ['SIGINT'] };
    const terminated = startFixture(t, { listen: [local], options });
    const a = await terminated.ready();
    process.kill(a.pid, 'SIGTERM');
    assert.deepEqual(await exitOf(terminated, 10_000), { code: null, signal: 'SIGTERM' });
    assert.match(terminated.log, new RegExp(`SIGTERM is not a stop signal here: terminating pid ${a.pid}`));

    const drained = startFixture(t, { listen: [local], options });
    const b = await drained.ready();
    const slow = get({ port: portOf(b) }, '/sleep?ms=500&report');
    await drained.waitFor((e) => e.event === 'request-start');
    process.kill(b.pid, 'SIGINT');
    assert.equal((await slow).json.pid, b.pid, 'the request in flight was answered');
    assert.deepEqual(await exitOf(drained), { code: 0, signal: null });
    assert.match(drained.log, new RegExp(`Stopping pid ${b.pid} on SIGINT`));
  });

  // 13. A stop says what it cut, and its exit status tells whether it was clean.

  test('a stop with a timer still holding the event loop exits with status 0 and says it was still busy', { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], holdLoop: true });
    const ready = await app.ready();
    process.kill(ready.pid, 'SIGTERM');
    assert.deepEqual(await exitOf(app), { code: 0, signal: null });
    assert.match(app.log, new RegExp(`pid ${ready.pid} still busy 1000 ms after draining .*exiting with status 0`));
  });

  test('a stop whose registered closer throws exits with status 1 and says so', { timeout: 30_000 }, async (t) => {
    const app = startFixture(t, { listen: [local], failingCloser: true });
    const ready = await app.ready();
    process.kill(ready.pid, 'SIGTERM');
    assert.deepEqual(await exitOf(app), { code: 1, signal: null });
    assert.match(app.log, /failing closer failed to close: the database said no/);
    assert.match(app.log, /the stop had failed closers \(failing closer\): exit status 1/);

    // The same, with the event loop held: the forced exit carries the status too.
    const held = startFixture(t, { listen: [local], failingCloser: true, holdLoop: true });
    const busy = await held.ready();
    process.kill(busy.pid, 'SIGTERM');
    assert.deepEqual(await exitOf(held), { code: 1, signal: null });
    assert.match(held.log, /still busy 1000 ms after draining .*exiting with status 1/);
  });

  // 5b. Under `grace run`, a socket the app never claims means it is not ready.

  test('grace run: a --listen the app never listens on makes the generation not ready, naming the socket', { timeout: 90_000 }, async (t) => {
    const dir = tempDir(t);
    const extra = join(dir, 'extra.sock');
    const node = process.execPath;
    const app = startFixture(t, { listen: [local] }, {}, {
      file: node,
      args: ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--listen', extra, '--', node, ...FIXTURE_ARGS],
    });
    const supervisor = app.proc.pid!;
    await app.waitForLog(/does not listen on it/, 30_000);
    assert.match(app.log, /ERR_GRACE_INHERITED_FD/);
    assert.match(app.log, new RegExp(`grace run holds fd \\d+ \\(unix:${extra.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\), but this app does not listen on it`));
    // Retried with backoff, and each generation fails the same way.
    await app.waitForLog(/generation 2 pid \d+ exited with code 1 before it was ready/, 30_000);
    assert.doesNotMatch(app.log, /is ready/);
    assert.equal(app.events.some((e) => e.event === 'ready'), false, 'no app generation served');
    process.kill(supervisor, 'SIGTERM');
    await waitForExit(supervisor, 10_000);
  });
});
