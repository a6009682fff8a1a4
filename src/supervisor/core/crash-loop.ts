import { arm, disarm, stableKey } from './deadlines.js';
import type { WorkerAction } from './events.js';
import { shellStatus, stop } from './stop.js';
import type { Slot, StartReason, WorkerTable } from './table.js';

/*
 * The crash-loop policy, `--max-restarts N` with `--min-uptime MS`: a slot
 * restarted N times in a row (each after a crash or a failed start, with
 * nothing serving there), none of them up MS, ends `grace run`: the other
 * workers drain as on SIGTERM, and it exits with the app's status, so that
 * systemd's `Restart=` and `StartLimitBurst=` decide what comes next. Unset,
 * a slot is restarted forever, with its backoff (crash.ts).
 *
 * "Up" is from ready, measured by the table's own deadline `stable:SLOT`:
 * armed when a worker is ready in a slot with restarts counted, it starts
 * the count over when it comes; a worker that exits first leaves the count
 * as it was (at exactly MS, the deadline has come: up). The first start is
 * no restart, so an app failing from the start gets the first start and N
 * restarts (backoffs 100, 200, 400 ms for N = 3). A reload's start runs
 * code just deployed: the count starts over there, so a deploy that fixes
 * a crash loop gets its own N tries, and a reload that fails while old code
 * serves counts nothing (nothing crash-loops: the slot serves).
 */

/** A launch in `s`: a restart where nothing serves counts; a reload's start (new code) starts the count over. */
export function countStart(t: WorkerTable, s: Slot, why: StartReason): void {
  if (t.settings.maxRestarts === undefined) return;
  if (why === 'reload') s.unstable = 0;
  else if (why === 'crash' && !s.current) s.unstable += 1;
}

/** A worker is ready in `s`: once it has been up --min-uptime, the slot's count starts over. */
export function upSince(t: WorkerTable, s: Slot, actions: WorkerAction[]): void {
  if (s.unstable === 0) return;
  if (t.settings.minUptime === 0) s.unstable = 0;
  else arm(t, stableKey(s.index), t.settings.minUptime, actions);
}

/** The ready worker in `s` crashed: it was not up long enough, if `stable:SLOT` had not come. */
export function upEnded(t: WorkerTable, s: Slot, actions: WorkerAction[]): void {
  disarm(t, stableKey(s.index), actions);
}

/** `stable:SLOT` came. */
export function stableDue(s: Slot | undefined): void {
  if (s) s.unstable = 0;
}

/**
 * `s` is left with nothing serving or starting: when its N restarts are
 * spent, grace run stops (true) with the app's status (shell convention; 1
 * where it was 0 or there was none); else the caller backs off.
 */
export function crashLoopOver(t: WorkerTable, s: Slot, actions: WorkerAction[]): boolean {
  const max = t.settings.maxRestarts;
  if (max === undefined || s.unstable < max) return false;
  const status = shellStatus(s.lastExit ?? { code: null, signal: null }) || 1;
  actions.push({ do: 'crash-loop', index: s.index, restarts: s.unstable, status });
  stop(t, 'SIGTERM', true, actions, status);
  return true;
}
