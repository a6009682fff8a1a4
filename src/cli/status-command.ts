import { readRss } from '../platform/proc.js';
import type { PidFileState } from '../reporting/pid-file.js';
import { printable } from '../platform/printable.js';
import { trustedPidFile } from './trusted-pid-file.js';

/*
 * `grace status --pid-file F`: what the grace process in F runs, like
 * `pm2 ls`. It reads the pid file (trusted as `grace reload` trusts it: a
 * regular file, not writable by others, owned by the uid the process runs
 * as, naming the live process that wrote it), where `grace run` keeps one
 * entry per worker, rewritten atomically on every change; RSS and uptime are
 * read now, RSS from /proc (Linux; elsewhere it shows as unknown).
 */

export interface StatusReport {
  pid: number;
  state: PidFileState['state'];
  generation: number;
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
}

export function readStatus(pidFile: string, now = Date.now()): StatusReport {
  const { state } = trustedPidFile(pidFile, 'read');
  // Direct mode (or an older grace run): one process, the one serving.
  const entries = state.workers ?? [{ index: 0, pid: state.serving, generation: state.generation, state: 'serving' as const, startedAt: 0, restarts: 0 }];
  return {
    pid: state.pid,
    state: state.state,
    generation: state.generation,
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
  };
}

export function formatStatus(report: StatusReport): string {
  const head = `pid ${report.pid}: ${printable(report.state)}, generation ${report.generation}, ${report.workers.filter((w) => w.state === 'serving').length} serving\n`;
  const failure = report.message ? `last reload failed: ${printable(report.message)}\n` : '';
  const rows = [
    ['worker', 'pid', 'generation', 'state', 'uptime', 'rss', 'restarts'],
    ...report.workers.map((w) => [
      w.index < 0 ? '-' : String(w.index),
      w.pid ? String(w.pid) : '-',
      w.generation ? String(w.generation) : '-',
      printable(w.state),
      w.uptimeMs === null ? '-' : duration(w.uptimeMs),
      w.rss === null ? '-' : `${(w.rss / 1024 ** 2).toFixed(1)} MiB`,
      String(w.restarts),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  return `${head}${failure}${table}\n${lastFailure(report)}`;
}

function lastFailure({ lastFailure: f }: StatusReport, now = Date.now()): string {
  if (!f) return '';
  const lines = f.stderr.map((line) => `  | ${printable(line)}\n`).join('');
  return `last worker failure (${duration(Math.max(0, now - f.at))} ago): ${printable(f.message)}\n${lines}`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
