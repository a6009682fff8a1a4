// The generation lifecycle table, driven directly: the races between signals,
// restarts and readiness, each in milliseconds and the same every run. Real
// processes go through the same table in handover-edges and restart-failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialLifecycle, transition, type Action, type Lifecycle, type LifecycleEvent } from '../src/lifecycle.ts';

/** Feeds events in order; returns the final lifecycle and every action, as short strings. */
function run(events: LifecycleEvent[], from: Lifecycle = initialLifecycle(false)): { now: Lifecycle; did: string[] } {
  let now = from;
  const did: string[] = [];
  for (const event of events) {
    const step = transition(now, event);
    now = step.next;
    did.push(...step.actions.map(describe));
  }
  return { now, did };
}

function describe(action: Action): string {
  if (action.do === 'drain') return `drain:${action.reason}`;
  if (action.do === 'refuse') return `refuse:${action.why}`;
  return action.do;
}

const started: LifecycleEvent = { type: 'started' };
const restart: LifecycleEvent = { type: 'restart' };
const childReady: LifecycleEvent = { type: 'child-ready' };
const sigterm: LifecycleEvent = { type: 'signal', signal: 'SIGTERM', stopSignal: true };
const sigint: LifecycleEvent = { type: 'signal', signal: 'SIGINT', stopSignal: true };

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
  const { now, did } = run([started, restart], initialLifecycle(true));
  assert.deepEqual(did, ['announce', 'ask-supervisor']);
  assert.equal(now.state, 'serving');
});

test('stop() is idempotent and a drain that finished stops', () => {
  const stop: LifecycleEvent = { type: 'stop' };
  const { now, did } = run([started, stop, stop, { type: 'drained' }, stop]);
  assert.deepEqual(did, ['announce', 'drain:stop', 'finish']);
  assert.equal(now.state, 'stopped');
});

test('after a final stop, a stop signal takes its default action (nothing is left to drain)', () => {
  assert.deepEqual(run([started, sigterm, { type: 'drained' }, sigint]).did.slice(-1), ['default-action']);
});
