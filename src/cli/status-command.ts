import { readRss } from '../platform/proc.js';
import type { About, PidFileState } from '../reporting/pid-file.js';
import { lookAtPidFile } from './trusted-pid-file.js';

/*
 * `grace status --pid-file F`: what the grace process in F runs, like
 * `pm2 ls` and `pm2 describe`, and a verdict for scripts and monitoring in
 * its exit status (LSB-style). It reads the pid file (trusted as `grace
 * reload` trusts it: a regular file, not writable by others, owned by the
 * uid the process runs as, naming the live process that wrote it), where
 * `grace run` keeps one entry per worker and what it runs, rewritten
 * atomically on every change; RSS and uptimes are read now, RSS from /proc
 * (Linux; elsewhere it shows as unknown). status-text.ts shows it.
 */

/**
 * `serving`: at least one worker serves (direct mode: the process named
 * lives, and so serves); `not-serving`: the supervisor runs, nothing serves
 * (starting, a crash loop); `not-running`: no pid file, or the process it
 * names is gone; `untrusted`: the pid file cannot be trusted.
 */
export type Verdict = 'serving' | 'not-serving' | 'not-running' | 'untrusted';

/** `grace status`'s exit status for each verdict. */
export const VERDICT_STATUS: Readonly<Record<Verdict, number>> = { serving: 0, 'not-serving': 1, 'not-running': 3, untrusted: 4 };

export interface StatusReport {
  verdict: 'serving' | 'not-serving';
  pid: number;
  state: PidFileState['state'];
  generation: number;
  /** How many processes serve (grace run: ready workers). */
  serving: number;
  /** Why the last reload failed, while the pid file says so. */
  message?: string;
  /** Under `grace run`: the last worker that failed to start or crashed, and its last lines of stderr. */
  lastFailure?: PidFileState['lastFailure'];
  workers: Array<{
    index: number;
    pid: number;
    generation: number;
    state: string;
    uptimeMs: number | null;
    rss: number | null;
    restarts: number;
  }>;
  /** What it runs (what the pid file's writer could tell), with its uptime now. */
  about?: About & { uptimeMs: number };
}

/** No process to describe: why, from the pid file at `pidFile`. */
export interface StatusRefusal {
  verdict: 'not-running' | 'untrusted';
  pidFile: string;
  message: string;
}

export function readStatus(pidFile: string, now = Date.now()): StatusReport | StatusRefusal {
  const look = lookAtPidFile(pidFile, 'read');
  if (look.verdict !== 'trusted') return { verdict: look.verdict === 'gone' ? 'not-running' : 'untrusted', pidFile, message: look.error.message };
  const { state } = look;
  const about = state.about && { ...state.about, uptimeMs: Math.max(0, now - state.about.startedAt) };
  // Direct mode (or an older grace run): one process, the one serving, up since it started.
  const entries = state.workers ?? [{ index: 0, pid: state.serving, generation: state.generation, state: 'serving' as const, startedAt: about?.startedAt ?? 0, restarts: 0 }];
  const serving = entries.filter((w) => w.state === 'serving' && w.pid > 0).length;
  return {
    verdict: serving > 0 ? 'serving' : 'not-serving',
    pid: state.pid,
    state: state.state,
    generation: state.generation,
    serving,
    ...(state.state === 'failed' && state.message ? { message: state.message } : {}),
    ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
    workers: entries.map((w) => ({
      index: w.index,
      pid: w.pid,
      generation: w.generation,
      state: w.state,
      uptimeMs: w.pid && w.startedAt ? Math.max(0, now - w.startedAt) : null,
      rss: (w.pid && readRss(w.pid)) || null,
      restarts: w.restarts,
    })),
    ...(about ? { about } : {}),
  };
}
