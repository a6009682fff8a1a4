import { crashLoopOver, upEnded } from './crash-loop.js';
import { arm, backoffKey, disarm, readyKey, retireKey, waiting } from './deadlines.js';
import type { WorkerAction, WorkerEvent } from './events.js';
import { advanceReload, reloadFailed } from './reload.js';
import { stop } from './stop.js';
import type { Slot, WorkerTable } from './table.js';
import { launch } from './workers.js';

/*
 * A start that failed, a worker that exited, and the slot that is left: a
 * slot with nothing serving starts again, as part of a reload in flight
 * (within the surge) or after a backoff (100 ms doubling to 10 s per slot,
 * starting over after a stable run), unless its restarts are spent
 * (--max-restarts: crash-loop.ts). A start that says nothing within the
 * ready timeout is given up (`time-out`) and fails like any other.
 */

export const MIN_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 10_000;
/** A worker that stayed up this long had not been crash-looping: its backoff starts over. */
export const STABLE_AFTER_MS = 10_000;

export function failed(t: WorkerTable, s: Slot, event: Extract<WorkerEvent, { type: 'failed' }>, actions: WorkerAction[]): void {
  const { index, id, reason } = event;
  // A start a reload, a scale or a stop replaced, now reaped.
  const replaced = s.retiring.findIndex((r) => r.id === id);
  if (replaced >= 0) s.retiring.splice(replaced, 1);
  if (s.pending?.id !== id || t.phase === 'stopping') {
    if (s.pending?.id === id) s.pending = undefined;
    actions.push({ do: 'reaped', index, id, as: 'abandoned', reason });
    return;
  }
  const { why, generation } = s.pending;
  s.pending = undefined;
  disarm(t, readyKey(id), actions);
  actions.push({ do: 'reaped', index, id, as: 'failed-start', reason });
  // It is the slot's latest word (a start killed by a stop, above, says nothing about the app).
  if (!s.current) s.lastExit = { ...(event.status ?? { code: null, signal: null }), beforeReady: true };
  // A command that cannot even be started will not start on a retry either:
  // like a shell, exit at once. Only before any worker was ever ready: once
  // the app has run, its command going missing is a deploy in progress.
  if (event.cannotRun && why === 'initial' && !t.slots.some((other) => other.served)) {
    actions.push({ do: 'unrunnable', status: event.cannotRun.status, why: event.cannotRun.why });
    stop(t, 'SIGTERM', true, actions, event.cannotRun.status);
    return;
  }
  if (why === 'reload' && t.reload) reloadFailed(t, s, generation, reason, event.at ?? 0, actions);
  // A replacement that failed (the memory limit, the watchdog) leaves the old
  // worker serving, tried again after a backoff; a slot with nothing serving
  // starts again, as part of a reload in flight (within the surge) or after a backoff.
  if (!s.current) advanceReload(t, actions);
  // Nothing serves or starts here: the restarts --max-restarts allows may be spent.
  if (!s.current && !s.pending && crashLoopOver(t, s, actions)) return;
  if ((!s.current && !s.pending) || why === 'memory' || why === 'watchdog') backOff(t, s, false, actions);
}

export function exited(t: WorkerTable, s: Slot, event: Extract<WorkerEvent, { type: 'exited' }>, actions: WorkerAction[]): void {
  const { index, id, status } = event;
  const retired = s.retiring.findIndex((r) => r.id === id);
  if (retired >= 0) {
    s.retiring.splice(retired, 1);
    disarm(t, retireKey(id), actions);
  }
  const serving = s.current?.id === id;
  if (serving) {
    s.current = undefined;
    s.lastExit = status;
    upEnded(t, s, actions);
  }
  // Retired, or stopped: expected.
  if (!serving || t.phase === 'stopping') {
    actions.push({ do: 'reaped', index, id, as: 'exited', status });
    return;
  }
  // Its sockets stay with the supervisor, so connections wait in the accept queue.
  actions.push({ do: 'reaped', index, id, as: 'crashed', status });
  if (s.pending) return; // a replacement is starting here already
  // During a reload the slot takes the new generation at once, if the surge allows.
  advanceReload(t, actions);
  if (s.pending || crashLoopOver(t, s, actions)) return;
  backOff(t, s, event.ranMs > STABLE_AFTER_MS, actions);
}

/** The slot starts again after its backoff: 100 ms, doubling per failure to 10 s; from 100 ms after a stable run. */
export function backOff(t: WorkerTable, s: Slot, stable: boolean, actions: WorkerAction[]): void {
  if (waiting(t, s)) return;
  if (stable) s.backoff = 0;
  s.backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, s.backoff * 2));
  arm(t, backoffKey(s.index), s.backoff, actions);
}

/** `backoff:SLOT` came. */
export function backoffDue(t: WorkerTable, s: Slot | undefined, actions: WorkerAction[]): void {
  if (!s || s.leaving || t.phase === 'stopping' || s.pending) return;
  launch(t, s, ++t.generation, 'crash', actions);
}

/** `ready:ID` came: the start is given up; its `failed` follows once it is reaped. */
export function readyLate(t: WorkerTable, id: number, ms: number, actions: WorkerAction[]): void {
  const s = t.slots.find((slot) => slot.pending?.id === id);
  if (s) actions.push({ do: 'time-out', index: s.index, id, ms });
}
