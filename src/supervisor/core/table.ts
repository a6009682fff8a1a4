import type { ExitStatus } from '../../protocol/launcher.js';
import type { DeadlineKey } from './deadlines.js';
import { noHeartbeats, type Heartbeats } from './heartbeats.js';
import { withDefaults, type Settings } from './settings.js';

/*
 * `grace run --workers N`: the workers' bookkeeping as one table, as
 * lifecycle.ts keeps a generation's. One slot per worker index (0…N-1, stable
 * across reloads): the launch serving there, the launch starting there, the
 * ones retiring from there, restarts and backoff. Every event goes through
 * `step` (step.ts), which returns the next table and what to do; the shell
 * (supervisor.ts, worker-pool.ts) carries the actions out and turns what the
 * processes do into events. Time is one of those events: the table arms its
 * own deadlines (deadlines.ts), so the races (a crash during a rolling
 * reload, a stop while one starts, a timer that fires after the state moved
 * on) are tested against the table alone.
 *
 * The invariant: an old worker is retired only in the step where its
 * replacement became ready, so while every slot is serving, N workers accept.
 */

/** Why a launch was started in its slot. */
export type StartReason = 'initial' | 'crash' | 'reload' | 'memory' | 'watchdog' | 'scale';

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
  /** Replaced, draining, or abandoned and not reaped yet: they no longer count as serving. */
  retiring: WorkerRef[];
  /** Starts after a crash, a failed start, the memory limit or the watchdog (not reloads). */
  restarts: number;
  /** The last backoff armed, ms; 0 after a stable run. */
  backoff: number;
  /**
   * With --max-restarts: restarts here since a worker was last up --min-uptime
   * (each ended too soon, but the one under way); a reload's start, new code, starts it over (crash-loop.ts).
   */
  unstable: number;
  /** How the last worker here ended, serving or starting (for the exit status at a stop). */
  lastExit: (ExitStatus & { beforeReady?: boolean }) | undefined;
  /** A worker was ever ready here: a slot that never served makes the stop's status non-zero. */
  served: boolean;
  /** Scaled away (`grace scale`): its workers drain, and the slot goes once they are gone. */
  leaving: boolean;
}

/**
 * `--watch` (watch.ts): the changes since the last reload it started (how
 * many, the first file's path, whether other files changed too); a reload
 * queued behind the one in flight.
 */
export interface Watching {
  changed: { first: string; others: boolean; count: number } | undefined;
  queued: boolean;
}

export const notWatching: Watching = { changed: undefined, queued: false };

export interface WorkerTable {
  phase: 'starting' | 'serving' | 'stopping';
  slots: Slot[];
  settings: Settings;
  /** The last generation number given out: every reload takes one for all its launches, every other start one of its own. */
  generation: number;
  /** The last launch id given out. */
  lastId: number;
  /** A rolling reload in flight, to this generation. */
  /** `spares`: those there were to release as it started (reload.ts `reloadSurge`). */
  reload: { generation: number; spares?: number } | undefined;
  /** The deadlines armed now, each with its length in ms: a timer for one not here is stale. */
  armed: Partial<Record<DeadlineKey, number>>;
  /** Once stopping: the signal the workers were given, and the exit status when the stop decided it (a command that cannot run). */
  stop: { signal: NodeJS.Signals; status?: number } | undefined;
  /** Why the last reload failed or was refused (ms since epoch): the pid file says `failed` until the next reload. */
  failure: { message: string; at: number } | undefined;
  /** The highest generation the whole fleet has served at once: the pid file's `generation`. */
  reached: number;
  /** `--watchdog`: the pings each ready worker has not answered yet (heartbeats.ts). */
  heartbeats: Heartbeats;
  /** `--standby`: a launch may have taken a spare since the spares were last refilled (spares.ts). */
  refillOwed: boolean;
  /** `--watch`: the changes not reloaded yet, and a reload waiting for the one in flight (watch.ts). */
  watch: Watching;
}

export function initialTable(workers: number, surge: number | undefined, settings: Partial<Settings> = {}): WorkerTable {
  return {
    phase: 'starting',
    slots: Array.from({ length: workers }, (_, index) => newSlot(index)),
    settings: withDefaults({ ...settings, surge }),
    generation: 0,
    lastId: 0,
    reload: undefined,
    armed: {},
    stop: undefined,
    failure: undefined,
    reached: 0,
    heartbeats: noHeartbeats,
    refillOwed: false,
    watch: notWatching,
  };
}

export function newSlot(index: number): Slot {
  return { index, current: undefined, pending: undefined, retiring: [], restarts: 0, backoff: 0, unstable: 0, lastExit: undefined, served: false, leaving: false };
}

/** A copy to change: the caller's table is never touched (heartbeats and watch are replaced whole, never changed). */
export function copyTable(t: WorkerTable): WorkerTable {
  return { ...t, slots: t.slots.map((s) => ({ ...s, retiring: [...s.retiring] })), reload: t.reload && { ...t.reload }, armed: { ...t.armed }, stop: t.stop && { ...t.stop } };
}

/** The slots kept (not scaled away): 0…N-1. */
export function activeSlots(t: WorkerTable): Slot[] {
  return t.slots.filter((s) => !s.leaving);
}

/** The generation every serving worker has reached (the oldest code still serving); 0 while a slot has none. */
export function fleetGeneration(t: WorkerTable): number {
  return Math.min(...activeSlots(t).map((s) => s.current?.generation ?? 0));
}

/** The ready worker of each slot. */
export function serving(t: WorkerTable): Array<{ index: number; id: number }> {
  return t.slots.flatMap((s) => (s.current ? [{ index: s.index, id: s.current.id }] : []));
}

export function isEmpty(s: Slot): boolean {
  return !s.current && !s.pending && s.retiring.length === 0;
}
