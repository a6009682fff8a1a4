#!/usr/bin/env node
// The `grace` command: `grace reload` for deploy scripts, `grace run` for
// supervisor mode (a stable pid for systemd, Docker and Kubernetes; N
// workers), `grace stop` to stop and wait, `grace status` to see what it
// runs, `grace scale` to change how many workers it runs.
import { availableParallelism } from 'node:os';
import { checkDurationSum } from './platform/duration.js';
import { GraceError } from './platform/errors.js';
import { resolveLogger, timestamped } from './platform/logger.js';
import { canReadRss, parseBytes } from './supervisor/memory-limit.js';
import { nonUtf8Warning } from './platform/non-utf8.js';
import { asUsageError, count, milliseconds, parseFlags, pidFileOf, timeout } from './cli/flags.js';
import { RUN_FLAGS, RUN_USAGE } from './cli/run-flags.js';
import { flagOptions } from './cli/usage.js';
import { reload } from './cli/reload.js';
import { scale } from './cli/scale-command.js';
import { stop } from './cli/stop.js';
import { printableJson, printableLines } from './platform/printable.js';
import { readStatus, VERDICT_STATUS } from './cli/status-command.js';
import { formatStatus } from './cli/status-text.js';
import { graceVersion } from './platform/package-version.js';
import { watchDirs } from './supervisor/watch.js';
import { checkWatchdog, DEFAULTS, MAX_RESTARTS, MAX_STANDBY, MAX_WORKERS } from './supervisor/core/settings.js';
import { launchedBy } from './generation/launched-by.js';
import { readProcess } from './platform/proc.js';
import type { Wrapper } from './supervisor/follow-wrapper.js';

const RELOAD_USAGE = `
  grace reload --pid-file FILE [--timeout MS]
      Send SIGUSR2 to the grace process in FILE and wait until a new generation
      serves and the old one has exited. Exit 0 on success, 1 (saying why) if
      the new generation failed or timed out; the old one then still serves.
      Under a supervisor, a failed worker's last lines of stderr follow.
`;

const STOP_USAGE = `
  grace stop --pid-file FILE [--timeout MS]
      Send SIGTERM to the grace process in FILE and wait until it and, under
      grace run, every worker has exited (default --timeout 90000). Exit 0
      once all are gone; 1 if some still run at the timeout (naming their pids)
      or the pid file cannot be trusted.
`;

const STATUS_USAGE = `
  grace status --pid-file FILE [--json]
      Show what the grace process in FILE runs: under grace run, each worker's
      slot, pid, generation, state, uptime, RSS (Linux) and restarts; the
      command, cwd, env files, node, grace, uptime, the options in force and
      the reloads; the last worker that failed or crashed, with its last lines
      of stderr. Exit 0 while a worker serves, 1 while nothing serves (starting,
      a crash loop), 3 when nothing runs (no pid file, or its process is
      gone), 4 when the pid file cannot be trusted. --json: the same as JSON,
      with the verdict.
`;

const SCALE_USAGE = `
  grace scale N --pid-file FILE [--timeout MS]
      Tell the grace run supervisor in FILE to keep N workers (1 to 1024):
      new ones start at once, the highest slots above N drain and exit (as
      SIGTTIN / SIGTTOU to the supervisor add or remove one). Exit 0 once N
      serve and the others have exited; 1 (saying why) on a timeout.
`;

const ENVIRONMENT = `
  GRACE_PID_FILE=FILE stands in for --pid-file FILE in every command (the flag
  wins; an empty one is refused).
`;

const USAGE = `usage:${RELOAD_USAGE}${RUN_USAGE}${STOP_USAGE}${STATUS_USAGE}${SCALE_USAGE}
  grace --help, grace COMMAND --help
  grace --version
${ENVIRONMENT}`;

const COMMANDS: Record<string, { usage: string; run: (args: string[]) => Promise<number> }> = {
  reload: { usage: `usage:${RELOAD_USAGE}${ENVIRONMENT}`, run: runReload },
  run: { usage: `usage:${RUN_USAGE}${ENVIRONMENT}`, run: runSupervisor },
  stop: { usage: `usage:${STOP_USAGE}${ENVIRONMENT}`, run: runStop },
  status: { usage: `usage:${STATUS_USAGE}${ENVIRONMENT}`, run: runStatus },
  scale: { usage: `usage:${SCALE_USAGE}${ENVIRONMENT}`, run: runScale },
};

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const known = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (known) {
    // Only what comes before `--` is ours: after it, `--help` is the app's.
    const ours = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (ours.includes('--help') || ours.includes('-h')) return print(known.usage);
    return known.run(rest);
  }
  if (command === '--help' || command === '-h') return print(USAGE);
  if (command === 'help') return print(usageOf(rest[0]));
  if (command === '--version' || command === '-v') return print(`${version()}\n`);
  if (command.startsWith('-')) throw new GraceError('ERR_GRACE_USAGE', `unknown option ${command}`);
  throw new GraceError('ERR_GRACE_USAGE', command ? `unknown command ${JSON.stringify(command)}` : 'no command given');
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

function usageOf(command: string | undefined): string {
  return command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command]!.usage : USAGE;
}

function version(): string {
  const found = graceVersion();
  if (!found) throw new Error(`cannot find grace-restart's package.json above ${process.argv[1]}`);
  return found;
}

async function runReload(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { 'pid-file': { type: 'string' }, timeout: { type: 'string' } });
  const pidFile = pidFileOf('reload', values['pid-file'], process.env, true)!;
  const result = await reload({ pidFile, timeout: timeout('--timeout', values.timeout) });
  if (result.workers) {
    const [before, after] = result.workers;
    // After a crash loop nothing served before the reload.
    const was = before.length ? `workers ${before.join(', ')}` : 'nothing serving';
    process.stdout.write(`reloaded: ${was} → ${before.length ? '' : 'workers '}${after.join(', ')} (generation ${result.generation})\n`);
  } else {
    process.stdout.write(`reloaded: old pid ${result.oldPid}, new pid ${result.newPid} (generation ${result.generation})\n`);
  }
  return 0;
}

async function runStop(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { 'pid-file': { type: 'string' }, timeout: { type: 'string' } });
  const pidFile = pidFileOf('stop', values['pid-file'], process.env, true)!;
  const result = await stop({ pidFile, timeout: timeout('--timeout', values.timeout) });
  const parts = [`pid ${result.pid}`];
  if (result.workers.length) parts.push(`its worker${result.workers.length > 1 ? 's' : ''} ${result.workers.join(', ')}`);
  if (result.spares.length) parts.push(`its parked spare${result.spares.length > 1 ? 's' : ''} ${result.spares.join(', ')}`);
  const who = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0];
  process.stdout.write(`stopped: ${who} exited within ${result.elapsedMs} ms\n`);
  return 0;
}

async function runSupervisor(args: string[]): Promise<number> {
  const split = args.indexOf('--');
  if (split < 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs -- before the app command');
  // Loaded only here: every other command (reload, status, --version) starts without the supervisor's code.
  const { Supervisor } = await import('./supervisor/supervisor.js');
  const { values } = parseFlags(args.slice(0, split), flagOptions(RUN_FLAGS));
  const maxMemory = values['max-memory'] === undefined ? undefined : parseBytes('--max-memory', values['max-memory']);
  if (maxMemory !== undefined && !canReadRss()) throw new GraceError('ERR_GRACE_USAGE', '--max-memory needs /proc (Linux) to read a worker\'s RSS');
  const stopTimeout = timeout('--stop-timeout', values['stop-timeout']);
  const stopDelay = milliseconds('--stop-delay', values['stop-delay']);
  // The supervisor's kill deadline waits out both (core/stop.ts).
  checkDurationSum(['--stop-delay', '--stop-timeout'], [stopDelay ?? 0, stopTimeout ?? DEFAULTS.stopTimeout], 'ERR_GRACE_USAGE');
  const watchdog = milliseconds('--watchdog', values.watchdog);
  const timestamps = values.timestamps === true;
  const lossy = nonUtf8Warning(process.pid, process.env, 'every worker');
  if (lossy) resolveLogger(undefined, process.env, { timestamps }).warn(lossy, { event: 'non-utf8' });
  const supervisor = new Supervisor({
    command: args.slice(split + 1),
    listen: await listenFlags(values.listen ?? []),
    workers: values.workers === 'max' ? Math.min(availableParallelism(), MAX_WORKERS) : count('--workers', values.workers, MAX_WORKERS),
    surge: count('--surge', values.surge, MAX_WORKERS),
    standby: count('--standby', values.standby, MAX_STANDBY),
    maxMemory,
    pidFile: pidFileOf('run', values['pid-file'], process.env, false),
    logPrefix: !values['no-log-prefix'],
    timestamps,
    maxRestarts: count('--max-restarts', values['max-restarts'], MAX_RESTARTS),
    minUptime: milliseconds('--min-uptime', values['min-uptime']),
    watch: watchDirs(values.watch === true, values['watch-path'], process.cwd()),
    watchdog: watchdog === undefined ? undefined : checkWatchdog(watchdog),
    envFiles: values['env-file'],
    readyTimeout: timeout('--ready-timeout', values['ready-timeout']),
    stopTimeout,
    stopDelay,
    wrapper: startedBy(),
  });
  return supervisor.run();
}

async function runStatus(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { 'pid-file': { type: 'string' }, json: { type: 'boolean' } });
  const pidFile = pidFileOf('status', values['pid-file'], process.env, true)!;
  const answer = readStatus(pidFile);
  if (values.json) process.stdout.write(`${printableJson(answer)}\n`);
  // Nothing to show: why, as any refusal is said.
  else if ('pidFile' in answer) process.stderr.write(`grace: ${printableLines(answer.message)}\n`);
  else process.stdout.write(formatStatus(answer));
  return VERDICT_STATUS[answer.verdict];
}

async function runScale(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { 'pid-file': { type: 'string' }, timeout: { type: 'string' } }, true);
  const pidFile = pidFileOf('scale', values['pid-file'], process.env, true)!;
  if (positionals.length !== 1) throw new GraceError('ERR_GRACE_USAGE', `grace scale needs one worker count, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const workers = count('the worker count', positionals[0], MAX_WORKERS)!;
  const result = await scale({ pidFile, workers, timeout: timeout('--timeout', values.timeout) });
  process.stdout.write(`scaled: ${result.from} → ${result.to} workers serving (pid${result.pids.length > 1 ? 's' : ''} ${result.pids.join(', ')})\n`);
  return 0;
}

/** The wrapper `grace run` was started by (npm under npx or `npm start`, yarn, pnpm, the tsx CLI), if any: it follows it. */
function startedBy(): Wrapper | undefined {
  const parent = process.ppid;
  // Watchers are not looked for: a wrapper is followed wherever it runs.
  const launched = launchedBy({ env: process.env, execArgv: process.execArgv, ppid: parent, readProcess }, false);
  return launched.kind === 'wrapper' ? { name: launched.name, pid: launched.pid, parent } : undefined;
}

/** Each `--listen` spec checked now: a bad or repeated one is a usage error, like any bad flag. */
async function listenFlags(specs: string[]): Promise<string[]> {
  const { parseListenSpecs } = await import('./sockets/held-sockets.js');
  try {
    parseListenSpecs(specs);
  } catch (err) {
    if ((err as GraceError).code !== 'ERR_GRACE_LISTEN_SPEC') throw err;
    const message = (err as Error).message;
    throw new GraceError('ERR_GRACE_USAGE', message.startsWith('--listen') ? message : `--listen: ${message}`, { cause: err });
  }
  return specs;
}

/** `grace run --timestamps`: its own last word, an error, is stamped as its log lines are. */
function stampedRun(argv: string[]): boolean {
  const ours = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  return ours[0] === 'run' && ours.includes('--timestamps');
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown: Error & { code?: string }) => {
    const err = asUsageError(thrown, argv[0] ?? '');
    // A message may quote a file or an argument: its escape sequences are shown, not sent.
    const message = `grace: ${printableLines(err.message)}`;
    process.stderr.write(`${stampedRun(argv) ? timestamped(message) : message}\n`);
    if (err.code === 'ERR_GRACE_USAGE') process.stderr.write(`\n${usageOf(argv[0])}`);
    process.exitCode = err.code === 'ERR_GRACE_USAGE' ? 2 : 1;
  },
);
