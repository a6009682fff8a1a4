import type { PidFileState, WorkerFailure, WorkerStatus } from '../reporting/pid-file.js';
import type { StatusReporter } from '../reporting/status.js';
import type { WorkerPool } from './worker-pool.js';
import { activeSlots, fleetGeneration } from './worker-table.js';

/*
 * What `grace run` tells the outside world, derived from the workers' table
 * each time it changes: the pid file (with one entry per worker, which
 * `grace status` reads and `grace reload` follows) and sd_notify (READY=1
 * once all N are ready, RELOADING=1 / READY=1 around a rolling reload).
 *
 * The pid file's `generation` is the oldest generation still serving: it
 * grows when a reload has replaced every worker (or, with one worker, when a
 * crashed app's replacement serves), never when a reload fails half-way, so
 * `grace reload` cannot take a half-done reload for success.
 */

export class SupervisorStatus {
  private generation = 0;
  private reloading = false;
  private failure: { message: string; at: number } | undefined;
  private lastFailure: WorkerFailure | undefined;

  constructor(
    private readonly reporter: StatusReporter,
    private readonly pool: WorkerPool,
  ) {}

  /** All N ready for the first time: the pid file, then systemd hears READY=1. */
  async ready(): Promise<void> {
    this.write();
    await this.reporter.notifyReady(`${this.pool.size} worker(s), generation ${this.generation}`);
  }

  reloadStarted(): void {
    this.reloading = true;
    this.failure = undefined;
    this.write();
    this.reporter.notifyReloading();
  }

  reloadDone(): void {
    this.reloading = false;
    this.write();
    void this.reporter.notifyReady(`${this.pool.size} worker(s), generation ${this.generation}`);
  }

  reloadFailed(message: string): void {
    this.reloading = false;
    this.failure = { message, at: Date.now() };
    this.write();
    void this.reporter.notifyReady();
  }

  /** A worker failed to start or crashed: `grace status` shows why, `grace reload` prints its stderr. */
  workerFailed(failure: Omit<WorkerFailure, 'at'>): void {
    this.lastFailure = { ...failure, at: Date.now() };
    if (this.pool.table.phase !== 'stopping') this.write();
  }

  /**
   * On every change of the table, from the first launch: `grace status` and
   * `grace reload` find the supervisor while nothing serves yet (state
   * `starting`; a crash loop looks the same), and with N > 1 before all N do.
   */
  changed(): void {
    if (this.pool.table.phase === 'stopping') return;
    this.write();
  }

  private write(): void {
    const { table } = this.pool;
    this.generation = Math.max(this.generation, fleetGeneration(table));
    const anyServing = table.slots.some((s) => s.current);
    // A failed reload is reported even with nothing serving: `grace reload` waits for it.
    const state: PidFileState['state'] = this.reloading ? 'restarting' : this.failure ? 'failed' : anyServing ? 'serving' : 'starting';
    const first = table.slots[0]?.current;
    this.reporter.record(state, this.generation, (first && this.pool.processes.get(first.id)?.pid) ?? 0, {
      ...(state === 'failed' ? { message: this.failure!.message, at: this.failure!.at } : {}),
      workers: this.workers(),
      size: activeSlots(table).length,
      ...(this.lastFailure ? { lastFailure: this.lastFailure } : {}),
    });
  }

  private workers(): WorkerStatus[] {
    const { table, processes } = this.pool;
    const out: WorkerStatus[] = [];
    for (const slot of table.slots) {
      const entries: Array<[WorkerStatus['state'], number | undefined]> = [
        ['serving', slot.current?.id],
        ['starting', slot.pending?.id],
        ...slot.retiring.map((r): [WorkerStatus['state'], number] => ['retiring', r.id]),
      ];
      for (const [state, id] of entries) {
        const p = id === undefined ? undefined : processes.get(id);
        if (!p) continue;
        out.push({ index: slot.index, pid: p.pid, generation: p.generation, state, startedAt: p.startedAt, restarts: slot.restarts });
      }
      if (!slot.current && !slot.pending && !slot.leaving) out.push({ index: slot.index, pid: 0, generation: 0, state: 'down', startedAt: 0, restarts: slot.restarts });
    }
    for (const spare of this.pool.spares.pids()) {
      out.push({ index: -1, pid: spare.pid, generation: 0, state: spare.parked ? 'standby' : 'booting', startedAt: spare.startedAt, restarts: 0 });
    }
    return out;
  }
}
