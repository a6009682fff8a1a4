// `grace run --watchdog MS` judges a worker by its oldest unanswered ping,
// with its channel read to its end first: a loop blocked for most of MS
// is never taken for a hang, one blocked past it is. The rule through the
// workers' table on a fake clock (every tick, read and check placed by the
// test), then real processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeadlineKey } from '../src/supervisor/core/deadlines.ts';
import type { WorkerAction, WorkerEvent } from '../src/supervisor/core/events.ts';
import { step } from '../src/supervisor/core/step.ts';
import { initialTable, type WorkerTable } from '../src/supervisor/core/table.ts';
import { FakeClock } from './table-replay.ts';
import { CLI, get, startFixture, waitForExit } from './helpers.ts';

const MS = 1000;
const EVERY = MS / 4;

/**
 * One worker under the watchdog, in the workers' table on a fake clock.
 * `answer(sentAt)` says when the worker's pong for a ping sent then is in the
 * supervisor's socket (the channel keeps order: never before the previous
 * one's). Each tick is the table's `watchdog` deadline coming at `at`; the
 * shell reads every pong that arrived by then (`readNow`) before the table
 * judges. Returns each replacement for a hang.
 */
function simulate(ticks: number[], answer: (sentAt: number) => number): Array<{ at: number; silentMs: number }> {
  const pongsAt: number[] = [];
  const hung: Array<{ at: number; silentMs: number }> = [];
  const shell = (action: WorkerAction, now: number): WorkerEvent[] => {
    if (action.do === 'arm' && action.key === 'watchdog') assert.equal(action.ms, EVERY);
    if (action.do === 'ping') pongsAt.push(Math.max(answer(now), pongsAt.at(-1) ?? 0));
    if (action.do === 'replace' && action.why === 'watchdog') hung.push({ at: now, silentMs: action.silentMs });
    // What has arrived by now is read, whichever phase the tick runs in.
    if (action.do === 'read-heartbeats') return [{ type: 'heartbeats', at: now, workers: action.workers.map((w) => ({ ...w, pongs: pongsAt.filter((t) => t <= now).length })) }];
    return [];
  };
  const clock = new FakeClock<WorkerTable, WorkerEvent, WorkerAction, DeadlineKey>(initialTable(1, 1, { watchdog: MS }), step, (key) => ({ type: 'timer', key }), () => undefined, shell);
  clock.send({ type: 'start' }).send({ type: 'ready', index: 0, id: 1 });
  for (const at of ticks) clock.fireAt('watchdog', at);
  return hung;
}

/** Ticks every EVERY ms for `count` ticks, each `late` ms late (a busy machine). */
const ticks = (count: number, late = 0) => Array.from({ length: count }, (_, i) => (i + 1) * EVERY + late);

test('watchdog rule: a loop blocked for 80% of MS, starting just before a ping, is never hung, even with every tick late', () => {
  // Prompt answers, except from 999 to 1799: the ping sent at 1000 is answered at 1799.
  const blocked = (sentAt: number) => (sentAt >= 999 && sentAt < 1799 ? 1799 : sentAt + 1);
  for (const late of [0, 3, 9]) assert.deepEqual(simulate(ticks(40, late), blocked), [], `ticks ${late} ms late`);
});

test('watchdog rule: a pong that arrived before the tick is read before the check', () => {
  // Every ping answered 999 ms after it was sent; ticks 5 ms late, so at each
  // check the newest pong arrived in the last few ms, unread when the timer ran.
  assert.deepEqual(simulate(ticks(40, 5), (sentAt) => sentAt + 999), []);
});

test('watchdog rule: only a ping unanswered for MS is hung, and its age is the silence reported', () => {
  // Answers stop for good from 2000: the ping sent at 2000 is the oldest unanswered.
  const stops = (sentAt: number) => (sentAt < 2000 ? sentAt + 1 : Infinity);
  const hung = simulate(ticks(16), stops);
  assert.deepEqual(hung[0], { at: 3000, silentMs: MS });
  assert.ok(hung.every((h) => h.at >= 3000));
});

test('watchdog rule: a late tick (the supervisor itself was stopped) counts silence from that tick', () => {
  // The whole machine stalled from 1000 to 6000: nobody answered, nobody ticked.
  const stalled = (sentAt: number) => (sentAt < 1000 ? sentAt + 1 : Math.max(sentAt, 6000) + 50);
  const late = [...ticks(4), 6000, ...ticks(12).map((t) => 6000 + t)];
  assert.deepEqual(simulate(late, stalled), []);
});

const APP = new URL('./fixtures/ops-app.ts', import.meta.url).pathname;
const node = process.execPath;

test('--watchdog 1000: a worker blocking its loop for 800 ms, again and again, is never replaced; one blocking for 3 s is', { timeout: 60_000 }, async (t) => {
  const args = ['--import', 'tsx', CLI, 'run', '--listen', '127.0.0.1:0', '--watchdog', String(MS), '--', node, '--import', 'tsx', APP];
  const app = startFixture(t, {}, {}, { file: node, args });
  const first = await app.ready();
  const port = first.port as number;
  // Each block follows 480 ms idle (a pong or two), and starts 30 ms later
  // than the last between two pings (800 + 480 = 5 × 250 + 30): eight of them
  // cross the 250 ms between pings, so some start just before a ping, whose
  // answer comes 800 ms later, over 1000 ms after the pong before it. (Judged
  // by the time since the last answer, that was a hang in 4 runs of 5.)
  for (let i = 0; i < 8; i++) assert.equal((await get({ port }, '/block/800?after=480')).json.pid, first.pid);
  assert.doesNotMatch(app.log, /has not answered the watchdog/);
  const blocked = get({ port }, '/block/3000');
  await app.waitForLog(new RegExp(`app pid ${first.pid} has not answered the watchdog for \\d+ ms \\(--watchdog ${MS}\\): replacing it`));
  const next = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid);
  assert.equal((await blocked).json.pid, first.pid, 'the blocked request is still answered: the old worker is retired, not killed');
  await waitForExit(first.pid);
  assert.equal((await get({ port }, '/')).json.pid, next.pid);
  app.proc.kill('SIGTERM');
  const { code } = await app.closed();
  assert.equal(code, 0, app.log);
  assert.equal(app.log.match(/has not answered the watchdog/g)?.length, 1, app.log);
});
