// Every deadline of `grace run` is the workers' table's: it arms one by name,
// disarms it when what it waited for happened, and hears it come as an event.
// Each one here on a fake clock: it comes and does its work, it is disarmed
// and never comes, and a timer that comes after the state moved on (disarmed
// in the same turn) changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeadlineKey } from '../src/supervisor/core/deadlines.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import type { Settings } from '../src/supervisor/core/settings.ts';
import { step } from '../src/supervisor/core/step.ts';
import { initialTable, type WorkerTable } from '../src/supervisor/core/table.ts';
import { FakeClock } from './table-replay.ts';

type Clock = FakeClock<WorkerTable, WorkerEvent, WorkerAction, DeadlineKey>;
type Shell = (action: WorkerAction, now: number) => WorkerEvent[];

/** Each action the deadlines speak of, with the time it was done. */
function describe(a: WorkerAction, now: number): string | undefined {
  const words = (() => {
    switch (a.do) {
      case 'arm':
        return `arm ${a.key} ${a.ms}`;
      case 'disarm':
        return `disarm ${a.key}`;
      case 'launch':
        return `launch ${a.index} #${a.id} ${a.why}`;
      case 'time-out':
      case 'kill':
        return `${a.do} #${a.id} ${a.ms}`;
      case 'kill-all':
        return `kill-all ${a.ms} ${a.signal}`;
      case 'read-heartbeats':
      case 'sample-memory':
        return `${a.do} ${a.workers.map((w) => `#${w.id}`).join(' ')}`;
      case 'ping':
        return `ping #${a.id}`;
      case 'replace':
        return `replace #${a.id} ${a.why} ${a.why === 'memory' ? a.rss : a.silentMs}`;
      case 'stopping':
        return `stopping ${a.signal}${a.quiet ? ' quietly' : ''}`;
      case 'retire':
      case 'abandon':
        return `${a.do} #${a.id}`;
      case 'refill-spares':
      case 'drop-spares':
      case 'check-wrapper':
      case 'wrapper-gone':
      case 'forward':
      case 'exit':
        return a.do;
      default:
        return undefined;
    }
  })();
  return words && `${now} ${words}`;
}

function clock(workers: number, settings: Partial<Settings> = {}, shell?: Shell): Clock {
  return new FakeClock(initialTable(workers, settings.surge ?? 1, settings), step, (key) => ({ type: 'timer', key }), describe, shell);
}

/** `workers` serving: ids #1…#N, generation 1. */
function serving(workers: number, settings: Partial<Settings> = {}, shell?: Shell): Clock {
  const c = clock(workers, settings, shell).send({ type: 'start' });
  for (let i = 0; i < workers; i++) c.send({ type: 'ready', index: i, id: i + 1 });
  return c;
}

/** What the clock did from here on. */
function from(c: Clock): () => string[] {
  const start = c.did.length;
  return () => c.did.slice(start);
}

/** A timer for `key` now changes nothing: its deadline is not armed (disarmed, or fired already). */
function staleIsIgnored(c: Clock, key: DeadlineKey): void {
  const before = c.state;
  const did = from(c);
  c.send({ type: 'timer', key });
  assert.equal(c.state, before, `a late ${key} leaves the table as it was`);
  assert.deepEqual(did(), [], `a late ${key} does nothing`);
}

/** What the shell saw when the table asked, arriving after the state moved on: nothing changes. */
function lateAnswerIsIgnored(c: Clock, answer: WorkerEvent): void {
  const before = c.state;
  const did = from(c);
  c.send(answer);
  assert.deepEqual(c.state, before, `a late ${answer.type} leaves the table as it was`);
  assert.deepEqual(did(), [], `a late ${answer.type} does nothing`);
}

const exited = (index: number, id: number, code = 0): WorkerEvent => ({ type: 'exited', index, id, status: { code, signal: null }, ranMs: 1000 });
const failed = (index: number, id: number): WorkerEvent => ({ type: 'failed', index, id, reason: 'no' });

test('backoff: a slot left with nothing starts again when it comes; a reload disarms it; a late one is ignored', () => {
  const c = serving(2);
  const did = from(c);
  c.send(exited(1, 2, 1)).advance(99);
  assert.deepEqual(did(), ['0 arm backoff:1 100']);
  c.advance(1);
  assert.deepEqual(did().slice(1), ['100 launch 1 #3 crash', '100 arm ready:3 30000']);
  staleIsIgnored(c, 'backoff:1');

  const reloaded = serving(2);
  const then = from(reloaded);
  reloaded.send(exited(1, 2)).send({ type: 'reload' }).advance(10_000);
  assert.ok(then().includes('0 disarm backoff:1'), then().join('\n'));
  assert.ok(!then().some((d) => d.endsWith('crash')), 'the reload started the slot; the backoff never came');
  staleIsIgnored(reloaded, 'backoff:1');
});

test('ready: a start that says nothing within the ready timeout is given up; one that is ready disarms it; a late one is ignored', () => {
  const c = clock(1, { readyTimeout: 1000 }).send({ type: 'start' });
  const did = from(c);
  c.advance(1000);
  assert.deepEqual(did(), ['1000 time-out #1 1000']);
  // The launch gives up, is killed and reaped: a failed start like any other.
  c.send(failed(0, 1)).advance(100);
  assert.deepEqual(did().slice(1), ['1000 arm backoff:0 100', '1100 launch 0 #2 crash', '1100 arm ready:2 1000']);
  staleIsIgnored(c, 'ready:1');

  const ready = clock(1, { readyTimeout: 1000 }).send({ type: 'start' }).advance(999);
  const then = from(ready);
  ready.send({ type: 'ready', index: 0, id: 1 }).advance(60_000);
  assert.deepEqual(then(), ['999 disarm ready:1']);
  staleIsIgnored(ready, 'ready:1');

  // An abandoned start (a stop) does not time out either.
  const stopped = clock(1, { readyTimeout: 1000 }).send({ type: 'start' }).send({ type: 'stop' });
  assert.ok(stopped.did.includes('0 disarm ready:1'));
  assert.equal(stopped.armed()['ready:1'], undefined);
});

test('retire: a retired worker still running at the stop timeout is killed; one that exits disarms it; a late one is ignored', () => {
  const c = serving(1, { stopTimeout: 1500 });
  const did = from(c);
  c.send({ type: 'reload' }).send({ type: 'ready', index: 0, id: 2 }).advance(1500);
  assert.deepEqual(did().filter((d) => /retire|kill/.test(d)), ['0 retire #1', '0 arm retire:1 1500', '1500 kill #1 1500']);
  c.send(exited(0, 1));
  assert.deepEqual(c.state.slots[0]!.retiring, []);
  staleIsIgnored(c, 'retire:1');

  // Scaled away: the same deadline; exiting in time disarms it.
  const scaled = serving(2, { stopTimeout: 1500 });
  const then = from(scaled);
  scaled.send({ type: 'scale', workers: 1 }).advance(1000).send(exited(1, 2)).advance(10_000);
  assert.deepEqual(then().filter((d) => /retire|kill/.test(d)), ['0 retire #2', '0 arm retire:2 1500', '1000 disarm retire:2']);
  staleIsIgnored(scaled, 'retire:2');
});

test('stop: whatever is left at the stop delay plus the stop timeout is killed; the exit disarms it; a late one is ignored', () => {
  const c = serving(2, { stopTimeout: 1000, stopDelay: 500 });
  const did = from(c);
  c.send({ type: 'stop', signal: 'SIGINT' }).send({ type: 'stop', signal: 'SIGINT' }).advance(1500);
  assert.deepEqual(did().filter((d) => !d.includes('retire')), ['0 stopping SIGINT', '0 arm stop 1500', '0 forward', '1500 kill-all 1500 SIGINT']);
  c.send(exited(0, 1)).send(exited(1, 2));
  assert.deepEqual(did().slice(-1), ['1500 exit']);

  const clean = serving(1, { stopTimeout: 1000 });
  const then = from(clean);
  clean.send({ type: 'stop' }).send(exited(0, 1)).advance(5000);
  assert.deepEqual(then(), ['0 stopping SIGTERM', '0 arm stop 1000', '0 disarm stop', '0 exit']);
  staleIsIgnored(clean, 'stop');
});

test('watchdog: every MS/4 the pongs are read and judged; a worker silent for MS is replaced; a stop disarms it; a late tick and a late answer are ignored', () => {
  // Worker #1 answers every ping at once until 1000, then never again.
  let pongs = 0;
  const shell: Shell = (a, now) => {
    if (a.do === 'ping' && now < 1000) pongs++;
    return a.do === 'read-heartbeats' ? [{ type: 'heartbeats', at: now, workers: a.workers.map((w) => ({ ...w, pongs })) }] : [];
  };
  const c = serving(1, { watchdog: 1000 }, shell);
  const did = from(c);
  c.advance(2000);
  const replaced = did().filter((d) => /replace|launch/.test(d));
  // The last ping answered went at 750; the one sent at 1000 is the oldest unanswered, 1000 ms old at 2000.
  assert.deepEqual(replaced, ['2000 replace #1 watchdog 1000', '2000 launch 0 #2 watchdog']);
  assert.ok(did().includes('250 read-heartbeats #1') && did().includes('250 ping #1') && did().includes('2000 arm watchdog 250'));
  // Its replacement is starting: the silent one is judged again, and not replaced twice.
  c.advance(1000);
  assert.equal(did().filter((d) => d.includes('replace')).length, 1);

  const stopped = serving(1, { watchdog: 1000 }, shell);
  const then = from(stopped);
  stopped.send({ type: 'stop' }).advance(5000);
  assert.ok(then().includes('0 disarm watchdog'));
  assert.ok(!then().some((d) => d.includes('read-heartbeats')));
  staleIsIgnored(stopped, 'watchdog');
  // An answer that comes once stopping says nothing.
  lateAnswerIsIgnored(stopped, { type: 'heartbeats', at: 9000, workers: [{ index: 0, id: 1, pongs: 0 }] });
});

test('memory: each interval the ready workers are sampled; one over the limit is replaced; a stop disarms it; a late tick and a late answer are ignored', () => {
  const shell: Shell = (a) => (a.do === 'sample-memory' ? a.workers.filter((w) => w.id === 2).map((w) => ({ type: 'over-memory', ...w, rss: 300 })) : []);
  const c = serving(2, { maxMemory: 200, memoryInterval: 1000 }, shell);
  const did = from(c);
  c.advance(1000);
  assert.deepEqual(did(), ['1000 arm memory 1000', '1000 sample-memory #1 #2', '1000 replace #2 memory 300', '1000 launch 1 #3 memory', '1000 arm ready:3 30000']);
  c.advance(1000);
  assert.equal(did().filter((d) => d.includes('replace')).length, 1, 'not again while its replacement starts');
  // The replacement is ready: #2 is retired, and an answer about it that comes now says nothing.
  c.send({ type: 'ready', index: 1, id: 3 });
  lateAnswerIsIgnored(c, { type: 'over-memory', index: 1, id: 2, rss: 300 });

  const stopped = serving(1, { maxMemory: 200 }, shell);
  const then = from(stopped);
  stopped.send({ type: 'stop' }).advance(5000);
  assert.ok(then().includes('0 disarm memory') && !then().some((d) => d.includes('sample')));
  staleIsIgnored(stopped, 'memory');
});

test('refill: with --standby, spares are booted 100 ms after the starts are over, once for all of them; a start before it puts it off; a stop disarms it; a late one is ignored', () => {
  const c = clock(3, { standby: 2 });
  const did = from(c);
  c.send({ type: 'start' }).advance(1000);
  assert.deepEqual(did().filter((d) => /refill/.test(d)), [], 'not while the workers start');
  c.send({ type: 'ready', index: 0, id: 1 }).send({ type: 'ready', index: 1, id: 2 }).send({ type: 'ready', index: 2, id: 3 }).advance(100);
  assert.deepEqual(did().filter((d) => /refill/.test(d)), ['1000 arm refill 100', '1100 refill-spares']);
  staleIsIgnored(c, 'refill');
  assert.ok(!serving(1).send({ type: 'reload' }).did.some((d) => d.includes('refill')), 'no refill without --standby');

  // A storm of reloads: each one's end arms the refill, the next one's start disarms it; one refill after the last.
  const storm = serving(2, { standby: 2 });
  const then = from(storm);
  let id = 2;
  for (let i = 0; i < 3; i++) {
    storm.send({ type: 'reload' }).advance(50);
    storm.send({ type: 'ready', index: 0, id: ++id }).send({ type: 'ready', index: 1, id: ++id }).advance(50);
  }
  storm.advance(100);
  assert.deepEqual(then().filter((d) => /refill/.test(d)), ['0 disarm refill', '50 arm refill 100', '100 disarm refill', '150 arm refill 100', '200 disarm refill', '250 arm refill 100', '350 refill-spares']);
  staleIsIgnored(storm, 'refill');

  // Any start puts off a refill armed before it (a scale here); a slot waiting out its backoff is no start.
  const scaled = serving(2, { standby: 1 });
  const after = from(scaled.advance(50));
  scaled.send({ type: 'scale', workers: 3 }).advance(30);
  scaled.send({ type: 'ready', index: 2, id: 3 }).advance(100);
  scaled.send(exited(1, 2, 1)).advance(150);
  assert.deepEqual(after().filter((d) => /refill|launch/.test(d)), ['50 launch 2 #3 scale', '50 disarm refill', '80 arm refill 100', '180 refill-spares', '280 launch 1 #4 crash']);

  const stopped = serving(1, { standby: 2 });
  const was = from(stopped);
  stopped.send({ type: 'stop' }).advance(1000);
  assert.deepEqual(was().filter((d) => /refill|spares/.test(d)), ['0 disarm refill', '0 drop-spares']);
  staleIsIgnored(stopped, 'refill');
});

test('wrapper: it is looked at every 500 ms; gone, grace run stops as on SIGTERM; a stop disarms it; a late look is ignored', () => {
  let gone = false;
  const shell: Shell = (a) => (a.do === 'check-wrapper' && gone ? [{ type: 'wrapper-gone', why: 'npm pid 7 exited' }] : []);
  const c = serving(1, { followWrapper: true }, shell);
  const did = from(c);
  c.advance(1000);
  assert.deepEqual(did(), ['500 arm wrapper 500', '500 check-wrapper', '1000 arm wrapper 500', '1000 check-wrapper']);
  gone = true;
  c.advance(500);
  assert.deepEqual(did().slice(4, 8), ['1500 arm wrapper 500', '1500 check-wrapper', '1500 wrapper-gone', '1500 stopping SIGTERM quietly']);
  assert.ok(did().includes('1500 disarm wrapper'));
  staleIsIgnored(c, 'wrapper');
  // Gone again once stopping: the stop is under way (a wrapper's signal came first), nothing more.
  lateAnswerIsIgnored(c, { type: 'wrapper-gone', why: 'again' });
});

test('the exit leaves nothing armed', () => {
  const c = serving(2, { watchdog: 1000, maxMemory: 100, followWrapper: true, standby: 1 });
  c.send(exited(1, 2)).send({ type: 'stop' }).send(exited(0, 1));
  assert.deepEqual(c.state.armed, {});
  assert.deepEqual(c.armed(), {});
  assert.equal(c.did.at(-1), '0 exit');
});
