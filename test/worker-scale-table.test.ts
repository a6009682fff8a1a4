// `grace scale` in the workers' table, driven directly: slots added launch at
// once, slots scaled away drain (never killed) and go once empty, a reload
// in flight goes on over the slots kept, a stop refuses it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replay } from './table-replay.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import { step } from '../src/supervisor/core/step.ts';
import { activeSlots, initialTable, type WorkerTable } from '../src/supervisor/core/table.ts';

function run(events: WorkerEvent[], from: WorkerTable): { now: WorkerTable; did: string[] } {
  return replay(step, events, from, describe);
}

/** What these scenarios speak of; deadlines, reports and notes are deadline-table.test.ts's (a disarmed backoff is a cancel, as always). */
function describe(a: WorkerAction): string | undefined {
  if (a.do === 'launch') return `launch ${a.index} #${a.id} g${a.generation} ${a.why}`;
  if (a.do === 'retire' || a.do === 'abandon') return `${a.do} ${a.index} #${a.id}`;
  if (a.do === 'scaled') return `scaled ${a.from}->${a.to}`;
  if (a.do === 'refuse-scale') return `refuse-scale: ${a.why}`;
  if (a.do === 'reload-started' || a.do === 'reload-done') return `${a.do} g${a.generation}`;
  if (a.do === 'disarm' && a.key.startsWith('backoff:')) return `cancel-backoff ${a.key.slice('backoff:'.length)}`;
  if (a.do === 'arm' || a.do === 'disarm' || a.do === 'reaped' || a.do === 'stopping') return undefined;
  return a.do;
}

const ready = (index: number, id: number): WorkerEvent => ({ type: 'ready', index, id });
const exited = (index: number, id: number): WorkerEvent => ({ type: 'exited', index, id, status: { code: 0, signal: null }, ranMs: 1000 });
const scale = (workers: number): WorkerEvent => ({ type: 'scale', workers });

function serving(workers: number): WorkerTable {
  return run([{ type: 'start' }, ...Array.from({ length: workers }, (_, i) => ready(i, i + 1))], initialTable(workers, 1)).now;
}

test('scale up: the new slots launch at once, each with a generation of its own', () => {
  const { now, did } = run([scale(4)], serving(2));
  assert.deepEqual(did, ['launch 2 #3 g2 scale', 'launch 3 #4 g3 scale', 'scaled 2->4']);
  assert.equal(activeSlots(now).length, 4);
  assert.deepEqual(now.slots.map((s) => s.restarts), [0, 0, 0, 0], 'a scale is no restart');
});

test('scale down: the highest slots retire (drain) and go once their worker has exited', () => {
  const down = run([scale(1)], serving(3));
  assert.deepEqual(down.did, ['retire 1 #2', 'retire 2 #3', 'scaled 3->1']);
  assert.equal(activeSlots(down.now).length, 1);
  assert.equal(down.now.slots.length, 3, 'kept while their workers drain');
  const gone = run([exited(1, 2), exited(2, 3)], down.now);
  assert.deepEqual(gone.did, [], 'a retired worker exiting is no crash');
  assert.equal(gone.now.slots.length, 1);
});

test('scale down abandons a start and cancels a backoff in the slots it removes', () => {
  const crashed = run([exited(1, 2), scale(3)], serving(2)).now; // slot 1 waits out a backoff, slot 2 starts
  const { now, did } = run([scale(1)], crashed);
  assert.deepEqual(did, ['cancel-backoff 1', 'abandon 2 #3', 'scaled 3->1']);
  assert.equal(run([{ type: 'failed', index: 2, id: 3, reason: 'abandoned' }], now).now.slots.length, 1);
});

test('a worker that said ready in the turn it was abandoned is retired, not left running', () => {
  const { did } = run([scale(2), scale(1), ready(1, 2)], serving(1));
  assert.deepEqual(did.slice(-1), ['retire 1 #2']);
});

test('scale back up before a scaled-away worker left: the slot is taken up again beside it', () => {
  const { now, did } = run([scale(1), scale(2)], serving(2));
  assert.deepEqual(did.slice(-2), ['launch 1 #3 g2 scale', 'scaled 1->2']);
  assert.deepEqual(now.slots[1]!.retiring.map((r) => r.id), [2]);
  assert.equal(run([exited(1, 2), ready(1, 3)], now).now.slots[1]!.current?.id, 3);
});

test('a reload in flight goes on over the slots kept; a stop refuses a scale', () => {
  const reloading = run([{ type: 'reload' }], serving(2)).now; // slot 0's replacement starts
  const { did } = run([scale(1), ready(0, 3)], reloading);
  assert.deepEqual(did, ['retire 1 #2', 'scaled 2->1', 'retire 0 #1', 'reload-done g2']);
  assert.deepEqual(run([{ type: 'stop' }, scale(3)], serving(2)).did.slice(-1), ['refuse-scale: stopping']);
});
