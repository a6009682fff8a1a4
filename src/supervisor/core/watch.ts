import { arm } from './deadlines.js';
import type { WorkerAction } from './events.js';
import { reloadRefusal, requestReload } from './reload.js';
import { WATCH_DEBOUNCE_MS } from './settings.js';
import type { WorkerTable } from './table.js';

/*
 * `grace run --watch`, for development: a file changed under the watched
 * directories (the shell's watcher, supervisor/watch.ts, says which) becomes
 * a rolling reload, so a save with a syntax error fails that reload and the
 * last good code serves on. A save is many changes (an editor's temp file
 * and rename, a build writing twenty files): each one arms `watch` anew, and
 * the reload starts WATCH_DEBOUNCE_MS after the last. Changes that settle
 * while a reload is in flight (or a replacement starts beside a serving
 * worker) queue one reload, not one per change, started in the step the one
 * in flight ends.
 */

/** A file changed: the debounce starts over. */
export function fileChanged(t: WorkerTable, path: string, actions: WorkerAction[]): void {
  if (t.phase === 'stopping') return;
  const { changed } = t.watch;
  const first = changed?.first ?? path;
  t.watch = { ...t.watch, changed: { first, others: (changed?.others ?? false) || path !== first, count: (changed?.count ?? 0) + 1 } };
  arm(t, 'watch', WATCH_DEBOUNCE_MS, actions);
}

/** `watch` came: the changes settled. A reload now, or once the one in flight is over. */
export function watchDue(t: WorkerTable, actions: WorkerAction[]): void {
  const { changed } = t.watch;
  if (!changed || t.phase === 'stopping') return;
  const refused = reloadRefusal(t);
  actions.push({ do: 'files-changed', ...changed, queued: refused !== undefined });
  t.watch = { changed: undefined, queued: refused !== undefined };
  if (!refused) requestReload(t, { type: 'reload', signal: 'watch' }, actions);
}

/** After every step: the reload the changes queued starts once nothing is in its way. */
export function startQueuedReload(t: WorkerTable, actions: WorkerAction[]): void {
  if (!t.watch.queued || t.phase === 'stopping' || reloadRefusal(t)) return;
  t.watch = { ...t.watch, queued: false };
  requestReload(t, { type: 'reload', signal: 'watch' }, actions);
}
