// Two policies of `grace run`, replayed against the workers' table on a fake
// clock: the crash-loop limit (--max-restarts N, --min-uptime MS: the count,
// its reset after a stable run, the edge at exactly MS, a reload's fresh
// count) and --watch (the debounce, one reload queued behind the one in
// flight, never one per change). Real processes: crash-loop.test.ts, watch.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExitStatus } from '../src/protocol/launcher.ts';
import type { DeadlineKey } from '../src/supervisor/core/deadlines.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import type { Settings } from '../src/supervisor/core/settings.ts';
import { step } from '../src/supervisor/core/step.ts';
import { initialTable, type WorkerTable } from '../src/supervisor/core/table.ts';
import { FakeClock } from './table-replay.ts';

type Clock = FakeClock<WorkerTable, WorkerEvent, WorkerAction, DeadlineKey>;

/** The actions these policies speak of, with the time each was done. */
function describe(a: WorkerAction, now: number): string | undefined {
  const words = (() => {
    switch (a.do) {
      case 'launch':
        return `launch ${a.index} #${a.id} g${a.generation} ${a.why}`;
      case 'arm':
      case 'disarm':
        return /^(backoff|stable|watch)/.test(a.key) ? `${a.do} ${a.key}${a.do === 'arm' ? ` ${a.ms}` : ''}` : undefined;
      case 'crash-loop':
        return `crash-loop ${a.index} ${a.restarts} restarts, status ${a.status}`;
      case 'files-changed':
        return `files-changed ${a.first}${a.others ? ' and others' : ''} ${a.count}${a.queued ? ' queued' : ''}`;
      case 'reload-started':
        return `reload-started g${a.generation} ${a.signal}`;
      case 'reload-done':
      case 'reload-failed':
        return `${a.do} g${a.generation}`;
      case 'stopping':
        return `stopping ${a.signal}${a.quiet ? ' quietly' : ''}`;
      case 'stop-workers':
        return `stop-workers ${a.ids.map((id) => `#${id}`).join(' ')}`;
      case 'exit':
        return `exit ${a.status}`;
      default:
        return undefined;
    }
  })();
  return words && `${now} ${words}`;
}

function clock(workers: number, settings: Partial<Settings> = {}): Clock {
  return new FakeClock<WorkerTable, WorkerEvent, WorkerAction, DeadlineKey>(initialTable(workers, 1, settings), step, (key) => ({ type: 'timer', key }), describe);
}

/** What the clock did from here on. */
function from(c: Clock): () => string[] {
  const start = c.did.length;
  return () => c.did.slice(start);
}

const failed = (index: number, id: number, status: ExitStatus = { code: 3, signal: null }): WorkerEvent => ({ type: 'failed', index, id, reason: 'exited before it was ready', status });
const exited = (index: number, id: number, code = 3): WorkerEvent => ({ type: 'exited', index, id, status: { code, signal: null }, ranMs: 0 });
const ready = (index: number, id: number): WorkerEvent => ({ type: 'ready', index, id });
const changed = (path: string): WorkerEvent => ({ type: 'changed', path });

/** Slot `index`'s start under way fails, then time runs to its next start (its backoff): that start's id. */
function failAgain(c: Clock, index: number): number {
  c.send(failed(index, c.state.slots[index]!.pending!.id)).advance(c.state.slots[index]!.backoff);
  return c.state.slots[index]!.pending?.id ?? 0;
}

test('--max-restarts 3: an app failing from its first start gets that start and 3 restarts (backoff 100, 200, 400), then grace run exits with its status', () => {
  const c = clock(1, { maxRestarts: 3 }).send({ type: 'start' });
  for (let i = 0; i < 3; i++) failAgain(c, 0);
  assert.equal(c.state.slots[0]!.unstable, 3);
  c.send(failed(0, 4));
  assert.deepEqual(c.did, [
    '0 launch 0 #1 g1 initial',
    '0 arm backoff:0 100',
    '100 launch 0 #2 g2 crash',
    '100 arm backoff:0 200',
    '300 launch 0 #3 g3 crash',
    '300 arm backoff:0 400',
    '700 launch 0 #4 g4 crash',
    '700 crash-loop 0 3 restarts, status 3',
    '700 stopping SIGTERM quietly',
    '700 stop-workers ',
    '700 exit 3',
  ]);
  // Killed by a signal: the shell's status; an exit with 0 before it was ready: 1.
  for (const [status, expected] of [[{ code: null, signal: 'SIGSEGV' as const }, 139], [{ code: 0, signal: null }, 1]] as const) {
    const d = clock(1, { maxRestarts: 1 }).send({ type: 'start' });
    d.send(failed(0, 1, status)).advance(100).send(failed(0, 2, status));
    assert.equal(d.did.at(-1), `100 exit ${expected}`);
  }
  // Unset: restarted forever, with the backoff as always.
  const forever = clock(1).send({ type: 'start' });
  for (let i = 0; i < 20; i++) failAgain(forever, 0);
  assert.ok(forever.state.slots[0]!.pending && !forever.did.some((d) => d.includes('crash-loop')));
  assert.equal(forever.state.slots[0]!.unstable, 0, 'nothing is counted without --max-restarts');
});

test('a crash-looping slot among others: the others drain as on SIGTERM, and the exit waits for them', () => {
  const c = clock(2, { maxRestarts: 2 }).send({ type: 'start' }).send(ready(0, 1));
  failAgain(c, 1);
  failAgain(c, 1);
  const did = from(c);
  c.send(failed(1, 4));
  assert.deepEqual(did(), ['300 crash-loop 1 2 restarts, status 3', '300 stopping SIGTERM quietly', '300 stop-workers #1']);
  c.send(exited(0, 1, 0));
  assert.deepEqual(did().slice(3), ['300 exit 3']);
});

test('a worker up --min-uptime starts its slot\'s count over; one that exits before (even 1 ms) counts, at exactly MS it was up', () => {
  // A crash after a long run is no crash loop: the restarts that follow are counted from 0.
  const c = clock(1, { maxRestarts: 2, minUptime: 1000 }).send({ type: 'start' }).send(ready(0, 1)).advance(60_000);
  c.send(exited(0, 1)).advance(100);
  assert.equal(c.state.slots[0]!.unstable, 1, 'the restart under way');
  // It is ready and stays up 1000 ms: the count starts over.
  c.send(ready(0, 2));
  assert.deepEqual(c.armed(), { 'stable:0': 61_100 });
  c.advance(1000);
  assert.equal(c.state.slots[0]!.unstable, 0);
  c.send(exited(0, 2)).advance(100).send(ready(0, 3));

  // Up 999 ms: an unstable start. Two restarts spent: the next early exit ends it.
  const early = (upMs: number) => {
    const d = clock(1, { maxRestarts: 2, minUptime: 1000 }).send({ type: 'start' });
    failAgain(d, 0);
    failAgain(d, 0);
    d.send(ready(0, 3)).advance(upMs).send(exited(0, 3));
    return d;
  };
  const before = early(999);
  assert.match(before.did.at(-1)!, /exit 3$/);
  assert.ok(before.did.includes('1299 crash-loop 0 2 restarts, status 3') && before.did.includes('1299 disarm stable:0'), before.did.join('\n'));
  // Up exactly 1000 ms: stable (the deadline came first), so it is restarted.
  const exactly = early(1000);
  assert.ok(!exactly.did.some((d) => d.includes('crash-loop')), exactly.did.join('\n'));
  assert.equal(exactly.did.at(-1), '1300 arm backoff:0 400');
  assert.equal(exactly.state.slots[0]!.unstable, 0);
  // --min-uptime 0: ready is up.
  const zero = clock(1, { maxRestarts: 1, minUptime: 0 }).send({ type: 'start' });
  failAgain(zero, 0);
  zero.send(ready(0, 2)).send(exited(0, 2)).advance(200);
  assert.ok(!zero.did.some((d) => d.includes('crash-loop')) && zero.state.slots[0]!.pending);
});

test('a reload\'s start, new code, starts the count over; a reload that fails while old code serves counts nothing', () => {
  const c = clock(1, { maxRestarts: 2 }).send({ type: 'start' });
  failAgain(c, 0);
  assert.equal(c.state.slots[0]!.unstable, 1);
  // The deploy: its start replaces the restart under way, fails too, and gets 2 restarts of its own.
  const replaced = c.state.slots[0]!.pending!.id;
  c.send({ type: 'reload' }).send(failed(0, replaced));
  assert.equal(c.state.slots[0]!.unstable, 0);
  failAgain(c, 0);
  failAgain(c, 0);
  assert.ok(!c.did.some((d) => d.includes('crash-loop')));
  c.send(failed(0, c.state.slots[0]!.pending!.id));
  assert.match(c.did.at(-1)!, /exit 3$/);

  const serving = clock(1, { maxRestarts: 1 }).send({ type: 'start' }).send(ready(0, 1));
  for (let id = 2; id < 6; id++) serving.send({ type: 'reload' }).send(failed(0, id));
  assert.equal(serving.did.filter((d) => d.includes('reload-failed')).length, 4);
  assert.ok(serving.state.slots[0]!.current && serving.state.phase === 'serving', 'the old code serves on');
});

test('--watch: a reload 200 ms after the last change, one for a burst; a change during a reload queues one more, not one per change', () => {
  const c = clock(2).send({ type: 'start' }).send(ready(0, 1)).send(ready(1, 2));
  const did = from(c);
  for (let i = 0; i < 20; i++) (i ? c.advance(10) : c).send(changed(`src/f${i}.ts`));
  c.advance(199);
  assert.ok(!did().some((d) => d.includes('reload')), 'not before 200 ms after the last change');
  c.advance(1);
  assert.deepEqual(
    did().filter((d) => !d.includes('arm watch')),
    ['390 files-changed src/f0.ts and others 20', '390 reload-started g2 watch', '390 launch 0 #3 g2 reload'],
  );
  // Five more changes while it rolls: one reload queued behind it.
  for (let i = 0; i < 5; i++) c.send(changed('src/late.ts'));
  c.advance(200).send(ready(0, 3)).send(ready(1, 4));
  assert.deepEqual(did().filter((d) => /files-changed|reload-/.test(d)).slice(2), ['590 files-changed src/late.ts 5 queued', '590 reload-done g2', '590 reload-started g3 watch']);
  // It fails (a syntax error saved): the old workers serve on, and a change after it reloads again.
  c.send(failed(0, 5));
  assert.ok(c.state.slots.every((s) => s.current?.generation === 2));
  c.send(changed('src/fixed.ts')).advance(200);
  assert.deepEqual(did().filter((d) => /reload-/.test(d)).slice(-2), ['590 reload-failed g3', '790 reload-started g4 watch']);
});

test('--watch: a stop disarms the debounce, changes once stopping do nothing, a late one is ignored', () => {
  const c = clock(1).send({ type: 'start' }).send(ready(0, 1)).send(changed('a.js')).send({ type: 'stop' });
  assert.ok(c.did.includes('0 disarm watch'));
  const did = from(c);
  c.send(changed('b.js')).send({ type: 'timer', key: 'watch' }).advance(1000);
  assert.deepEqual(did(), []);
});
