import { arm, disarm, isArmed } from './deadlines.js';
import type { WorkerAction } from './events.js';
import type { WorkerTable } from './table.js';

/*
 * `--standby K`: every launch takes a parked spare when one fits
 * (supervisor/spares.ts). The spares it took are booted again only once the
 * starts are over: no start in flight and no reload going on, then
 * REFILL_AFTER_MS more, so that the new workers take their first
 * connections before node boots beside them (a boot is ~100 ms of CPU, and
 * the supervisor's spawn() blocks its loop until the exec). A launch before
 * the refill comes puts it off to the end of those starts too: under a storm
 * of reloads the refills coalesce into one, after the last, which boots the
 * spares up to K.
 */

/** How long after the last start is over the spares are refilled, ms. */
export const REFILL_AFTER_MS = 100;

/** After every step: a launch owes a refill, armed once the starts are over (and disarmed while one goes on). */
export function refillWhenQuiet(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.settings.standby === 0 || t.phase === 'stopping') return;
  if (actions.some((a) => a.do === 'launch')) t.refillOwed = true;
  const starting = t.reload !== undefined || t.slots.some((s) => s.pending);
  if (starting) disarm(t, 'refill', actions);
  else if (t.refillOwed && !isArmed(t, 'refill')) arm(t, 'refill', REFILL_AFTER_MS, actions);
}

/** `refill` came: the spares are booted up to K. */
export function refillDue(t: WorkerTable, actions: WorkerAction[]): void {
  t.refillOwed = false;
  actions.push({ do: 'refill-spares' });
}
