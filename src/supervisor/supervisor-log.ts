import { describeExit } from '../protocol/launcher.js';
import type { Log } from '../platform/logger.js';
import type { WorkerFailure } from '../reporting/pid-file.js';
import { parseKey } from './core/deadlines.js';
import type { UncleanSlot, WorkerAction } from './core/events.js';
import { reloadSurge } from './core/reload.js';
import { activeSlots, serving, type WorkerTable } from './core/table.js';
import { formatBytes } from './memory-limit.js';
import { workerName } from './worker-pool.js';

/*
 * What `grace run` says about its fleet: a line for each of the table's
 * actions an operator hears of (a reload and how it went, a scale, a stop, a
 * backoff, a replacement, the exit status). What a single process did
 * (started, ready, retiring, failed, crashed) the pool says itself.
 */
export class SupervisorLog {
  constructor(
    private readonly logger: Log,
    private readonly command: string[],
    /** The pids of the launches named. */
    private readonly pids: (ids: Array<{ id: number }>) => number[],
    /** The last worker that failed to start or crashed, with its last lines of stderr. */
    private readonly lastFailure: () => WorkerFailure | undefined = () => undefined,
  ) {}

  /** `t` is the table after the step that gave `action`. */
  say(action: WorkerAction, t: WorkerTable): void {
    const { logger } = this;
    const workers = activeSlots(t).length;
    switch (action.do) {
      case 'arm':
        if (parseKey(action.key).name !== 'backoff') return;
        return logger.info(`restarting ${workers === 1 ? 'the app' : `worker ${parseKey(action.key).n}`} in ${action.ms} ms`, { event: 'worker-backoff', worker: parseKey(action.key).n, delay: action.ms });
      case 'announce':
        if (workers > 1) logger.info(`all ${workers} workers are ready`, { event: 'workers-ready', workers });
        return;
      case 'reload-started': {
        // Said once the table took it: a refused reload logs only its refusal.
        const { generation, signal } = action;
        logger.info(`${signal === 'watch' ? '--watch' : signal}: reloading to generation ${generation}; ${this.whileReloading(t)}`, { event: 'reload', signal, generation });
        return logger.debug(`rolling reload to generation ${generation}, ${reloadSurge(t)} at a time`, { event: 'reload-started', generation });
      }
      case 'reload-done': {
        const what = workers === 1 ? `generation ${action.generation} serves` : `all ${workers} workers serve generation ${action.generation}`;
        return logger.info(`reload done: ${what}`, { event: 'reload-done', generation: action.generation });
      }
      case 'reload-failed':
        return logger.error(`reload failed: ${action.reason}; ${this.stillServing(t)}`, { event: 'reload-failed', worker: action.index, generation: action.generation });
      case 'refuse-reload':
        return logger.warn(`${action.signal}: reload refused: ${action.why}`, { event: 'reload-refused', signal: action.signal, why: action.why });
      case 'scaled':
        return logger.info(`scaled from ${action.from} to ${action.to} workers`, { event: 'scaled', from: action.from, to: action.to });
      case 'refuse-scale':
        return logger.warn(`scale refused: ${action.why}`, { event: 'scale-refused', why: action.why });
      case 'replace':
        return this.replacing(action, t);
      case 'files-changed': {
        const { first, others, count, queued } = action;
        const then = queued ? `: one more reload once ${t.reload ? `the reload to generation ${t.reload.generation}` : 'the worker starting now'} is over` : '';
        return logger.info(`${first}${others ? ' and other files' : ''} changed${then}`, { event: 'files-changed', first, others, count, queued });
      }
      case 'crash-loop':
        return this.crashLoop(action, t);
      case 'unrunnable':
        return logger.error(`cannot run ${JSON.stringify(this.command[0])}: ${action.why}; exiting with status ${action.status}`, { event: 'command-unrunnable', status: action.status });
      case 'wrapper-gone':
        return logger.info(`${action.why}: stopping, as on SIGTERM (grace run follows the wrapper it was started by)`, { event: 'wrapper-gone' });
      case 'stopping': {
        if (action.quiet) return;
        const pids = this.pids(serving(t));
        return logger.info(`${action.signal}: stopping ${pids.length ? `pid ${pids.join(', ')}` : '(nothing serves)'}`, { event: 'stopping', signal: action.signal, pids });
      }
      case 'forward':
        return logger.warn(`${action.signal} again: forwarding it to the app`, { event: 'stop-forwarded', signal: action.signal });
      case 'kill-all':
        return logger.warn(`workers still running ${action.ms} ms after ${action.signal}: killing them`, { event: 'stop-deadline' });
      case 'exit':
        for (const slot of action.unclean) this.unclean(slot, workers);
        return;
    }
  }

  private replacing(action: Extract<WorkerAction, { do: 'replace' }>, t: WorkerTable): void {
    const { index } = action;
    const [pid] = this.pids([action]);
    const who = workerName(activeSlots(t).length, index, pid);
    if (action.why === 'memory') {
      const limit = t.settings.maxMemory!;
      this.logger.warn(`${who} uses ${formatBytes(action.rss)}, over --max-memory ${formatBytes(limit)}: replacing it`, { event: 'worker-over-memory', worker: index, pid, rss: action.rss, limit });
    } else {
      const { silentMs } = action;
      this.logger.warn(`${who} has not answered the watchdog for ${silentMs} ms (--watchdog ${t.settings.watchdog}): replacing it`, { event: 'worker-hung', worker: index, pid, silentMs });
    }
  }

  /** --max-restarts reached: which slot, how many restarts, and the app's own last words. */
  private crashLoop({ index, restarts, status }: Extract<WorkerAction, { do: 'crash-loop' }>, t: WorkerTable): void {
    const { maxRestarts, minUptime } = t.settings;
    const workers = activeSlots(t).length;
    const failure = this.lastFailure();
    const stderr = failure?.worker === index ? failure.stderr : [];
    const who = workers === 1 ? 'the app' : `worker ${index}`;
    const others = workers === 1 ? '' : 'the other workers drain; ';
    const lines = stderr.length ? `; its last lines of stderr:\n${stderr.map((line) => `  ${line}`).join('\n')}` : '; it wrote nothing to stderr';
    this.logger.error(
      `${who} was restarted ${restarts} time${restarts === 1 ? '' : 's'} in a row and never stayed up ${minUptime} ms (--max-restarts ${maxRestarts}, --min-uptime ${minUptime}): giving up; ${others}exit status ${status}${lines}`,
      { event: 'crash-loop', worker: index, restarts, status, stderr },
    );
  }

  private whileReloading(t: WorkerTable): string {
    const pids = this.pids(serving(t));
    const workers = activeSlots(t).length;
    if (pids.length === 0) return 'nothing serves now: the new code starts at once';
    if (workers === 1) return `pid ${pids[0]} serves until the new generation is ready`;
    const down = workers - pids.length;
    const serve = pids.length > 1 ? `pids ${pids.join(', ')} serve until their replacements are ready` : `pid ${pids[0]} serves until its replacement is ready`;
    return `${serve}${down ? `; ${down === 1 ? '1 slot down takes' : `${down} slots down take`} the new code first` : ''}`;
  }

  private stillServing(t: WorkerTable): string {
    const pids = this.pids(serving(t));
    const workers = activeSlots(t).length;
    if (pids.length === 0) return 'nothing serving (the app is restarted after a backoff)';
    if (workers === 1) return `pid ${pids.join(', ')} still serving`;
    return `${pids.length} of ${workers} workers still serving (pid${pids.length > 1 ? 's' : ''} ${pids.join(', ')})`;
  }

  /** A slot that makes the exit status non-zero, and why. */
  private unclean(slot: UncleanSlot, workers: number): void {
    const { index, exit, status, failedStart, served, lastExit } = slot;
    const who = workers === 1 ? 'the app' : `worker ${index}`;
    const fields = { event: 'worker-unclean-stop', worker: index, code: exit.code, signal: exit.signal, status };
    if (failedStart) {
      const last = lastExit ? `its last start exited with ${describeExit(lastExit)}` : 'stopped while it started';
      const what = served ? 'was not ready again after a crash' : 'never became ready';
      this.logger.warn(`${who} ${what} (${last}): exit status ${status}`, fields);
    } else if (workers > 1) {
      this.logger.warn(`worker ${index} did not stop cleanly: ${describeExit(exit)}`, fields);
    }
  }
}
