/*
 * A table's deadlines, kept by the table: it arms a named deadline as an
 * action (`arm {key, ms}`), disarms it as another (`disarm {key}`), and
 * hears it as an event (`timer {key}`), which it judges against its state
 * then, like any other event: a timer that fires after the state moved on
 * changes nothing. Time is then an input, and the tests run a fake clock in
 * place of this adapter (test/table-replay.ts). This is the one place such a
 * table's timers are real.
 */

/** Start (or restart) the deadline `key`, due in `ms`. */
export type Arm<K extends string> = { do: 'arm'; key: K; ms: number };
/** The deadline `key` is no longer wanted (its event may still come, late: the table ignores it then). */
export type Disarm<K extends string> = { do: 'disarm'; key: K };
/** The deadline `key` is due. */
export type TimerEvent<K extends string> = { type: 'timer'; key: K };

/** Real timers for a table's `arm` and `disarm`; each that fires calls `fire(key)` (the owner feeds the table `timer {key}`). */
export class DeadlineTimers<K extends string> {
  private readonly timers = new Map<K, NodeJS.Timeout>();

  constructor(private readonly fire: (key: K) => void) {}

  /** Arming a key armed already replaces its timer: due `ms` from now, once. */
  arm(key: K, ms: number): void {
    this.disarm(key);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.fire(key);
      }, ms),
    );
  }

  disarm(key: K): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  /** Nothing is left to wait for: no timer holds the process open. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
