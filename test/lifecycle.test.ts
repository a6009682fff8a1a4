// The generation lifecycle table, driven directly: the races between signals,
// restarts and readiness, each in milliseconds and the same every run. Real
// processes go through the same table in handover-edges and restart-failures.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FakeClock, replay } from './table-replay.ts';
import { initialLifecycle, transition, type Action, type DeadlineKey, type Lifecycle, type LifecycleEvent } from '../src/lifecycle/lifecycle.ts';

/** Feeds events in order; returns the final lifecycle and every action, as short strings. */
function run(events: LifecycleEvent[], from: Lifecycle = initialLifecycle()): { now: Lifecycle; did: string[] } {
  return replay(transition, events, from, describe);
}

/** The table from `from` on a fake clock: its `arm` and `disarm` set the clock's timers, and `advance` fires them as `timer` events. */
function clock(from: Lifecycle): FakeClock<Lifecycle, LifecycleEvent, Action, DeadlineKey> {
  return new FakeClock<Lifecycle, LifecycleEvent, Action, DeadlineKey>(from, transition, (key) => ({ type: 'timer', key }), describe);
}

function describe(action: Action): string {
  if (action.do === 'drain') return `drain:${action.reason}`;
  if (action.do === 'refuse') return `refuse:${action.why}`;
  if (action.do === 'arm') return `arm:${action.key}:${action.ms}`;
  if (action.do === 'disarm') return `disarm:${action.key}`;
  return action.do;
}

const started: LifecycleEvent = { type: 'started' };
const restart: LifecycleEvent = { type: 'restart' };
const childReady: LifecycleEvent = { type: 'child-ready' };
const sigterm: LifecycleEvent = { type: 'signal', signal: 'SIGTERM', stopSignal: true };
const sigint: LifecycleEvent = { type: 'signal', signal: 'SIGINT', stopSignal: true };

/** Start-up's facts: who started us, and why hot restart is off, if it is. */
const known = (supervised: boolean, restartOff?: string): LifecycleEvent => ({ type: 'starter-known', supervised, restartOff });

test('a handover: restart, child ready, its SIGTERM is expected, drained', () => {
  const { now, did } = run([started, restart, childReady, sigterm, { type: 'drained' }]);
  assert.deepEqual(did, ['announce', 'spawn', 'drain:handover', 'finish']);
  assert.equal(now.state, 'stopped');
  assert.equal(now.childSigtermDue, false);
});

test('the old generation still handles the child\'s SIGTERM after its drain finished', () => {
  const { now, did } = run([started, restart, childReady, { type: 'drained' }, sigterm]);
  assert.deepEqual(did, ['announce', 'spawn', 'drain:handover', 'finish']);
  assert.equal(now.childSigtermDue, false, 'consumed, not the default action (which would kill it)');
});

test('a SIGTERM during a restart with no "ready" yet is an operator\'s stop: drain, and the child goes', () => {
  const { now, did } = run([started, restart, sigterm]);
  assert.deepEqual(did, ['announce', 'spawn', 'abandon-child', 'drain:signal']);
  assert.equal(now.state, 'draining');
  // The child's word arriving after that is too late: it was killed.
  assert.deepEqual(run([childReady], now).did, []);
});

test('a stop signal after the child\'s SIGTERM forces the handover drain', () => {
  const { did } = run([started, restart, childReady, sigterm, sigint]);
  assert.deepEqual(did.slice(-1), ['force']);
});

test('a second restart during a restart is refused; before ready and while draining too', () => {
  assert.deepEqual(run([started, restart, restart]).did.slice(-1), ['refuse:in progress']);
  assert.deepEqual(run([restart]).did, ['refuse:not ready']);
  assert.deepEqual(run([started, sigterm, restart]).did.slice(-1), ['refuse:shutting down']);
});

test('a failed restart goes back to serving, and a later restart spawns again', () => {
  const { now, did } = run([started, restart, { type: 'restart-failed' }, restart]);
  assert.deepEqual(did, ['announce', 'spawn', 'report-failure', 'spawn']);
  assert.equal(now.state, 'restarting');
});

test('a stop while starting drains without ever serving; "started" afterwards announces nothing', () => {
  const { now, did } = run([sigterm, started]);
  assert.deepEqual(did, ['drain:signal']);
  assert.equal(now.state, 'draining');
});

test('a SIGTERM that is not a stop signal (stopSignals: [SIGINT]) gets its default action, after the child is stopped', () => {
  const foreign: LifecycleEvent = { type: 'signal', signal: 'SIGTERM', stopSignal: false };
  assert.deepEqual(run([started, foreign]).did.slice(-1), ['default-action']);
  assert.deepEqual(run([started, restart, foreign]).did.slice(-2), ['abandon-child', 'default-action']);
  // The child's own SIGTERM is still its ready signal, not the default action.
  assert.deepEqual(run([started, restart, childReady, foreign]).did, ['announce', 'spawn', 'drain:handover']);
});

test('under a supervisor a restart is asked of it and the generation keeps serving', () => {
  const { now, did } = run([started, restart], initialLifecycle({ supervised: true }));
  assert.deepEqual(did, ['announce', 'ask-supervisor']);
  assert.equal(now.state, 'serving');
});

test('stop() is idempotent and a drain that finished stops', () => {
  const stop: LifecycleEvent = { type: 'stop', delay: true };
  const { now, did } = run([started, stop, stop, { type: 'drained' }, stop]);
  assert.deepEqual(did, ['announce', 'drain:stop', 'finish']);
  assert.equal(now.state, 'stopped');
});

test('after a final stop, a stop signal takes its default action (nothing is left to drain)', () => {
  assert.deepEqual(run([started, sigterm, { type: 'drained' }, sigint]).did.slice(-1), ['default-action']);
});

const delayed = initialLifecycle({ stopDelay: 5000 });
const delayOver: LifecycleEvent = { type: 'timer', key: 'stop-delay' };

test('with a stop delay, a stop signal leaves first: still serving, then drains when the delay is over', () => {
  const { now, did } = run([started, sigterm], delayed);
  assert.deepEqual(did, ['announce', 'leave', 'arm:stop-delay:5000']);
  assert.equal(now.state, 'leaving');
  const after = run([delayOver], now);
  assert.deepEqual(after.did, ['drain:signal']);
  assert.equal(after.now.state, 'draining');
});

test('a second stop signal skips the rest of the stop delay; a third forces the drain', () => {
  assert.deepEqual(run([started, sigterm, sigint, sigterm], delayed).did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:signal', 'force']);
  // The delay's timer firing after that changes nothing.
  assert.deepEqual(run([started, sigterm, sigint, delayOver], delayed).did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:signal']);
});

test('stop() leaves too, but the app shutting the shared registry down drains at once', () => {
  assert.deepEqual(run([started, { type: 'stop', delay: true }], delayed).did, ['announce', 'leave', 'arm:stop-delay:5000']);
  assert.deepEqual(run([started, { type: 'stop', delay: false }], delayed).did, ['announce', 'drain:stop']);
});

test('the stop delay is not applied to a handover, nor while still starting (nothing is accepted yet)', () => {
  assert.deepEqual(run([started, restart, childReady, sigterm, { type: 'drained' }], delayed).did, ['announce', 'spawn', 'drain:handover', 'finish']);
  assert.deepEqual(run([sigterm], delayed).did, ['drain:signal']);
});

test('a stop signal during a restart with a stop delay abandons the child and leaves', () => {
  const { now, did } = run([started, restart, sigterm], delayed);
  assert.deepEqual(did, ['announce', 'spawn', 'abandon-child', 'leave', 'arm:stop-delay:5000']);
  assert.deepEqual(run([childReady, restart], now).did, ['refuse:shutting down'], 'the abandoned child\'s word is too late; no restart while leaving');
});

test('under grace run, "retire" is a handover: no stop delay, and the SIGTERM after it is expected', () => {
  const supervised = initialLifecycle({ supervised: true, stopDelay: 5000 });
  const { now, did } = run([started, { type: 'retire' }, sigterm], supervised);
  assert.deepEqual(did, ['announce', 'drain:handover']);
  assert.equal(now.reason, 'handover');
  assert.equal(now.childSigtermDue, false);
  // Retired while leaving (the supervisor replaced us during our stop delay): a handover still.
  assert.deepEqual(run([started, sigterm, { type: 'retire' }], supervised).did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:handover']);
  // A plain SIGTERM from the supervisor (its own stop) leaves as usual.
  assert.deepEqual(run([started, sigterm], supervised).did, ['announce', 'leave', 'arm:stop-delay:5000']);
});

const crash: LifecycleEvent = { type: 'crash' };
const drained: LifecycleEvent = { type: 'drained' };

test('a crash drains at once, even while leaving, and once only', () => {
  assert.deepEqual(run([started, crash, crash], delayed).did, ['announce', 'drain:crash']);
  assert.deepEqual(run([started, sigterm, crash], delayed).did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:crash']);
});

test('a crash during a stop\'s drain: the stop goes on, and it finishes as a crash (exit status 1)', () => {
  const { now, did } = run([started, sigterm, crash, drained]);
  assert.deepEqual(did, ['announce', 'drain:signal', 'finish']);
  assert.equal(now.crashed, true);
  assert.deepEqual(transition(run([started, sigterm]).now, drained).actions, [{ do: 'finish', crashed: false }], 'a stop with no crash finishes clean');
  assert.deepEqual(transition(run([started, crash]).now, drained).actions, [{ do: 'finish', crashed: true }]);
  // After a handover too: the successor serves, but this process failed.
  assert.deepEqual(transition(run([started, restart, childReady, crash]).now, drained).actions, [{ do: 'finish', crashed: true }]);
});

test('a crash while a new generation starts keeps it going: serve on, hand over when it is ready, finish as a crash', () => {
  const { now, did } = run([started, restart, crash, crash], delayed);
  assert.deepEqual(did, ['announce', 'spawn'], 'the child is not abandoned, and nothing drains yet');
  assert.equal(now.state, 'restarting');
  const after = run([childReady, sigterm, drained], now);
  assert.deepEqual(after.did, ['drain:handover', 'finish']);
  assert.equal(after.now.crashed, true);
  assert.equal(after.now.childSigtermDue, false, 'the child\'s SIGTERM is still its "ready"');
});

test('a crash while a new generation starts, then the restart fails: the stop the crash put off begins, with no delay', () => {
  const { now, did } = run([started, restart, crash, { type: 'restart-failed' }], delayed);
  assert.deepEqual(did, ['announce', 'spawn', 'report-failure', 'drain:crash']);
  assert.equal(now.state, 'draining');
  // An operator's stop in that window is a stop: the child goes, and no stop delay for a crashed process.
  assert.deepEqual(run([started, restart, crash, sigterm], delayed).did, ['announce', 'spawn', 'abandon-child', 'drain:signal']);
});

test('the starter gone (the ready channel\'s EOF) drains at once, skipping a stop delay, and once only', () => {
  const gone: LifecycleEvent = { type: 'starter-gone' };
  const supervised = initialLifecycle({ supervised: true, stopDelay: 5000 });
  assert.deepEqual(run([started, gone, gone], supervised).did, ['announce', 'drain:signal']);
  assert.deepEqual(run([started, sigterm, gone], supervised).did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:signal']);
  // Still starting (its ready hook running): nothing is accepted, it stops before it serves.
  const { now, did } = run([gone], initialLifecycle({ stopDelay: 5000 }));
  assert.deepEqual(did, ['drain:signal']);
  assert.deepEqual(run([started], now).did, [], 'a start that finishes after it announces nothing');
  // A generation draining after a handover finishes its drain.
  assert.deepEqual(run([started, { type: 'retire' }, gone], supervised).did, ['announce', 'drain:handover']);
});

// The stop delay is the table's own deadline: it arms it as it leaves, disarms
// it when leaving ends early, and judges its timer against the state then.

test('the stop delay is a deadline of the table: still leaving at 4999 ms, draining at 5000 ms', () => {
  const c = clock(delayed).send(started).send(sigterm).advance(4999);
  assert.deepEqual(c.did, ['announce', 'leave', 'arm:stop-delay:5000']);
  assert.equal(c.state.state, 'leaving');
  assert.deepEqual(c.armed(), { 'stop-delay': 5000 });
  c.advance(1);
  assert.deepEqual(c.did, ['announce', 'leave', 'arm:stop-delay:5000', 'drain:signal']);
  assert.equal(c.state.state, 'draining');
  assert.equal(c.state.reason, 'signal');
  assert.deepEqual(c.armed(), {});
});

test('leaving that ends early disarms the stop delay: a second signal, a retire, a crash, the starter gone', () => {
  const supervised = initialLifecycle({ supervised: true, stopDelay: 5000 });
  const enders: Array<[LifecycleEvent, string]> = [
    [sigint, 'drain:signal'],
    [{ type: 'retire' }, 'drain:handover'],
    [crash, 'drain:crash'],
    [{ type: 'starter-gone' }, 'drain:signal'],
  ];
  for (const [ender, drain] of enders) {
    const c = clock(supervised);
    c.send(started).send(sigterm).advance(1000).send(ender).advance(60_000);
    assert.deepEqual(c.did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', drain], ender.type);
    assert.equal(c.state.state, 'draining');
    assert.deepEqual(c.armed(), {}, `${ender.type}: nothing left armed`);
  }
});

test('the stop delay\'s timer fired late, after the state moved on, changes nothing', () => {
  const supervised = initialLifecycle({ supervised: true, stopDelay: 5000 });
  // Retired during the delay: a handover, whose drain a late timer must not turn into a stop.
  const retired = clock(supervised).send(started).send(sigterm).send({ type: 'retire' }).fireAt('stop-delay', 5000);
  assert.deepEqual(retired.did, ['announce', 'leave', 'arm:stop-delay:5000', 'disarm:stop-delay', 'drain:handover']);
  assert.equal(retired.state.reason, 'handover');
  assert.equal(retired.state.childSigtermDue, true);
  // Drained and stopped: the timer is no signal to act on either.
  const stopped = clock(delayed).send(started).send(sigterm).send(sigint).send(drained).fireAt('stop-delay', 5000);
  assert.deepEqual(stopped.did.slice(-1), ['finish']);
  assert.equal(stopped.state.state, 'stopped');
  // Never leaving at all (no stop delay): a stray timer is nothing.
  assert.deepEqual(clock(initialLifecycle()).send(started).fireAt('stop-delay', 0).did, ['announce']);
});

test('standby: the next generation boots 100 ms after this one serves (and after a failed restart), never while a restart or a stop goes on', () => {
  const standby = initialLifecycle({ standby: true });
  const c = clock(standby).send(started).advance(99);
  assert.deepEqual(c.did, ['announce', 'arm:standby:100']);
  c.advance(1);
  assert.deepEqual(c.did.slice(2), ['boot-standby']);
  // A failed restart serves again: its next standby boots a while later too. (Leaving serving always disarms it, come or not.)
  c.send(restart).send({ type: 'restart-failed' }).advance(100);
  assert.deepEqual(c.did.slice(3), ['disarm:standby', 'spawn', 'report-failure', 'arm:standby:100', 'boot-standby']);
  // A restart or a stop before it comes: it does not come, and a late timer is nothing.
  for (const ender of [restart, sigterm]) {
    const early = clock(standby).send(started).advance(50).send(ender).advance(1000).fireAt('standby', 100);
    assert.deepEqual(early.did.slice(0, 3), ['announce', 'arm:standby:100', 'disarm:standby'], ender.type);
    assert.ok(!early.did.includes('boot-standby'), `${ender.type}: no boot`);
    assert.deepEqual(early.armed(), {});
  }
  // Without the option, under a supervisor, or with hot restart off: never armed.
  assert.deepEqual(clock(initialLifecycle()).send(started).advance(1000).did, ['announce']);
  assert.deepEqual(clock(standby).send(known(true)).send(started).advance(1000).did, ['announce']);
  assert.deepEqual(clock(standby).send(known(false, 'under nodemon')).send(started).advance(1000).did, ['announce']);
});

test('start-up\'s facts arrive as an event: the state stays, and restarts follow them', () => {
  const { now, did } = run([known(true), started, restart]);
  assert.deepEqual(did, ['announce', 'ask-supervisor']);
  assert.equal(now.supervised, true);
  assert.equal(run([known(false, 'hot restart is off under nodemon')]).now.state, 'starting');
  const off = transition(run([known(false, 'hot restart is off under nodemon'), started]).now, restart);
  assert.deepEqual(off.actions, [{ do: 'refuse', code: 'ERR_GRACE_RESTART_FAILED', why: 'unavailable', detail: 'hot restart is off under nodemon' }]);
  // Learnt after a stop began (the app shut the registry down first): the stop goes on.
  assert.equal(run([{ type: 'stop', delay: false }, known(true)]).now.state, 'draining');
});

test('the table is pure and keeps its own time: it imports nothing at run time, and no shell of it arms a timer', () => {
  const src = new URL('../src/', import.meta.url);
  const table = readFileSync(new URL('lifecycle/lifecycle.ts', src), 'utf8');
  assert.deepEqual(table.match(/^import (?!type ).*$/gm) ?? [], [], 'type imports only');
  const shells = [
    ...readdirSync(new URL('lifecycle/', src)).map((f) => `lifecycle/${f}`),
    ...readdirSync(new URL('generation/', src)).map((f) => `generation/${f}`),
    'shutdown/handle-signals.ts',
  ];
  const arming = shells.filter((file) => /\bset(Timeout|Interval)\(/.test(readFileSync(new URL(file, src), 'utf8')));
  assert.deepEqual(arming, [], 'the stop delay is armed by platform/deadline-timers.ts, for the table');
});
