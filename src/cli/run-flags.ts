import { usage, type FlagTable } from './usage.js';

/*
 * `grace run`'s flags, in one table: what parseArgs reads (cli.ts) and what
 * `grace run --help` shows are both made from it. docs/cli.md says the same
 * at length.
 */

export const RUN_FLAGS = {
  listen: {
    type: 'string',
    multiple: true,
    value: 'SPEC',
    group: 'Sockets',
    help: 'PORT, HOST:PORT, [IPv6]:PORT or a unix socket path; repeat it for several. None: the sockets of systemd socket activation, and with none of those, workers that do not listen (queue consumers, jobs), each ready when its Shutdown.handleSignals() says so.',
  },
  workers: {
    type: 'string',
    value: 'N|max',
    group: 'Workers',
    help: 'processes that all accept on the same sockets (default 1, at most 1024; max: one per CPU); each gets GRACE_WORKER (0..N-1) and GRACE_WORKERS. A crashed worker is restarted in its slot.',
  },
  surge: { type: 'string', value: 'K', group: 'Workers', help: 'new workers started at a time in a rolling reload (default 1; with --standby K, min(K, workers)).' },
  standby: {
    type: 'string',
    value: 'K',
    group: 'Workers',
    help: 'keep K workers booted and parked before any of the app runs; reloads and crash replacements take them first (docs/standby.md).',
  },
  'env-file': {
    type: 'string',
    multiple: true,
    value: 'FILE',
    group: 'Workers',
    help: "read at every worker start (first start, reload, crash replacement); its variables go beneath the supervisor's own environment, which wins, as with node --env-file.",
  },
  'ready-timeout': { type: 'string', value: 'MS', group: 'Health', help: 'how long a worker may take to be ready before it is killed (default 30000).' },
  'max-memory': {
    type: 'string',
    value: 'SIZE',
    group: 'Health',
    help: 'replace a worker whose RSS is over SIZE, e.g. 512M (Linux; K, M, G are powers of 1024).',
  },
  watchdog: {
    type: 'string',
    value: 'MS',
    group: 'Health',
    help: "replace a worker whose event loop has not answered a heartbeat for MS (at least 1000): a new one first, then the hung one gets SIGTERM, and SIGKILL after --stop-timeout. Under systemd's WatchdogSec=, WATCHDOG=1 is sent at half the interval.",
  },
  'max-restarts': {
    type: 'string',
    value: 'N',
    group: 'Health',
    help: "give up after N restarts in a row of one slot (each after a crash or a failed start) with none up --min-uptime: the other workers drain, and grace run exits with the app's status, for systemd's Restart= to decide (1 to 10000; default: restart forever, with backoff).",
  },
  'min-uptime': {
    type: 'string',
    value: 'MS',
    group: 'Health',
    help: 'how long a worker must be up (ready) for its slot\'s count of restarts to start over (default 1000).',
  },
  'stop-delay': {
    type: 'string',
    value: 'MS',
    group: 'Stopping',
    help: 'on a stop, workers serve MS longer with readiness 503 first (GRACE_STOP_DELAY; not on reloads).',
  },
  'stop-timeout': {
    type: 'string',
    value: 'MS',
    group: 'Stopping',
    help: 'then, workers still running are killed (default 60000); it also bounds each worker a reload retires.',
  },
  'pid-file': { type: 'string', value: 'FILE', group: 'Reporting', help: 'the pid file the other commands (reload, status, stop, scale) read.' },
  timestamps: {
    type: 'boolean',
    group: 'Reporting',
    help: 'start every line grace writes, its own and each one a worker writes, with the time (2026-12-05T17:50:01.123Z); a JSON line gets a "time" field unless it has one. Off by default: journald and Docker stamp lines already.',
  },
  'no-log-prefix': {
    type: 'boolean',
    group: 'Reporting',
    help: 'with more than one worker, leave their lines as written; by default each starts with [wSLOT PID] (a JSON line gets "grace_worker" and "grace_pid" fields).',
  },
  watch: {
    type: 'boolean',
    group: 'Development',
    help: 'reload (rolling) when a file under the current directory changes, 200 ms after the last change; node_modules, dotfiles and the pid file are skipped. A save that does not start keeps the last good code serving. For development.',
  },
  'watch-path': {
    type: 'string',
    multiple: true,
    value: 'DIR',
    group: 'Development',
    help: 'watch DIR instead of the current directory (repeat it for several); implies --watch.',
  },
} as const satisfies FlagTable;

export const RUN_USAGE = usage('grace run', RUN_FLAGS, {
  operands: '-- COMMAND [ARGS...]',
  about: 'Supervisor mode: hold the listening sockets and run COMMAND as the app, in worker processes that all accept on them, under a pid that never changes.',
  sections: [
    [
      'Signals',
      [
        ['SIGUSR2, SIGHUP', 'rolling reload: K new workers at a time (--surge), each old one retired once a new one is ready.'],
        ['SIGINT, SIGTERM', 'every worker drains (after --stop-delay), then grace run exits.'],
        ['SIGTTIN, SIGTTOU', 'one worker more, one fewer (grace scale sends them).'],
      ],
    ],
    [
      'Exit status',
      [
        ['0', "after a stop, when every slot's last worker was ready and exited 0; else the app's status (or 1)."],
        ['127, 126', 'at once, when COMMAND is not found, or not executable.'],
        ['N', "the app's last status (or 1), when --max-restarts gave up on a slot."],
      ],
    ],
  ],
  notes:
    "Every MS is a whole number of milliseconds up to 2147483647 (about 24.8 days, Node's longest timer), at least 1 for a timeout; --stop-delay plus --stop-timeout too. Each flag is given once (--listen, --env-file and --watch-path may repeat). Started by npm (npx, npm exec, npm start), yarn, pnpm or the tsx CLI, grace run stops (as on SIGTERM) once that wrapper exits.",
});
