import type { DeadlineKey } from './core/deadlines.js';

/*
 * The workers' table keeps time by name (core/deadlines.ts): this turns its
 * `arm` and `disarm` into timers, and a timer that fires into the table's
 * `timer` event. Arming a key armed already replaces its timer. The one place
 * under supervisor/ that arms a timer for a decision (log-prefix.ts lets go
 * of a dead worker's output after a moment); the tests run a fake clock in
 * its place (test/table-replay.ts).
 */
export class DeadlineTimers {
  private readonly timers = new Map<DeadlineKey, NodeJS.Timeout>();

  constructor(private readonly fire: (key: DeadlineKey) => void) {}

  arm(key: DeadlineKey, ms: number): void {
    this.disarm(key);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.fire(key);
      }, ms),
    );
  }

  disarm(key: DeadlineKey): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  /** At the exit: nothing holds the process open. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
