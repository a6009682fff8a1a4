import { countStart } from './crash-loop.js';
import { arm, disarm, readyKey, retireKey } from './deadlines.js';
import type { WorkerAction } from './events.js';
import { activeSlots, type Slot, type StartReason, type WorkerRef, type WorkerTable } from './table.js';

/*
 * What every concern does to a worker, each with its deadline: a launch arms
 * its ready deadline, a retirement its kill, an abandoned start stops
 * waiting for its word. Also the fleet's first announcement.
 */

export function launch(t: WorkerTable, s: Slot, generation: number, why: StartReason, actions: WorkerAction[]): void {
  const id = ++t.lastId;
  s.pending = { id, generation, why };
  if (why === 'crash' || why === 'memory' || why === 'watchdog') s.restarts += 1;
  countStart(t, s, why);
  actions.push({ do: 'launch', index: s.index, id, generation, why });
  arm(t, readyKey(id), t.settings.readyTimeout, actions);
}

/** A ready worker goes: it drains, and is killed if it has not exited by the stop timeout. */
export function retire(t: WorkerTable, s: Slot, worker: WorkerRef, actions: WorkerAction[]): void {
  if (!s.retiring.some((r) => r.id === worker.id)) s.retiring.push(worker);
  actions.push({ do: 'retire', index: s.index, id: worker.id });
  arm(t, retireKey(worker.id), t.settings.stopTimeout, actions);
}

/**
 * The start in `s` is killed (it never accepted, so that resets nobody). It
 * counts as retiring until it is reaped, so its `failed` is no failure of
 * the slot; a word of "ready" it said in the same turn retires it.
 */
export function abandon(t: WorkerTable, s: Slot, reason: string, actions: WorkerAction[]): void {
  const { id, generation } = s.pending!;
  actions.push({ do: 'abandon', index: s.index, id, reason });
  disarm(t, readyKey(id), actions);
  s.retiring.push({ id, generation });
  s.pending = undefined;
}

/** Starting: once every slot kept has a ready worker, the fleet is announced, once. */
export function announceOnce(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.phase === 'starting' && activeSlots(t).every((s) => s.current)) {
    t.phase = 'serving';
    actions.push({ do: 'announce' });
  }
}
