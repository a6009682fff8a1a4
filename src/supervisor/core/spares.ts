import { arm, isArmed } from './deadlines.js';
import type { WorkerAction } from './events.js';
import type { WorkerTable } from './table.js';

/*
 * `--standby K`: every launch takes a parked spare when one fits
 * (supervisor/spares.ts); the spares are refilled up to K in a later turn
 * than the launches that took them, so those spawns go first, and once for
 * all the launches of one step (a reload's surge, a start of N).
 */

/** After a step that launched: arm the refill, unless it is armed already. */
export function refillAfterLaunches(t: WorkerTable, actions: WorkerAction[]): void {
  if (t.settings.standby === 0 || t.phase === 'stopping' || isArmed(t, 'refill')) return;
  if (actions.some((a) => a.do === 'launch')) arm(t, 'refill', 0, actions);
}

/** `refill` came. */
export function refillDue(actions: WorkerAction[]): void {
  actions.push({ do: 'refill-spares' });
}
