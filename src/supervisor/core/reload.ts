import { backoffKey, disarm, waiting } from './deadlines.js';
import type { WorkerAction, WorkerEvent } from './events.js';
import { DEFAULTS } from './settings.js';
import { activeSlots, type Slot, type WorkerTable } from './table.js';
import { abandon, launch } from './workers.js';

/*
 * A rolling reload: a new generation for every slot, `--surge` launches
 * starting at a time (by default one, or with `--standby K` as many as
 * there are spares to release: min(K, workers)), slots with nothing serving
 * first; each old worker is retired in the step its replacement is ready
 * (step.ts), so N workers accept throughout. A failed launch
 * ends the reload: the new workers already ready stay (the command that
 * would start the old code is the same command), the others starting are
 * abandoned, the old ones keep serving.
 */

export function requestReload(t: WorkerTable, event: Extract<WorkerEvent, { type: 'reload' }>, actions: WorkerAction[]): void {
  const signal = event.signal ?? 'SIGUSR2';
  const refused = reloadRefusal(t);
  if (refused) {
    actions.push({ do: 'refuse-reload', ...refused, signal });
    // Written to the pid file as a failure, so `grace reload` hears it at once.
    if (refused.kind === 'starting') t.failure = { message: `reload refused: ${refused.why}`, at: event.at ?? 0 };
    return;
  }
  const generation = (t.reload = { generation: ++t.generation, spares: event.spares }).generation;
  t.failure = undefined;
  actions.push({ do: 'reload-started', generation, signal });
  for (const s of t.slots) {
    // A slot waiting out a backoff starts now, as part of the reload.
    disarm(t, backoffKey(s.index), actions);
    // Nothing serves here, and what is starting (at start-up, or after a
    // crash: a crash loop) may be the code the operator just fixed: the
    // reload's start replaces it.
    if (!s.current && s.pending && s.pending.why !== 'reload') abandon(t, s, `replaced by the reload to generation ${generation}`, actions);
  }
  advanceReload(t, actions);
}

/** Why a reload cannot start now, if it cannot. */
export function reloadRefusal(t: WorkerTable): { kind: 'stopping' | 'in-progress' | 'starting'; why: string } | undefined {
  if (t.phase === 'stopping') return { kind: 'stopping', why: 'stopping' };
  if (t.reload) return { kind: 'in-progress', why: `a reload to generation ${t.reload.generation} is in progress` };
  // A replacement starting beside a serving worker (the memory limit, the watchdog) finishes first.
  const replacing = t.slots.find((s) => s.pending && s.current);
  if (replacing) return { kind: 'starting', why: `worker ${replacing.index} (generation ${replacing.pending!.generation}) is still starting` };
  return undefined;
}

/** Starts reload launches up to the surge; the reload is done once every slot serves its generation. */
export function advanceReload(t: WorkerTable, actions: WorkerAction[]): void {
  const reload = t.reload;
  if (!reload) return;
  // Slots with nothing serving first: a start there adds a worker, one elsewhere only swaps one.
  const active = activeSlots(t);
  const order = [...active.filter((s) => !s.current), ...active.filter((s) => s.current)];
  for (const s of order) {
    if (inFlight(t) >= reloadSurge(t)) break;
    const behind = (s.current?.generation ?? 0) < reload.generation;
    if (behind && !s.pending && !waiting(t, s)) launch(t, s, reload.generation, 'reload', actions);
  }
  if (active.every((s) => (s.current?.generation ?? 0) >= reload.generation)) {
    t.reload = undefined;
    actions.push({ do: 'reload-done', generation: reload.generation });
  }
}

/**
 * The reload's launch in `s` failed: the reload ends here. The other new
 * workers still starting go (they never accepted; each is reaped as a failed
 * start of its own), those already ready stay.
 */
export function reloadFailed(t: WorkerTable, s: Slot, generation: number, reason: string, at: number, actions: WorkerAction[]): void {
  const failed = t.reload!.generation;
  t.reload = undefined;
  for (const other of t.slots) {
    if (other.pending?.why === 'reload') {
      actions.push({ do: 'abandon', index: other.index, id: other.pending.id, reason: `the reload to generation ${failed} failed (worker ${s.index})` });
    }
  }
  actions.push({ do: 'reload-failed', generation, index: s.index, reason });
  const message = activeSlots(t).length === 1 ? reason : `worker ${s.index} failed: ${reason}; the reload to generation ${generation} was abandoned`;
  t.failure = { message, at };
}

/**
 * How many reload launches may start at once: `--surge`, or, not given, one
 * per spare to release (min(--standby, workers)): the spares are booted
 * already, so starting them together costs no more CPU than one by one, and
 * each old worker still leaves only once its replacement is ready. Where the
 * reload came with fewer spares there (unfit, or not refilled yet after the
 * last reload), that many: cold starts go one at a time as without spares.
 */
export function reloadSurge(t: WorkerTable): number {
  const spares = Math.min(t.settings.standby, t.reload?.spares ?? t.settings.standby);
  return t.settings.surge ?? Math.max(DEFAULTS.surge, Math.min(spares, activeSlots(t).length));
}

function inFlight(t: WorkerTable): number {
  return t.slots.filter((s) => s.pending?.why === 'reload').length;
}
