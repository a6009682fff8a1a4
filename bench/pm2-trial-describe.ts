// Task 14 of the PM2 trial (bench/pm2-trial.ts): what `pm2 describe APP` and
// `grace status` say about what runs, read from their output after the
// trial's reloads (a failed one among them). Each item is looked for in the
// tool's own words (a row of PM2's table, a line of grace's): the command and
// its arguments, the working directory, the env files, node's version, the
// tool's version, the options in force (the same five on each side: workers,
// the stop and ready timeouts, a restart limit, watch; the tool's own extras,
// PM2's exec mode or grace's watchdog, not counted), the uptime, the reloads
// or restarts done, the last one's result.
import type { Outcome } from './pm2-trial-kit.ts';

interface Item {
  name: string;
  /** What the output shows for it, or undefined where it shows nothing. */
  found: string | undefined;
}

function outcome(items: Item[], options: Item[], extra: Record<string, unknown>): Outcome {
  const shown = items.filter((i) => i.found !== undefined);
  const missing = items.filter((i) => i.found === undefined);
  const opts = options.filter((o) => o.found !== undefined);
  return {
    cell: `${shown.length + (opts.length ? 1 : 0)} of ${items.length + 1}: ${shown.map((i) => `${i.name}${i.found ? ` (${i.found})` : ''}`).join(', ')}; options ${opts.length} of ${options.length} (${opts.map((o) => o.found).join(', ') || 'none'}${opts.length < options.length ? `; not ${options.filter((o) => o.found === undefined).map((o) => o.name).join(', ')}` : ''})${missing.length ? `; not shown: ${missing.map((i) => i.name).join(', ')}` : ''}`,
    items: Object.fromEntries(items.map((i) => [i.name, i.found ?? null])),
    options: Object.fromEntries(options.map((o) => [o.name, o.found ?? null])),
    ...extra,
  };
}

const first = (re: RegExp, text: string) => re.exec(text)?.[1]?.trim() || undefined;

/**
 * `pm2 describe APP` (its first process's table): started as `pm2 start app.mjs -i 2
 * --no-autorestart -- trial` from `cwd`, by PM2 `pm2Version`.
 */
export function describePm2(out: string, pm2Version: string, envFile: string): Outcome {
  const table = out.split(/Describing process with id/)[1] ?? '';
  const row = (label: string) => first(new RegExp(`│ ${label.replace(/[.&]/g, '\\$&')}\\s+│ (.*?)\\s*│`), table);
  const na = (v: string | undefined) => (v === undefined || v === 'N/A' || v === '' ? undefined : v);
  const items: Item[] = [
    { name: 'command', found: na(row('script path'))?.replace(/^.*\//, '…/') },
    { name: 'arguments', found: na(row('script args')) },
    { name: 'cwd', found: na(row('exec cwd')) && '' },
    { name: 'env files', found: out.includes(envFile) ? envFile : undefined },
    { name: 'node', found: na(row('node.js version')) },
    { name: 'the tool', found: pm2Version && out.includes(pm2Version) ? pm2Version : undefined },
    { name: 'uptime', found: na(row('uptime')) },
    { name: 'reloads/restarts', found: row('restarts') && `restarts ${row('restarts')}` },
    { name: 'the last result', found: first(/│ (last [^│]*?)\s*│/i, table) },
  ];
  const options: Item[] = [
    { name: 'workers', found: first(/│ (instances\s*│\s*\d+)/, table) },
    { name: 'stop timeout', found: first(/│ (kill.timeout\s*│[^│]*)/i, table) },
    { name: 'ready timeout', found: first(/│ (listen.timeout\s*│[^│]*)/i, table) },
    { name: 'restart limit', found: first(/│ ((?:max.restarts|min.uptime)\s*│[^│]*)/i, table) },
    { name: 'watch', found: row('watch & reload') && `watch & reload ${row('watch & reload')}` },
  ];
  return outcome(items, options, { output: table.split('\n').filter((l) => l.startsWith('│')).map((l) => l.replace(/\s+│\s*$/, '').replace(/│\s+/g, '│ ')) });
}

/** `grace status` under the trial's `grace run --workers 2 --env-file .env --watchdog 2000 --stop-timeout 5000 -- node app.mjs trial`. */
export function describeGrace(out: string, envFile: string): Outcome {
  const line = (label: string) => first(new RegExp(`^${label}\\s{2,}(.*)$`, 'm'), out);
  const optionsLine = line('options') ?? '';
  const option = (re: RegExp) => first(re, optionsLine);
  const reloads = line('reloads');
  const items: Item[] = [
    { name: 'command', found: line('command')?.replace(process.execPath, 'node').split(' ').slice(0, 2).join(' ') },
    { name: 'arguments', found: line('command')?.split(' ').slice(2).join(' ') || undefined },
    { name: 'cwd', found: line('cwd') && '' },
    { name: 'env files', found: line('env files')?.includes(envFile) ? line('env files') : undefined },
    { name: 'node', found: line('node')?.split(' ')[0] },
    { name: 'the tool', found: line('grace') && line('grace') !== 'unknown' ? `grace ${line('grace')}` : undefined },
    { name: 'uptime', found: line('uptime')?.split(' (')[0] },
    { name: 'reloads/restarts', found: reloads?.split(';')[0] },
    { name: 'the last result', found: first(/(last: \S+)/, reloads ?? '') },
  ];
  const options: Item[] = [
    { name: 'workers', found: option(/(workers \d+)/) },
    { name: 'stop timeout', found: option(/(stop-timeout \d+)/) },
    { name: 'ready timeout', found: option(/(ready-timeout \d+)/) },
    { name: 'restart limit', found: option(/((?:max-restarts|min-uptime) \d+)/) },
    { name: 'watch', found: option(/(watch [^,]+)/) },
  ];
  return outcome(items, options, { output: out.split('\n') });
}
