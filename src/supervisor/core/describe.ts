import type { About, Reloads } from '../../reporting/pid-file.js';
import type { WorkerAction } from './events.js';
import { reloadSurge } from './reload.js';
import { activeSlots, type WorkerTable } from './table.js';

/*
 * What `grace status` describes of a `grace run` (what `pm2 describe`
 * shows): the facts of the supervisor's start, the settings the table runs
 * with, and the reloads it was asked for. The settings are listed as the
 * table has them, every one by its name, so a new setting is shown without
 * a line here. The reloads are a history the shell keeps by folding each
 * action of the table into it, with the time it was carried out: the table
 * itself keeps no clock.
 */

/**
 * What the supervisor knows of its own start (supervisor.ts): never an
 * environment value, env files by path; and the options its shell alone
 * carries out (`--timestamps`, `--watch`, which the table never sees).
 */
export type RunFacts = Omit<About, 'options' | 'reloads'> & { shellOptions?: Record<string, unknown> };

export const NO_RELOADS: Reloads = { done: 0, failed: 0, refused: 0 };

/** The reload history after `action`, carried out at `now` (ms since epoch). */
export function recordReload(r: Reloads, action: WorkerAction, now: number): Reloads {
  switch (action.do) {
    case 'reload-started':
      return { ...r, since: now };
    case 'reload-done':
      return ended(r, 'done', action.generation, now);
    case 'reload-failed':
      return ended(r, 'failed', action.generation, now);
    // Refused at once: a reload already in flight goes on (its `since` kept).
    case 'refuse-reload':
      return { ...r, refused: r.refused + 1, last: { result: 'refused', at: now, tookMs: 0 } };
    default:
      return r;
  }
}

function ended(r: Reloads, result: 'done' | 'failed', generation: number, now: number): Reloads {
  const at = r.since ?? now;
  return { done: r.done, failed: r.failed, refused: r.refused, [result]: r[result] + 1, last: { result, generation, at, tookMs: now - at } };
}

/** The pid file's `about`: the start's facts, `workers` as it is now and every setting that is set (the surge as it is in force), the reloads. */
export function aboutRun(t: WorkerTable, run: RunFacts, reloads: Reloads): About {
  const { shellOptions, ...facts } = run;
  const settings = Object.entries(t.settings)
    .map(([key, value]) => [key, key === 'surge' ? reloadSurge(t) : value] as const)
    .filter(([, value]) => value !== undefined);
  return { ...facts, options: { workers: activeSlots(t).length, ...Object.fromEntries(settings), ...shellOptions }, reloads };
}
