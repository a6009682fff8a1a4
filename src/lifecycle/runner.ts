import type { Log } from '../platform/logger.js';
import { DeadlineTimers } from '../platform/deadline-timers.js';
import { transition, type Action, type DeadlineKey, type Lifecycle, type LifecycleEvent } from './lifecycle.js';

/** The actions an owner carries out: all but the deadlines, which the runner keeps. */
export type OwnerAction = Exclude<Action, { do: 'arm' } | { do: 'disarm' }>;

/** Who carries out a lifecycle's actions: a generation (generation/graceful.ts) or a process with no server (shutdown/handle-signals.ts). */
export interface LifecycleOwner<R> {
  /** Carries out one action; what it gives is returned from `dispatch`. */
  carryOut(action: OwnerAction): R;
  /** After an event's actions were carried out: what follows from the move itself (signals no longer ours once stopped, say). */
  moved?(from: Lifecycle, to: Lifecycle): void;
}

/**
 * The one loop that moves a lifecycle: each event goes through the table
 * (`transition`), the move is logged at debug, the table's deadlines become
 * timers (platform/deadline-timers.ts) whose `timer` events come back here,
 * and every other action goes to the owner, in order.
 */
export class LifecycleRunner<R> {
  private now: Lifecycle;
  private readonly timers = new DeadlineTimers<DeadlineKey>((key) => this.dispatch({ type: 'timer', key }));

  constructor(
    initial: Lifecycle,
    private readonly log: () => Log,
    private readonly owner: LifecycleOwner<R>,
  ) {
    this.now = initial;
  }

  get lifecycle(): Lifecycle {
    return this.now;
  }

  /** Applies one event and carries out its actions; returns what the owner gave for each of its own. */
  dispatch(event: LifecycleEvent): R[] {
    const from = this.now;
    const { next, actions } = transition(from, event);
    if (next !== from || actions.length) {
      const what = actions.map((a) => a.do);
      this.log().debug(`${event.type}${describeEvent(event)}: ${from.state} -> ${next.state}${what.length ? ` (${what.join(', ')})` : ''}`, {
        event: 'transition',
        on: event.type,
        from: from.state,
        to: next.state,
        actions: what,
      });
    }
    this.now = next;
    const results: R[] = [];
    for (const action of actions) {
      if (action.do === 'arm') this.timers.arm(action.key, action.ms);
      else if (action.do === 'disarm') this.timers.disarm(action.key);
      else results.push(this.owner.carryOut(action));
    }
    this.owner.moved?.(from, next);
    return results;
  }
}

function describeEvent(event: LifecycleEvent): string {
  if (event.type === 'signal') return ` ${event.signal}`;
  if (event.type === 'timer') return ` ${event.key}`;
  return '';
}
