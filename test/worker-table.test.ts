// The workers' table (`grace run --workers N`), driven directly: rolling
// reloads, their failures, crashes, memory replacements and stops, each the
// same every run. Real processes go through the same table in workers.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replay } from './table-replay.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import { step } from '../src/supervisor/core/step.ts';
import { fleetGeneration, initialTable, type WorkerTable } from '../src/supervisor/core/table.ts';

/** Feeds events in order; returns the final table and every action these scenarios speak of, as short strings. */
function run(events: WorkerEvent[], from: WorkerTable): { now: WorkerTable; did: string[] } {
  return replay(step, events, from, describe);
}

/** The backoff as it was always written here; the other deadlines, reports and notes are deadline-table.test.ts's. */
function describe(a: WorkerAction): string | undefined {
  switch (a.do) {
    case 'launch':
      return `launch ${a.index} #${a.id} g${a.generation} ${a.why}`;
    case 'retire':
    case 'abandon':
      return `${a.do} ${a.index} #${a.id}`;
    case 'arm':
      return a.key.startsWith('backoff:') ? `backoff ${a.key.slice('backoff:'.length)} ${a.ms}` : undefined;
    case 'disarm':
      return a.key.startsWith('backoff:') ? `cancel-backoff ${a.key.slice('backoff:'.length)}` : undefined;
    case 'reaped':
    case 'replace':
    case 'stopping':
      return undefined;
    case 'reload-started':
    case 'reload-done':
      return `${a.do} g${a.generation}`;
    case 'reload-failed':
      return `reload-failed g${a.generation} worker ${a.index}`;
    case 'refuse-reload':
      return `refuse: ${a.why}`;
    case 'stop-workers':
      return `stop ${a.ids.map((id) => `#${id}`).join(' ')}`;
    default:
      return a.do;
  }
}

const ready = (index: number, id: number): WorkerEvent => ({ type: 'ready', index, id });
const failed = (index: number, id: number): WorkerEvent => ({ type: 'failed', index, id, reason: 'exited with code 3 before it was ready' });
const exited = (index: number, id: number, ranMs = 1000): WorkerEvent => ({ type: 'exited', index, id, status: { code: null, signal: 'SIGKILL' }, ranMs });
const reload: WorkerEvent = { type: 'reload' };
/** A slot's backoff came. */
const due = (index: number): WorkerEvent => ({ type: 'timer', key: `backoff:${index}` });
const overMemory = (index: number, id: number): WorkerEvent => ({ type: 'over-memory', index, id, rss: 2 ** 30 });

/** Two workers serving: ids #1 and #2, generation 1. */
function serving(workers = 2, surge = 1): WorkerTable {
  const events: WorkerEvent[] = [{ type: 'start' }];
  for (let i = 0; i < workers; i++) events.push(ready(i, i + 1));
  return run(events, initialTable(workers, surge)).now;
}

const servingCount = (t: WorkerTable) => t.slots.filter((s) => s.current).length;

test('start: every slot launches at once; announce once all are ready, not before', () => {
  const { now, did } = run([{ type: 'start' }, ready(1, 2)], initialTable(2, 1));
  assert.deepEqual(did, ['launch 0 #1 g1 initial', 'launch 1 #2 g1 initial']);
  assert.equal(now.phase, 'starting');
  const after = run([ready(0, 1)], now);
  assert.deepEqual(after.did, ['announce']);
  assert.equal(after.now.phase, 'serving');
});

test('a rolling reload, one at a time: each old worker retires in the step its replacement is ready; N serve throughout', () => {
  let t = serving();
  const did: string[] = [];
  for (const event of [reload, ready(0, 3), ready(1, 4)]) {
    const r = run([event], t);
    t = r.now;
    did.push(...r.did);
    assert.equal(servingCount(t), 2, `after ${event.type}`);
  }
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'retire 0 #1', 'launch 1 #4 g2 reload', 'retire 1 #2', 'reload-done g2']);
  assert.equal(fleetGeneration(t), 2);
  assert.deepEqual(t.slots.map((s) => s.retiring.map((r) => r.id)), [[1], [2]]);
  const gone = run([exited(0, 1), exited(1, 2)], t);
  assert.deepEqual(gone.did, [], 'retired workers exiting are expected: no restart');
  assert.deepEqual(gone.now.slots.map((s) => s.restarts), [0, 0]);
});

test('--surge 2 starts both new workers at once', () => {
  const { did } = run([reload, ready(1, 4), ready(0, 3)], serving(2, 2));
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'launch 1 #4 g2 reload', 'retire 1 #2', 'retire 0 #1', 'reload-done g2']);
});

test('--standby K without --surge: a reload starts min(K, N) at once, each old worker retired only when its replacement is ready; --surge given wins', () => {
  const from = (workers: number, surge: number | undefined, standby: number) => {
    const events: WorkerEvent[] = [{ type: 'start' }, ...Array.from({ length: workers }, (_, i) => ready(i, i + 1))];
    return run(events, initialTable(workers, surge, { standby })).now;
  };
  let t = from(3, undefined, 2);
  const did: string[] = [];
  for (const event of [reload, ready(1, 5), ready(0, 4), ready(2, 6)]) {
    const r = run([event], t);
    t = r.now;
    did.push(...r.did);
    assert.equal(servingCount(t), 3, `after ${event.type}: N serve throughout`);
  }
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #4 g2 reload', 'launch 1 #5 g2 reload', 'retire 1 #2', 'launch 2 #6 g2 reload', 'retire 0 #1', 'retire 2 #3', 'reload-done g2']);
  assert.deepEqual(run([reload], from(2, undefined, 4)).did.filter((d) => d.startsWith('launch')).length, 2, 'never more than the workers');
  assert.deepEqual(run([reload], from(3, 1, 2)).did.filter((d) => d.startsWith('launch')).length, 1, '--surge 1 given');
  assert.deepEqual(run([reload], from(3, undefined, 0)).did.filter((d) => d.startsWith('launch')).length, 1, 'no spares: one at a time');
  // The reload came with fewer spares there than K (unfit, or not refilled yet): that many at once, cold starts one at a time.
  const launches = (spares: number) => run([{ ...reload, spares }], from(3, undefined, 2)).did.filter((d) => d.startsWith('launch')).length;
  assert.deepEqual([launches(0), launches(1), launches(2), launches(5)], [1, 1, 2, 2]);
});

test('a new worker that fails aborts the reload: nothing retired, nothing more launched, the fleet generation stays', () => {
  const { now, did } = run([reload, failed(0, 3)], serving());
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'reload-failed g2 worker 0']);
  assert.equal(servingCount(now), 2);
  assert.deepEqual(now.slots.map((s) => s.current?.id), [1, 2]);
  assert.equal(now.reload, undefined);
  assert.equal(fleetGeneration(now), 1);
});

test('a failure half-way keeps the new workers already ready (N serve, a mixed fleet) and the generation does not grow', () => {
  const { now, did } = run([reload, ready(0, 3), failed(1, 4)], serving());
  assert.deepEqual(did.slice(-1), ['reload-failed g2 worker 1']);
  assert.deepEqual(now.slots.map((s) => s.current?.id), [3, 2]);
  assert.equal(fleetGeneration(now), 1, 'grace reload must not read this as success');
});

test('with --surge 2, one failure abandons the other new worker still starting, and is reported once', () => {
  const { now, did } = run([reload, failed(0, 3), failed(1, 4)], serving(2, 2));
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'launch 1 #4 g2 reload', 'abandon 1 #4', 'reload-failed g2 worker 0']);
  assert.equal(servingCount(now), 2);
});

test('a reload is refused while one is in flight, and while a replacement starts beside a serving worker', () => {
  const inFlight = run([reload, reload], serving());
  assert.deepEqual(inFlight.did.slice(-1), ['refuse: a reload to generation 2 is in progress']);
  const memory = run([overMemory(1, 2), reload], serving());
  assert.deepEqual(memory.did.slice(-1), ['refuse: worker 1 (generation 2) is still starting']);
});

test('a reload replaces a start in a slot with nothing serving (a crash loop): the new code starts, the old start is reaped', () => {
  const crashed = run([exited(1, 2), due(1), reload], serving());
  assert.deepEqual(crashed.did.slice(-3), ['reload-started g3', 'abandon 1 #3', 'launch 1 #4 g3 reload']);
  assert.deepEqual(crashed.now.slots[1]!.retiring, [{ id: 3, generation: 2 }], 'counted until it is reaped');
  const reaped = run([failed(1, 3), ready(1, 4)], crashed.now);
  assert.deepEqual(reaped.now.slots[1]!.retiring, []);
  assert.deepEqual(reaped.did, ['launch 0 #5 g3 reload'], 'the reaped start is no failure of the reload');
  // Every slot down, from the start: both starts are replaced, one reload launch at a time (surge 1).
  const down = run([{ type: 'start' }, failed(0, 1), failed(1, 2), due(0), reload], initialTable(2, 1));
  assert.deepEqual(down.did.slice(-4), ['reload-started g3', 'abandon 0 #3', 'cancel-backoff 1', 'launch 0 #4 g3 reload']);
  assert.deepEqual(run([failed(0, 3), ready(0, 4)], down.now).did, ['launch 1 #5 g3 reload']);
});

test('a failed start is the slot\'s last word for the stop\'s status; a start killed by the stop is not', () => {
  const status = { code: 3, signal: null };
  const { now } = run([{ type: 'start' }, { type: 'failed', index: 0, id: 1, reason: 'exited with code 3', status }], initialTable(1, 1));
  assert.deepEqual(now.slots[0]!.lastExit, { ...status, beforeReady: true });
  assert.equal(now.slots[0]!.served, false);
  const stopped = run([due(0), { type: 'stop' }, { type: 'failed', index: 0, id: 2, reason: 'stopping', status: { code: null, signal: 'SIGKILL' } }], now);
  assert.deepEqual(stopped.now.slots[0]!.lastExit, { ...status, beforeReady: true });
});

test('a crashed worker restarts in its slot with backoff doubling per slot, reset after a stable run', () => {
  const { now, did } = run(
    [
      exited(1, 2),
      due(1),
      failed(1, 3),
      due(1),
      ready(1, 4),
      exited(1, 4, 60_000),
    ],
    serving(),
  );
  assert.deepEqual(did, ['backoff 1 100', 'launch 1 #3 g2 crash', 'backoff 1 200', 'launch 1 #4 g3 crash', 'backoff 1 100']);
  assert.equal(now.slots[0]!.current?.id, 1, 'worker 0 untouched');
  assert.equal(now.slots[1]!.restarts, 2);
  assert.equal(now.slots[0]!.backoff, 0);
});

test('a worker that dies during a reload restarts after its backoff, and its new worker counts for the reload', () => {
  // Slot 0's new worker is in flight (surge 1): slot 1 waits its backoff.
  const { did } = run([reload, exited(1, 2), ready(0, 3), due(1), ready(1, 4)], serving());
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'backoff 1 100', 'retire 0 #1', 'launch 1 #4 g3 crash', 'reload-done g2']);
});

test('a worker that dies while its replacement is starting is simply replaced by it', () => {
  const { did } = run([reload, exited(1, 2), ready(0, 3), ready(1, 4)], serving(2, 2));
  assert.deepEqual(did, ['reload-started g2', 'launch 0 #3 g2 reload', 'launch 1 #4 g2 reload', 'retire 0 #1', 'reload-done g2']);
});

test('a reload during a backoff starts that slot now, as part of the reload', () => {
  const { did } = run([exited(0, 1), reload], serving());
  assert.deepEqual(did, ['backoff 0 100', 'reload-started g2', 'cancel-backoff 0', 'launch 0 #3 g2 reload']);
});

test('over the memory limit: a replacement first, the old one retired once it is ready', () => {
  const { now, did } = run([overMemory(0, 1), overMemory(0, 1), ready(0, 3)], serving());
  assert.deepEqual(did, ['launch 0 #3 g2 memory', 'retire 0 #1']);
  assert.equal(now.slots[0]!.restarts, 1);
  assert.equal(servingCount(now), 2);
});

test('a memory replacement that fails leaves the old worker serving, and backs off', () => {
  const { now, did } = run([overMemory(0, 1), failed(0, 3)], serving());
  assert.deepEqual(did, ['launch 0 #3 g2 memory', 'backoff 0 100']);
  assert.equal(now.slots[0]!.current?.id, 1);
});

test('stop: new workers starting are abandoned, ready ones drain, and exit comes once the last process is gone', () => {
  const { now, did } = run([reload, ready(0, 3), { type: 'stop' }], serving());
  assert.deepEqual(did.slice(-2), ['abandon 1 #4', 'stop #3 #2']);
  const end = run([failed(1, 4), exited(0, 3), exited(0, 1), exited(1, 2)], now);
  assert.deepEqual(end.did, ['exit']);
});

test('stop with nothing running exits at once; a worker ready in the stop\'s turn drains too', () => {
  const empty = run([exited(0, 1), exited(1, 2), { type: 'stop' }], serving());
  assert.deepEqual(empty.did.slice(-4), ['cancel-backoff 0', 'cancel-backoff 1', 'stop ', 'exit']);
  const late = run([reload, { type: 'stop' }, ready(0, 3)], serving());
  assert.deepEqual(late.did.slice(-1), ['stop #3']);
});

test('a reload is refused once stopping', () => {
  const { did } = run([{ type: 'stop' }, reload], serving());
  assert.deepEqual(did.slice(-1), ['refuse: stopping']);
});
