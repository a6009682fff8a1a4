import type { ExitStatus } from '../protocol/launcher.js';

/*
 * `grace run --workers N`: the workers' bookkeeping as one table and the one
 * function that moves it, as lifecycle.ts does for a generation. One slot per
 * worker index (0…N-1, stable across reloads): the launch serving there, the
 * launch starting there, the ones retiring from there, restarts and backoff.
 * Events (a launch ready, failed, exited; a reload; a memory sample over the
 * limit; a backoff timer; a stop) go through `step`, which returns the next
 * table and what to do. The pool (worker-pool.ts) owns the processes and the
 * timers and carries the actions out; nothing else changes the table, so the
 * races (a crash during a rolling reload, a stop while one starts) are tested
 * against the table directly.
 *
 * The invariant: an old worker is retired only in the step where its
 * replacement became ready, so while every slot is serving, N workers accept.
 */

/** Why a launch was started in its slot. */
export type StartReason = 'initial' | 'crash' | 'reload' | 'memory' | 'watchdog' | 'scale';

/**
 * The most workers `grace run` keeps (`--workers`, `--surge`, `grace scale`):
 * far more than any machine has cores, small enough that a typo (an extra
 * digit) is refused rather than forking thousands of processes.
 */
export const MAX_WORKERS = 1024;

/** One launched process, as the table knows it. */
export interface WorkerRef {
  /** Unique per launch (the pool maps it to the process). */
  id: number;
  generation: number;
}

export interface PendingRef extends WorkerRef {
  why: StartReason;
}

export interface Slot {
  index: number;
  /** Ready and accepting. */
  current: WorkerRef | undefined;
  /** Started, not ready yet (accepts nothing). */
  pending: PendingRef | undefined;
  /** Replaced, draining: they no longer count as serving. */
  retiring: WorkerRef[];
  /** A restart after a crash or a failed start is scheduled (backoff timer). */
  waiting: boolean;
  /** Starts after a crash, a failed start or a memory limit (not reloads). */
  restarts: number;
  /** The last backoff scheduled, ms; 0 after a stable run. */
  backoff: number;
  /** How the last worker here ended, serving or starting (for the exit status at a stop). */
  lastExit: (ExitStatus & { beforeReady?: boolean }) | undefined;
  /** A worker was ever ready here: a slot that never served makes the stop's status non-zero. */
  served: boolean;
  /** Scaled away (`grace scale`): its workers drain, and the slot goes once they are gone. */
  leaving: boolean;
}

export interface WorkerTable {
  phase: 'starting' | 'serving' | 'stopping';
  slots: Slot[];
  /** How many reload launches may be starting at once. */
  surge: number;
  /** The last generation number given out: every reload takes one for all its launches, every other start one of its own. */
  generation: number;
  /** The last launch id given out. */
  lastId: number;
  /** A rolling reload in flight, to this generation. */
  reload: { generation: number } | undefined;
}

export type WorkerEvent =
  | { type: 'start' }
  | { type: 'ready'; index: number; id: number }
  /** A launch that never became ready was reaped (it exited, missed its deadline, or was abandoned). */
  | { type: 'failed'; index: number; id: number; reason: string; status?: ExitStatus }
  /** A ready worker exited; `ranMs` is how long it had been up. */
  | { type: 'exited'; index: number; id: number; status: ExitStatus; ranMs: number }
  | { type: 'restart-due'; index: number }
  | { type: 'reload' }
  | { type: 'over-memory'; index: number; id: number }
  /** `--watchdog`: a ready worker's event loop has not answered a heartbeat in time (replaced as over-memory is). */
  | { type: 'hung'; index: number; id: number }
  /** `grace scale N`, SIGTTIN (one more), SIGTTOU (one fewer): 1…MAX_WORKERS, checked by the caller. */
  | { type: 'scale'; workers: number }
  | { type: 'stop' };

export type WorkerAction =
  | { do: 'launch'; index: number; id: number; generation: number; why: StartReason }
  | { do: 'retire'; index: number; id: number }
  | { do: 'abandon'; index: number; id: number; reason: string }
  | { do: 'schedule-restart'; index: number; delay: number }
  | { do: 'cancel-restart'; index: number }
  /** Every slot serves for the first time. */
  | { do: 'announce' }
  | { do: 'reload-started'; generation: number }
  | { do: 'reload-done'; generation: number }
  | { do: 'reload-failed'; generation: number; index: number; reason: string }
  /** `starting`: a worker is starting in some slot (after a crash, or for the memory limit). */
  | { do: 'refuse-reload'; kind: 'stopping' | 'in-progress' | 'starting'; why: string }
  | { do: 'scaled'; from: number; to: number }
  | { do: 'refuse-scale'; why: string }
  /** A stop: the ready workers drain (retiring ones are draining already). */
  | { do: 'stop-workers'; ids: number[] }
  /** Stopping and no process left. */
  | { do: 'exit' };

export const MIN_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 10_000;
/** A worker that stayed up this long had not been crash-looping: its backoff starts over. */
export const STABLE_AFTER_MS = 10_000;

export function initialTable(workers: number, surge: number): WorkerTable {
  return { phase: 'starting', slots: Array.from({ length: workers }, (_, index) => newSlot(index)), surge, generation: 0, lastId: 0, reload: undefined };
}

function newSlot(index: number): Slot {
  return { index, current: undefined, pending: undefined, retiring: [], waiting: false, restarts: 0, backoff: 0, lastExit: undefined, served: false, leaving: false };
}

/** The one place the table changes: the next table and what to do, in order. */
export function step(now: WorkerTable, event: WorkerEvent): { next: WorkerTable; actions: WorkerAction[] } {
  // Work on a copy: the caller's table is never touched.
  const t: WorkerTable = { ...now, slots: now.slots.map((s) => ({ ...s, retiring: [...s.retiring] })), reload: now.reload && { ...now.reload } };
  const actions: WorkerAction[] = [];
  const slot = 'index' in event ? t.slots[event.index] : undefined;
  if ('index' in event && !slot) return { next: now, actions };

  switch (event.type) {
    case 'start': {
      if (t.phase !== 'starting' || t.generation !== 0) break;
      t.generation = 1;
      for (const s of t.slots) launch(t, s, 1, 'initial', actions);
      break;
    }

    case 'ready': {
      const s = slot!;
      if (s.pending?.id !== event.id) {
        // Abandoned in the turn it said ready (a scale down, a reload): too late to kill, so it drains.
        if (s.retiring.some((r) => r.id === event.id)) actions.push({ do: 'retire', index: s.index, id: event.id });
        break;
      }
      const old = s.current;
      s.current = { id: s.pending.id, generation: s.pending.generation };
      s.pending = undefined;
      s.served = true;
      if (t.phase === 'stopping') {
        // Ready in the turn a stop began (too late to abandon): it drains with the rest.
        actions.push({ do: 'stop-workers', ids: [s.current.id] });
        break;
      }
      if (old) {
        s.retiring.push(old);
        actions.push({ do: 'retire', index: s.index, id: old.id });
      }
      announceOnce(t, actions);
      advanceReload(t, actions);
      break;
    }

    case 'failed': {
      const s = slot!;
      // A start a reload replaced (below), now reaped.
      const replaced = s.retiring.findIndex((r) => r.id === event.id);
      if (replaced >= 0) s.retiring.splice(replaced, 1);
      if (s.pending?.id !== event.id) break;
      const { why, generation } = s.pending;
      s.pending = undefined;
      // Killed by a stop, it says nothing about the app; else it is the slot's latest word.
      if (t.phase === 'stopping') break;
      if (!s.current) s.lastExit = { ...(event.status ?? { code: null, signal: null }), beforeReady: true };
      if (why === 'reload' && t.reload) {
        // The reload ends here: the old workers keep serving, the other new ones
        // still starting go (they never accepted), those already ready stay.
        const failed = t.reload.generation;
        t.reload = undefined;
        for (const other of t.slots) {
          if (other.pending?.why === 'reload') {
            actions.push({ do: 'abandon', index: other.index, id: other.pending.id, reason: `the reload to generation ${failed} failed (worker ${s.index})` });
          }
        }
        actions.push({ do: 'reload-failed', generation, index: s.index, reason: event.reason });
      }
      // A memory replacement that failed leaves the old worker serving, tried
      // again after a backoff; a slot with nothing serving starts again, as
      // part of a reload in flight (within the surge) or after a backoff.
      if (!s.current) advanceReload(t, actions);
      if ((!s.current && !s.pending) || why === 'memory' || why === 'watchdog') scheduleRestart(s, false, actions);
      break;
    }

    case 'exited': {
      const s = slot!;
      const retired = s.retiring.findIndex((r) => r.id === event.id);
      if (retired >= 0) s.retiring.splice(retired, 1);
      else if (s.current?.id === event.id) {
        s.current = undefined;
        s.lastExit = event.status;
        if (t.phase !== 'stopping' && !s.pending) {
          // During a reload the slot takes the new generation at once, if the surge allows.
          advanceReload(t, actions);
          if (!s.pending) scheduleRestart(s, event.ranMs > STABLE_AFTER_MS, actions);
        }
      }
      break;
    }

    case 'restart-due': {
      const s = slot!;
      if (!s.waiting || s.leaving) break;
      s.waiting = false;
      if (t.phase === 'stopping' || s.pending) break;
      launch(t, s, ++t.generation, 'crash', actions);
      break;
    }

    case 'reload': {
      if (t.phase === 'stopping') {
        actions.push({ do: 'refuse-reload', kind: 'stopping', why: 'stopping' });
        break;
      }
      if (t.reload) {
        actions.push({ do: 'refuse-reload', kind: 'in-progress', why: `a reload to generation ${t.reload.generation} is in progress` });
        break;
      }
      // A replacement starting beside a serving worker (the memory limit) finishes first.
      const replacing = t.slots.find((s) => s.pending && s.current);
      if (replacing) {
        actions.push({ do: 'refuse-reload', kind: 'starting', why: `worker ${replacing.index} (generation ${replacing.pending!.generation}) is still starting` });
        break;
      }
      const generation = (t.reload = { generation: ++t.generation }).generation;
      actions.push({ do: 'reload-started', generation });
      for (const s of t.slots) {
        // A slot waiting out a backoff starts now, as part of the reload.
        if (s.waiting) {
          s.waiting = false;
          actions.push({ do: 'cancel-restart', index: s.index });
        }
        // Nothing serves here, and what is starting (at start-up, or after a
        // crash: a crash loop) may be the code the operator just fixed: the
        // reload's start replaces it. It never accepted, so killing it resets
        // nobody; it counts as retiring until it is reaped.
        if (!s.current && s.pending && s.pending.why !== 'reload') {
          actions.push({ do: 'abandon', index: s.index, id: s.pending.id, reason: `replaced by the reload to generation ${generation}` });
          s.retiring.push({ id: s.pending.id, generation: s.pending.generation });
          s.pending = undefined;
        }
      }
      advanceReload(t, actions);
      break;
    }

    case 'over-memory':
    case 'hung': {
      const s = slot!;
      if (t.phase === 'stopping' || t.reload || s.pending || s.waiting || s.current?.id !== event.id) break;
      launch(t, s, ++t.generation, event.type === 'hung' ? 'watchdog' : 'memory', actions);
      break;
    }

    case 'scale':
      scale(t, event.workers, actions);
      break;

    case 'stop': {
      if (t.phase === 'stopping') break;
      t.phase = 'stopping';
      t.reload = undefined;
      const ids: number[] = [];
      for (const s of t.slots) {
        if (s.waiting) {
          s.waiting = false;
          actions.push({ do: 'cancel-restart', index: s.index });
        }
        if (s.pending) actions.push({ do: 'abandon', index: s.index, id: s.pending.id, reason: 'stopping before it was ready' });
        if (s.current) ids.push(s.current.id);
      }
      actions.push({ do: 'stop-workers', ids });
      break;
    }
  }

  // A slot scaled away goes once its last worker has (the leaving slots are the last ones).
  while (t.slots.at(-1)?.leaving && isEmpty(t.slots.at(-1)!)) t.slots.pop();
  // Once, in the step where the last process of a stop is gone.
  if (t.phase === 'stopping' && t.slots.every(isEmpty) && !(now.phase === 'stopping' && now.slots.every(isEmpty))) {
    actions.push({ do: 'exit' });
  }
  return { next: t, actions };
}

function isEmpty(s: Slot): boolean {
  return !s.current && !s.pending && s.retiring.length === 0;
}

function launch(t: WorkerTable, s: Slot, generation: number, why: StartReason, actions: WorkerAction[]): void {
  const id = ++t.lastId;
  s.pending = { id, generation, why };
  if (why === 'crash' || why === 'memory' || why === 'watchdog') s.restarts += 1;
  actions.push({ do: 'launch', index: s.index, id, generation, why });
}

function scheduleRestart(s: Slot, stable: boolean, actions: WorkerAction[]): void {
  if (s.waiting) return;
  if (stable) s.backoff = 0;
  s.backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, s.backoff * 2));
  s.waiting = true;
  actions.push({ do: 'schedule-restart', index: s.index, delay: s.backoff });
}

function inFlight(t: WorkerTable): number {
  return t.slots.filter((s) => s.pending?.why === 'reload').length;
}

/** Starts reload launches up to the surge; the reload is done once every slot serves its generation. */
function advanceReload(t: WorkerTable, actions: WorkerAction[]): void {
  const reload = t.reload;
  if (!reload) return;
  // Slots with nothing serving first: a start there adds a worker, one elsewhere only swaps one.
  const active = activeSlots(t);
  const order = [...active.filter((s) => !s.current), ...active.filter((s) => s.current)];
  for (const s of order) {
    if (inFlight(t) >= t.surge) break;
    const behind = (s.current?.generation ?? 0) < reload.generation;
    if (behind && !s.pending && !s.waiting) launch(t, s, reload.generation, 'reload', actions);
  }
  if (active.every((s) => (s.current?.generation ?? 0) >= reload.generation)) {
    t.reload = undefined;
    actions.push({ do: 'reload-done', generation: reload.generation });
  }
}

/** The generation every serving worker has reached (the oldest code still serving); 0 while a slot has none. */
export function fleetGeneration(t: WorkerTable): number {
  return Math.min(...activeSlots(t).map((s) => s.current?.generation ?? 0));
}

/** The slots kept (not scaled away): 0…N-1. */
export function activeSlots(t: WorkerTable): Slot[] {
  return t.slots.filter((s) => !s.leaving);
}

/** Starting: once every slot kept has a ready worker, the fleet is announced, once. */
function announceOnce(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.phase === 'starting' && activeSlots(t).every((s) => s.current)) {
    t.phase = 'serving';
    actions.push({ do: 'announce' });
  }
}

/**
 * To `workers` slots: new ones launch at once (the latest code, a generation
 * of their own); the highest ones above it leave: what serves there is
 * retired (it drains, killed only at the stop timeout), what starts there is
 * abandoned (it never accepted), a backoff is cancelled. A slot scaled away
 * and back before its worker left is taken up again.
 */
function scale(t: WorkerTable, workers: number, actions: WorkerAction[]): void {
  const from = activeSlots(t).length;
  if (t.phase === 'stopping') {
    actions.push({ do: 'refuse-scale', why: 'stopping' });
    return;
  }
  if (workers === from) return;
  for (let index = Math.min(from, workers); index < Math.max(from, workers); index++) {
    if (workers > from) {
      const s = t.slots[index] ?? t.slots[t.slots.push(newSlot(index)) - 1]!;
      s.leaving = false; // a leaving slot has nothing pending (abandoned as it left)
      launch(t, s, ++t.generation, 'scale', actions);
      continue;
    }
    const s = t.slots[index]!;
    s.leaving = true;
    if (s.waiting) {
      s.waiting = false;
      actions.push({ do: 'cancel-restart', index });
    }
    if (s.pending) {
      actions.push({ do: 'abandon', index, id: s.pending.id, reason: `worker ${index} was scaled away` });
      s.retiring.push({ id: s.pending.id, generation: s.pending.generation });
      s.pending = undefined;
    }
    if (s.current) {
      actions.push({ do: 'retire', index, id: s.current.id });
      s.retiring.push(s.current);
      s.current = undefined;
    }
  }
  actions.push({ do: 'scaled', from, to: workers });
  announceOnce(t, actions);
  // A reload in flight goes on over the slots kept (and may be done now).
  advanceReload(t, actions);
}
