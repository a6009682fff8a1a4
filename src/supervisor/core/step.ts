import { backoffDue, exited, failed, readyLate } from './crash.js';
import { stableDue, upSince } from './crash-loop.js';
import { disarm, disarmAll, parseKey, readyKey, type DeadlineKey } from './deadlines.js';
import type { WorkerAction, WorkerEvent } from './events.js';
import { heartbeats, memoryTick, overMemory, watchdogTick, watchHealth } from './health.js';
import { advanceReload, requestReload } from './reload.js';
import { scale } from './scale.js';
import { refillDue, refillWhenQuiet } from './spares.js';
import { exitAction, followWrapper, retireLate, stop, stopLate, wrapperGone, wrapperTick } from './stop.js';
import { copyTable, fleetGeneration, isEmpty, type Slot, type WorkerTable } from './table.js';
import { fileChanged, startQueuedReload, watchDue } from './watch.js';
import { announceOnce, launch, retire } from './workers.js';

/*
 * The one place the workers' table changes: each event to the concern it
 * belongs to (a start, a worker ready; crash.ts, reload.ts, scale.ts,
 * stop.ts, health.ts, crash-loop.ts, watch.ts; a deadline to whoever armed
 * it), then what holds after any step: a slot scaled away goes once empty, a
 * reload --watch queued starts once nothing is in its way, the generation
 * the fleet reached, the spares' refill once the starts are over, and the
 * exit once the last process of a stop is gone.
 */

/** The next table and what to do, in order. The caller's table is never touched. */
export function step(now: WorkerTable, event: WorkerEvent): { next: WorkerTable; actions: WorkerAction[] } {
  const actions: WorkerAction[] = [];
  if ('index' in event && !now.slots[event.index]) return { next: now, actions };
  // A timer whose deadline is not armed any more came after the state moved on: it says nothing.
  const ms = event.type === 'timer' ? now.armed[event.key] : undefined;
  if (event.type === 'timer' && ms === undefined) return { next: now, actions };
  const t = copyTable(now);
  if (event.type === 'timer') {
    delete t.armed[event.key];
    timer(t, event.key, ms!, actions);
  } else {
    on(t, event, actions);
  }
  settle(now, t, actions);
  return { next: t, actions };
}

function on(t: WorkerTable, event: Exclude<WorkerEvent, { type: 'timer' }>, actions: WorkerAction[]): void {
  switch (event.type) {
    case 'start':
      return start(t, actions);
    case 'ready':
      return ready(t, t.slots[event.index]!, event.id, actions);
    case 'failed':
      return failed(t, t.slots[event.index]!, event, actions);
    case 'exited':
      return exited(t, t.slots[event.index]!, event, actions);
    case 'reload':
      return requestReload(t, event, actions);
    case 'scale':
      return scale(t, event.workers, actions);
    case 'stop':
      return stop(t, event.signal ?? 'SIGTERM', false, actions);
    case 'over-memory':
      return overMemory(t, event, actions);
    case 'heartbeats':
      return heartbeats(t, event, actions);
    case 'wrapper-gone':
      return wrapperGone(t, event.why, actions);
    case 'changed':
      return fileChanged(t, event.path, actions);
  }
}

/** A deadline came, `ms` after it was armed: to the concern that armed it. */
function timer(t: WorkerTable, key: DeadlineKey, ms: number, actions: WorkerAction[]): void {
  const { name, n } = parseKey(key);
  switch (name) {
    case 'backoff':
      return backoffDue(t, t.slots[n], actions);
    case 'ready':
      return readyLate(t, n, ms, actions);
    case 'retire':
      return retireLate(t, n, ms, actions);
    case 'stop':
      return stopLate(t, ms, actions);
    case 'watchdog':
      return watchdogTick(t, actions);
    case 'memory':
      return memoryTick(t, actions);
    case 'wrapper':
      return wrapperTick(t, actions);
    case 'refill':
      return refillDue(t, actions);
    case 'stable':
      return stableDue(t.slots[n]);
    case 'watch':
      return watchDue(t, actions);
  }
}

function start(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.phase !== 'starting' || t.generation !== 0) return;
  t.generation = 1;
  for (const s of t.slots) launch(t, s, 1, 'initial', actions);
  watchHealth(t, actions);
  followWrapper(t, actions);
}

/** The start in `s` said "ready": it serves, and the worker it replaces is retired in this same step. */
function ready(t: WorkerTable, s: Slot, id: number, actions: WorkerAction[]): void {
  if (s.pending?.id !== id) {
    // Abandoned in the turn it said ready (a scale down, a reload): too late to kill, so it drains.
    const abandoned = s.retiring.find((r) => r.id === id);
    if (abandoned) retire(t, s, abandoned, actions);
    return;
  }
  disarm(t, readyKey(id), actions);
  const old = s.current;
  s.current = { id, generation: s.pending.generation };
  s.pending = undefined;
  s.served = true;
  if (t.phase === 'stopping') {
    // Ready in the turn a stop began (too late to abandon): it drains with the rest.
    actions.push({ do: 'stop-workers', ids: [id], signal: t.stop!.signal });
    return;
  }
  if (old) retire(t, s, old, actions);
  upSince(t, s, actions);
  announceOnce(t, actions);
  advanceReload(t, actions);
}

function settle(before: WorkerTable, t: WorkerTable, actions: WorkerAction[]): void {
  // A slot scaled away goes once its last worker has (the leaving slots are the last ones).
  while (t.slots.at(-1)?.leaving && isEmpty(t.slots.at(-1)!)) t.slots.pop();
  startQueuedReload(t, actions);
  t.reached = Math.max(t.reached, fleetGeneration(t));
  refillWhenQuiet(t, actions);
  // Once, in the step where the last process of a stop is gone.
  if (t.phase === 'stopping' && t.slots.every(isEmpty) && !(before.phase === 'stopping' && before.slots.every(isEmpty))) {
    disarmAll(t, actions);
    actions.push(exitAction(t));
  }
}
