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
