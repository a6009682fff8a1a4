/*
 * A table's deadlines, kept by the table: it arms a named deadline as an
 * action (`arm {key, ms}`), disarms it as another (`disarm {key}`), and
 * hears it as an event (`timer {key}`) which it judges against its state
 * then, like any other event, so a timer that fires after the state moved on
 * changes nothing. Time is then an input: a replay feeds `timer` events
 * where a shell would have set a timer (test/table-replay.ts). This adapter
 * is the one place such a table's timers are real.
 */

/** Start (or restart) the deadline `key`, due in `ms`. */
export type Arm<K extends string> = { do: 'arm'; key: K; ms: number };
/** The deadline `key` is no longer wanted (its event may still come, late: the table ignores it then). */
export type Disarm<K extends string> = { do: 'disarm'; key: K };
/** The deadline `key` is due. */
export type TimerEvent<K extends string> = { type: 'timer'; key: K };

/** Real timers for a table's `arm` and `disarm` actions; each fires `timer {key}` back into the table. */
export class TableTimers<K extends string> {
  private readonly armed = new Map<K, NodeJS.Timeout>();

  constructor(private readonly fire: (event: TimerEvent<K>) => void) {}

  /** Carries out an `arm` or a `disarm`. A deadline armed again is due from now, once. */
  carryOut(action: Arm<K> | Disarm<K>): void {
    clearTimeout(this.armed.get(action.key));
    this.armed.delete(action.key);
    if (action.do === 'disarm') return;
    const { key } = action;
    const timer = setTimeout(() => {
      if (this.armed.get(key) !== timer) return;
      this.armed.delete(key);
      this.fire({ type: 'timer', key });
    }, action.ms);
    this.armed.set(key, timer);
  }

  /** Whether an action is one of ours. */
  static owns<K extends string>(action: { do: string }): action is Arm<K> | Disarm<K> {
    return action.do === 'arm' || action.do === 'disarm';
  }
}
