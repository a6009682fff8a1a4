import type { About, PidFileState, Reloads, WorkerFailure, WorkerStatus } from '../../reporting/pid-file.js';
import { aboutRun, NO_RELOADS, type RunFacts } from './describe.js';
import type { WorkerAction } from './events.js';
import { activeSlots, type WorkerTable } from './table.js';

/*
 * What `grace run` tells the outside world, as functions of the table and of
 * what only the processes know (pids, start times, the spares, the last
 * failure's stderr): the pid file (one entry per worker process; `grace
 * status` reads it, `grace reload` and `grace scale` follow it) and sd_notify
 * (READY=1 once all N are ready, RELOADING=1 / READY=1 around a reload).
 *
 * The pid file's `generation` is the highest the whole fleet has served at
 * once (`reached`): it grows when a reload has replaced every worker (or,
 * with one worker, when a crashed app's replacement serves), never when a
 * reload fails half-way, so `grace reload` cannot take a half-done reload
 * for success.
 */

/**
 * What the processes tell: each launch's pid and start (ms since epoch), the
 * spares, the last failure; the supervisor's own start and the reloads with
 * their times (describe.ts), for `grace status` to describe.
 */
export interface ProcessFacts {
  process(id: number): { pid: number; startedAt: number } | undefined;
  spares: Array<{ pid: number; parked: boolean; startedAt: number }>;
  lastFailure: WorkerFailure | undefined;
  run?: RunFacts;
  reloads?: Reloads;
}

export interface PidFileReport {
  state: PidFileState['state'];
  generation: number;
  /** The first slot's ready worker (0: none). */
  serving: number;
  extra: { message?: string; at?: number; workers: WorkerStatus[]; size: number; lastFailure?: WorkerFailure; about?: About };
}

/** The pid file, written on every change of the table from the first launch until a stop (then it says nothing new). */
export function pidFileReport(t: WorkerTable, facts: ProcessFacts): PidFileReport {
  // A failed reload is reported even with nothing serving: `grace reload` waits for it.
  const state = t.reload ? 'restarting' : t.failure ? 'failed' : t.slots.some((s) => s.current) ? 'serving' : 'starting';
  const first = t.slots[0]?.current;
  return {
    state,
    generation: t.reached,
    serving: (first && facts.process(first.id)?.pid) ?? 0,
    extra: {
      ...(state === 'failed' ? { message: t.failure!.message, at: t.failure!.at } : {}),
      workers: workerEntries(t, facts),
      size: activeSlots(t).length,
      ...(facts.lastFailure ? { lastFailure: facts.lastFailure } : {}),
      ...(facts.run ? { about: aboutRun(t, facts.run, facts.reloads ?? NO_RELOADS) } : {}),
    },
  };
}

function workerEntries(t: WorkerTable, facts: ProcessFacts): WorkerStatus[] {
  const out: WorkerStatus[] = [];
  for (const slot of t.slots) {
    const entries: Array<[WorkerStatus['state'], { id: number; generation: number } | undefined]> = [
      ['serving', slot.current],
      ['starting', slot.pending],
      ...slot.retiring.map((r): [WorkerStatus['state'], typeof r] => ['retiring', r]),
    ];
    for (const [state, ref] of entries) {
      const p = ref && facts.process(ref.id);
      if (!p) continue;
      out.push({ index: slot.index, pid: p.pid, generation: ref.generation, state, startedAt: p.startedAt, restarts: slot.restarts });
    }
    if (!slot.current && !slot.pending && !slot.leaving) out.push({ index: slot.index, pid: 0, generation: 0, state: 'down', startedAt: 0, restarts: slot.restarts });
  }
  for (const spare of facts.spares) {
    out.push({ index: -1, pid: spare.pid, generation: 0, state: spare.parked ? 'standby' : 'booting', startedAt: spare.startedAt, restarts: 0 });
  }
  return out;
}

/** What systemd hears after an action (once the pid file says it): READY=1 (with a STATUS=), RELOADING=1, STOPPING=1. */
export type SystemdNote = { say: 'ready'; status?: string } | { say: 'reloading' } | { say: 'stopping' };

export function systemdNote(action: WorkerAction, t: WorkerTable): SystemdNote | undefined {
  const status = `${activeSlots(t).length} worker(s), generation ${t.reached}`;
  switch (action.do) {
    case 'announce':
    case 'reload-done':
      return { say: 'ready', status };
    case 'reload-started':
      return { say: 'reloading' };
    // The reload is over: the old workers serve as before.
    case 'reload-failed':
      return { say: 'ready' };
    case 'refuse-reload':
      return action.kind === 'starting' ? { say: 'ready' } : undefined;
    case 'stopping':
      return { say: 'stopping' };
    default:
      return undefined;
  }
}
