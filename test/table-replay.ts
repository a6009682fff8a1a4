// The pure tables (the lifecycle, the workers' table) are tested by feeding
// them events in order: one replay loop for all of them.

/** Feeds `events` to `apply` from `from`; returns the final state and every action, as `describe` words it. */
export function replay<State, Event, Action>(
  apply: (now: State, event: Event) => { next: State; actions: Action[] },
  events: Event[],
  from: State,
  describe: (action: Action) => string,
): { now: State; did: string[] } {
  let now = from;
  const did: string[] = [];
  for (const event of events) {
    const result = apply(now, event);
    now = result.next;
    did.push(...result.actions.map(describe));
  }
  return { now, did };
}

/** A step of a timed replay: an event, or time passing on the table's fake clock. */
export type Step<Event> = Event | { wait: number };

type Deadline = { do: 'arm'; key: string; ms: number } | { do: 'disarm'; key: string };

/**
 * `replay` with a fake clock for the table's own deadlines: an `arm {key, ms}`
 * action sets `key` due `ms` from now, `disarm {key}` clears it, and a
 * `{ wait }` step moves the clock on, feeding `timer {key}` to the table for
 * each deadline that falls due, in order, at its time. What is still armed at
 * the end is returned (key → ms left). A `timer` event given as a step is a
 * timer that fired late, whatever the clock says.
 */
export function replayTimed<State, Event extends { type: string }, Action extends { do: string }>(
  apply: (now: State, event: Event) => { next: State; actions: Action[] },
  steps: Array<Step<Event>>,
  from: State,
  describe: (action: Action) => string,
): { now: State; did: string[]; armed: Map<string, number> } {
  let now = from;
  let clock = 0;
  const did: string[] = [];
  const due = new Map<string, number>();
  const feed = (event: Event) => {
    const result = apply(now, event);
    now = result.next;
    for (const action of result.actions) {
      const deadline = action as unknown as Deadline;
      if (deadline.do === 'arm') due.set(deadline.key, clock + deadline.ms);
      if (deadline.do === 'disarm') due.delete(deadline.key);
      did.push(describe(action));
    }
  };
  for (const step of steps) {
    if (!('wait' in step)) {
      feed(step);
      continue;
    }
    const until = clock + step.wait;
    for (;;) {
      const next = [...due].sort((a, b) => a[1] - b[1])[0];
      if (!next || next[1] > until) break;
      due.delete(next[0]);
      clock = next[1];
      feed({ type: 'timer', key: next[0] } as unknown as Event);
    }
    clock = until;
  }
  return { now, did, armed: new Map([...due].map(([key, at]) => [key, at - clock])) };
}
