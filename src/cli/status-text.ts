import { printable, shellQuote } from '../platform/printable.js';
import type { Reloads } from '../reporting/pid-file.js';
import type { StatusReport } from './status-command.js';

/*
 * `grace status` as text: the verdict's line, one row per process, what it
 * runs (command, cwd, env files, node, grace, uptime, the options in force,
 * the reloads), then the last worker failure. Every text from the pid file
 * goes through printable(): what was in the file is shown, never acted on.
 */

export function formatStatus(report: StatusReport, now = Date.now()): string {
  const head = `pid ${report.pid}: ${printable(report.state)}, generation ${report.generation}, ${report.serving} serving\n`;
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
  return `${head}${failure}${columns(rows)}${describe(report, now)}${lastFailure(report, now)}`;
}

/** What it runs, one fact a line, as `pm2 describe` shows it. */
function describe({ about }: StatusReport, now: number): string {
  if (!about) return '';
  const facts: Array<[string, string]> = [
    ['command', about.command.map((arg) => printable(shellQuote(arg))).join(' ')],
    ['cwd', printable(about.cwd)],
    ['env files', about.envFiles.length ? about.envFiles.map(printable).join(', ') : 'none'],
    ['node', `${printable(about.node.version)} (${printable(about.node.path)})`],
    ['grace', about.grace === undefined ? 'unknown' : printable(about.grace)],
    ['uptime', `${duration(about.uptimeMs)} (since ${isoTime(about.startedAt)})`],
  ];
  if (about.options) facts.push(['options', Object.entries(about.options).map(([name, value]) => `${kebab(name)} ${optionValue(value)}`).join(', ')]);
  if (about.reloads) facts.push(['reloads', reloads(about.reloads, now)]);
  return `\n${columns(facts)}`;
}

function reloads(r: Reloads, now: number): string {
  const counts = `${r.done} done, ${r.failed} failed, ${r.refused} refused`;
  const last = r.last;
  if (!last) return counts;
  const took = last.result === 'refused' ? '' : ` after ${duration(last.tookMs, true)}`;
  const generation = last.generation === undefined ? '' : ` (generation ${last.generation})`;
  return `${counts}; last: ${printable(last.result)} ${duration(Math.max(0, now - last.at))} ago${took}${generation}`;
}

function lastFailure({ lastFailure: f }: StatusReport, now: number): string {
  if (!f) return '';
  const lines = f.stderr.map((line) => `  | ${printable(line)}\n`).join('');
  return `last worker failure (${duration(Math.max(0, now - f.at))} ago): ${printable(f.message)}\n${lines}`;
}

/** Rows in columns two spaces apart, each line ending in a newline. */
function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** An argument as a shell would take it back: quoted when it holds anything but plain characters. */
function kebab(name: string): string {
  return printable(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
}

/** A setting's value as the table keeps it (durations in ms, sizes in bytes); on/off for a switch. */
function optionValue(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return printable(value.join(' '));
  return printable(typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value));
}

function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '?' : date.toISOString();
}

function duration(ms: number, fine = false): string {
  if (fine && ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
