import { arm, waiting } from './deadlines.js';
import type { WorkerAction, WorkerEvent } from './events.js';
import { judge, pingEvery } from './heartbeats.js';
import { serving, type WorkerTable } from './table.js';
import { launch } from './workers.js';

/*
 * A ready worker that is unwell is replaced gracefully: a new one starts in
 * its slot, and it is retired once that one is ready. Two ways to tell, each
 * on a tick the table arms: `--max-memory` samples every ready worker's RSS
 * (`sample-memory`; the shell answers `over-memory` for each one over the
 * limit), `--watchdog` reads every ready worker's pongs and judges them
 * (`read-heartbeats`, answered by `heartbeats`; the rule is heartbeats.ts).
 * Neither replaces during a reload, while the slot has a worker starting or
 * waits out a backoff, or once stopping.
 */

/** At the start: the ticks that are asked for. */
export function watchHealth(t: WorkerTable, actions: WorkerAction[]): void {
  const { watchdog, maxMemory, memoryInterval } = t.settings;
  if (watchdog !== undefined) arm(t, 'watchdog', pingEvery(watchdog), actions);
  if (maxMemory !== undefined) arm(t, 'memory', memoryInterval, actions);
}

export function watchdogTick(t: WorkerTable, actions: WorkerAction[]): void {
  arm(t, 'watchdog', pingEvery(t.settings.watchdog!), actions);
  actions.push({ do: 'read-heartbeats', workers: serving(t) });
}

export function memoryTick(t: WorkerTable, actions: WorkerAction[]): void {
  arm(t, 'memory', t.settings.memoryInterval, actions);
  actions.push({ do: 'sample-memory', workers: serving(t), limit: t.settings.maxMemory! });
}

export function heartbeats(t: WorkerTable, event: Extract<WorkerEvent, { type: 'heartbeats' }>, actions: WorkerAction[]): void {
  if (t.settings.watchdog === undefined || t.phase === 'stopping') return;
  const verdict = judge(t.heartbeats, event.at, t.settings.watchdog, event.workers);
  t.heartbeats = verdict.next;
  for (const { id, silentMs } of verdict.hung) {
    const index = event.workers.find((w) => w.id === id)!.index;
    replace(t, { do: 'replace', index, id, why: 'watchdog', silentMs }, actions);
  }
  for (const id of verdict.ping) actions.push({ do: 'ping', id });
}

export function overMemory(t: WorkerTable, event: Extract<WorkerEvent, { type: 'over-memory' }>, actions: WorkerAction[]): void {
  replace(t, { do: 'replace', index: event.index, id: event.id, why: 'memory', rss: event.rss }, actions);
}

function replace(t: WorkerTable, replacing: Extract<WorkerAction, { do: 'replace' }>, actions: WorkerAction[]): void {
  const s = t.slots[replacing.index];
  if (!s || t.phase === 'stopping' || t.reload || s.pending || waiting(t, s) || s.current?.id !== replacing.id) return;
  actions.push(replacing);
  launch(t, s, ++t.generation, replacing.why, actions);
}
