import { backoffKey, disarm } from './deadlines.js';
import type { WorkerAction } from './events.js';
import { advanceReload } from './reload.js';
import { activeSlots, newSlot, type WorkerTable } from './table.js';
import { abandon, announceOnce, launch, retire } from './workers.js';

/*
 * `grace scale N`, SIGTTIN, SIGTTOU: to `workers` slots. New ones launch at
 * once (the latest code, a generation of their own); the highest ones above
 * it leave: what serves there is retired (it drains, killed only at the stop
 * timeout), what starts there is abandoned (it never accepted), a backoff is
 * disarmed. A slot scaled away and back before its worker left is taken up
 * again. A reload in flight goes on over the slots kept.
 */
export function scale(t: WorkerTable, workers: number, actions: WorkerAction[]): void {
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
    disarm(t, backoffKey(index), actions);
    if (s.pending) abandon(t, s, `worker ${index} was scaled away`, actions);
    if (s.current) {
      retire(t, s, s.current, actions);
      s.current = undefined;
    }
  }
  actions.push({ do: 'scaled', from, to: workers });
  announceOnce(t, actions);
  // A reload in flight goes on over the slots kept (and may be done now).
  advanceReload(t, actions);
}
