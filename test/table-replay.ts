// The pure tables (the lifecycle, the workers' table) are tested by feeding
// them events in order: one replay loop for all of them.

/**
 * Feeds `events` to `apply` from `from`; returns the final state and every
 * action, as `describe` words it (an action it gives no words, undefined, is
 * not what the test speaks of, and is left out).
 */
export function replay<State, Event, Action>(
  apply: (now: State, event: Event) => { next: State; actions: Action[] },
  events: Event[],
  from: State,
  describe: (action: Action) => string | undefined,
): { now: State; did: string[] } {
  let now = from;
  const did: string[] = [];
  for (const event of events) {
    const result = apply(now, event);
    now = result.next;
    for (const action of result.actions) {
      const words = describe(action);
      if (words !== undefined) did.push(words);
    }
  }
  return { now, did };
}

/** What a table's deadline actions look like (core/deadlines.ts): a timer armed by key, or disarmed. */
type DeadlineAction<Key> = { do: 'arm'; key: Key; ms: number } | { do: 'disarm'; key: Key };

/**
 * A fake clock for a table that keeps its own deadlines: its `arm` and
 * `disarm` actions set and clear the clock's timers, and `advance` fires the
 * timers that come due, in order (by due time, then by when they were armed),
 * each as a `timer` event at its own time. `answer` plays the shell: the
 * events an action brings back (what the shell saw when the table asked it to
 * look), fed in order after the step that asked. Every action is kept in
 * `did` (as `describe` words it, at the time it was done).
 */
export class FakeClock<State, Event, Action extends { do: string }, Key extends string> {
  now = 0;
  readonly did: string[] = [];
  private readonly timers = new Map<Key, number>();

  constructor(
    public state: State,
    private readonly apply: (now: State, event: Event) => { next: State; actions: Action[] },
    private readonly timer: (key: Key) => Event,
    private readonly describe: (action: Action, now: number) => string | undefined,
    private readonly answer: (action: Action, now: number) => Event[] = () => [],
  ) {}

  /** Feeds `event` now, then whatever the shell answers. */
  send(event: Event): this {
    const queue = [event];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { next: state, actions } = this.apply(this.state, next);
      this.state = state;
      for (const action of actions) {
        const deadline = action as unknown as DeadlineAction<Key>;
        if (deadline.do === 'arm') {
          this.timers.delete(deadline.key);
          this.timers.set(deadline.key, this.now + deadline.ms);
        } else if (deadline.do === 'disarm') this.timers.delete(deadline.key);
        const words = this.describe(action, this.now);
        if (words !== undefined) this.did.push(words);
        queue.push(...this.answer(action, this.now));
      }
    }
    return this;
  }

  /** Moves time on by `ms`, firing each timer due by then, in order, at its due time. */
  advance(ms: number): this {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.timers].filter(([, at]) => at <= until).sort((a, b) => a[1] - b[1])[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1];
      this.send(this.timer(due[0]));
    }
    this.now = until;
    return this;
  }

  /** Fires the timer for `key` at `at`, whenever it was due: a tick that comes late (a stopped or busy process). */
  fireAt(key: Key, at: number): this {
    this.timers.delete(key);
    this.now = at;
    return this.send(this.timer(key));
  }

  /** The timers set now, by key, with their due times. */
  armed(): Record<string, number> {
    return Object.fromEntries(this.timers);
  }
}
