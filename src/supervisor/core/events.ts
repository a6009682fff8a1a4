import type { ExitStatus } from '../../protocol/launcher.js';
import type { DeadlineKey } from './deadlines.js';
import type { StartReason } from './table.js';

/*
 * What goes into the workers' table and what comes out. Events are what
 * happened (a process said ready, failed, exited; a signal; a deadline came;
 * what the shell saw when the table asked it to look); actions are what to
 * do, in order: to a process (the pool), to a timer (the adapter), or what
 * the outside world hears (the log, the pid file, systemd).
 */

/** What asked for a reload: SIGUSR2 or SIGHUP, or `watch` (--watch: files changed). */
export type ReloadCause = NodeJS.Signals | 'watch';

export type WorkerEvent =
  | { type: 'start' }
  | { type: 'ready'; index: number; id: number }
  /**
   * A launch that never became ready was reaped (it exited, missed its
   * deadline, or was abandoned). `cannotRun`: its command cannot be started
   * at all (launcher.ts's cannotRun). `at`: when, ms since epoch.
   */
  | { type: 'failed'; index: number; id: number; reason: string; status?: ExitStatus; cannotRun?: { status: number; why: string }; at?: number }
  /** A ready worker exited; `ranMs` is how long it had been up. */
  | { type: 'exited'; index: number; id: number; status: ExitStatus; ranMs: number }
  /** SIGUSR2 or SIGHUP (`signal`, default SIGUSR2) at `at`, ms since epoch. */
  /** `spares`: the spares parked or booting as it came (the shell's fact: the default surge releases that many at once). */
  | { type: 'reload'; signal?: ReloadCause; at?: number; spares?: number }
  /** `grace scale N`, SIGTTIN (one more), SIGTTOU (one fewer): 1…MAX_WORKERS, checked by the caller. */
  | { type: 'scale'; workers: number }
  /** SIGINT or SIGTERM (default). */
  | { type: 'stop'; signal?: NodeJS.Signals }
  /** A deadline the table armed has come. */
  | { type: 'timer'; key: DeadlineKey }
  /** The answer to `sample-memory`: this ready worker's RSS is over the limit. */
  | { type: 'over-memory'; index: number; id: number; rss: number }
  /** The answer to `read-heartbeats`: at `at` (monotonic ms), each worker had answered `pongs` pings so far. */
  | { type: 'heartbeats'; at: number; workers: Array<{ index: number; id: number; pongs: number }> }
  /** The answer to `check-wrapper`: the wrapper that started `grace run` is gone, and why. */
  | { type: 'wrapper-gone'; why: string }
  /** `--watch`: a file changed (its path, as the watcher names it). */
  | { type: 'changed'; path: string };

/** How a launch the table knew ended (`reaped`): the pool logs it, and forgets the process. */
export type Reaped =
  | { as: 'failed-start'; reason: string }
  | { as: 'abandoned'; reason: string }
  | { as: 'crashed'; status: ExitStatus }
  | { as: 'exited'; status: ExitStatus };

/** A slot whose end makes the stop's exit status non-zero (stop.ts). */
export interface UncleanSlot {
  index: number;
  /** How its last worker ended (code 0 where none did). */
  exit: ExitStatus;
  /** The shell's status for it: its code, 128 + its signal, or 1. */
  status: number;
  /** Its last start failed, or none was ever ready here. */
  failedStart: boolean;
  served: boolean;
  lastExit: ExitStatus | undefined;
}

export type WorkerAction =
  // To a process (worker-pool.ts).
  | { do: 'launch'; index: number; id: number; generation: number; why: StartReason }
  /** "retire" on its channel, then SIGTERM: it drains (its successor serves). */
  | { do: 'retire'; index: number; id: number }
  /** Kill a start that never accepted; `failed` follows once it is reaped. */
  | { do: 'abandon'; index: number; id: number; reason: string }
  /** Its ready deadline came first: the launch gives up (killed, reaped, then `failed`). */
  | { do: 'time-out'; index: number; id: number; ms: number }
  /** Retired `ms` ago and still running: SIGKILL. */
  | { do: 'kill'; index: number; id: number; ms: number }
  | ({ do: 'reaped'; index: number; id: number } & Reaped)
  /** A stop: the ready workers get its signal and drain (retiring ones are draining already). */
  | { do: 'stop-workers'; ids: number[]; signal: NodeJS.Signals }
  /** A second stop signal: passed to every process (it forces). */
  | { do: 'forward'; signal: NodeJS.Signals }
  /** The stop's deadline came: SIGKILL to whatever is left. */
  | { do: 'kill-all'; ms: number; signal: NodeJS.Signals }
  | { do: 'refill-spares' }
  | { do: 'drop-spares' }
  // Looking at the world: the shell answers with an event.
  | { do: 'read-heartbeats'; workers: Array<{ index: number; id: number }> }
  | { do: 'ping'; id: number }
  | { do: 'sample-memory'; workers: Array<{ index: number; id: number }>; limit: number }
  | { do: 'check-wrapper' }
  // Deadlines (platform/deadline-timers.ts): a `timer` event for `key` after `ms`, unless disarmed first.
  | { do: 'arm'; key: DeadlineKey; ms: number }
  | { do: 'disarm'; key: DeadlineKey }
  // What the outside world hears.
  /** Every slot serves for the first time. */
  | { do: 'announce' }
  | { do: 'reload-started'; generation: number; signal: ReloadCause }
  | { do: 'reload-done'; generation: number }
  | { do: 'reload-failed'; generation: number; index: number; reason: string }
  /** `starting`: a worker is starting beside a serving one (the memory limit, the watchdog). */
  | { do: 'refuse-reload'; kind: 'stopping' | 'in-progress' | 'starting'; why: string; signal: ReloadCause }
  | { do: 'scaled'; from: number; to: number }
  | { do: 'refuse-scale'; why: string }
  /** A replacement starts beside this ready worker (the launch follows). */
  | { do: 'replace'; index: number; id: number; why: 'memory'; rss: number }
  | { do: 'replace'; index: number; id: number; why: 'watchdog'; silentMs: number }
  /** `--watch`: changes (`count`; the first file named, `others` if more files changed) settled; a reload follows now, or once the one in flight is over (`queued`). */
  | { do: 'files-changed'; first: string; others: boolean; count: number; queued: boolean }
  /** `--max-restarts`: slot `index` was restarted `restarts` times in a row, none up --min-uptime: grace run stops, exiting with `status`. */
  | { do: 'crash-loop'; index: number; restarts: number; status: number }
  /** The first start's command cannot run at all (not found: 127, not executable: 126, environment too large: 1). */
  | { do: 'unrunnable'; status: number; why: string }
  | { do: 'wrapper-gone'; why: string }
  /** A stop begins; `quiet` when the line before it said why (the wrapper, an unrunnable command). */
  | { do: 'stopping'; signal: NodeJS.Signals; quiet: boolean }
  /** Stopping and no process left: exit with `status`. */
  | { do: 'exit'; status: number; unclean: UncleanSlot[] };
