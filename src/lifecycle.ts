/*
 * A generation's lifecycle as one table: its state, the events that move it,
 * and what to do for each. `Graceful` feeds it every event (signals, restart
 * requests, the new generation's word, the end of a drain) and carries out the
 * actions; nothing else changes the state. Being a pure function, the races
 * (a SIGTERM during a restart, a second restart, a stop while starting) are
 * tested against the table directly, and once each through real processes.
 */

/** Why this generation stopped serving. */
export type StopReason = 'handover' | 'signal' | 'stop';

export type GenerationState =
  /** Sockets claimed, the ready hook running; nothing is accepted yet. */
  | 'starting'
  | 'serving'
  /** Serving while a new generation starts. */
  | 'restarting'
  /** Not accepting; connections and registered closers finishing. */
  | 'draining'
  | 'stopped';

export interface Lifecycle {
  readonly state: GenerationState;
  readonly reason: StopReason | undefined;
  /**
   * The new generation said "ready"; the SIGTERM it sends right after is
   * still to come and is not a stop request.
   */
  readonly childSigtermDue: boolean;
  /** Under `grace run`: restarts are the supervisor's to make. */
  readonly supervised: boolean;
}

export type LifecycleEvent =
  /** Every server accepts: the ready hook resolved and the sockets were adopted. */
  | { type: 'started' }
  /** The restart signal, or `restart()`. */
  | { type: 'restart' }
  | { type: 'restart-failed' }
  /** The new generation wrote "ready" on its pipe. */
  | { type: 'child-ready' }
  /**
   * A handled signal, taken after the I/O of the turn it arrived in: a child
   * writes "ready" before it signals, so by then that word has been read.
   */
  | { type: 'signal'; signal: NodeJS.Signals; stopSignal: boolean }
  /** `stop()`, or the shared shutdown registry was shut down. */
  | { type: 'stop' }
  | { type: 'drained' };

export type Action =
  | { do: 'announce' }
  | { do: 'spawn' }
  | { do: 'ask-supervisor' }
  | { do: 'refuse'; code: 'ERR_GRACE_RESTART_IN_PROGRESS' | 'ERR_GRACE_NOT_SERVING'; why: 'in progress' | 'not ready' | 'shutting down' }
  | { do: 'report-failure' }
  | { do: 'drain'; reason: StopReason; signal: NodeJS.Signals | undefined }
  | { do: 'abandon-child' }
  | { do: 'force'; signal: NodeJS.Signals }
  /** Not a stop signal here: let it do what it would without grace (terminate). */
  | { do: 'default-action'; signal: NodeJS.Signals }
  | { do: 'finish' };

export function initialLifecycle(supervised: boolean): Lifecycle {
  return { state: 'starting', reason: undefined, childSigtermDue: false, supervised };
}

/** The one place the lifecycle changes: the next state and what to do. */
export function transition(now: Lifecycle, event: LifecycleEvent): { next: Lifecycle; actions: Action[] } {
  const to = (state: GenerationState, changes: Partial<Lifecycle> = {}) => ({ ...now, state, ...changes });
  const stay = (...actions: Action[]) => ({ next: now, actions });
  const { state } = now;
  switch (event.type) {
    case 'started':
      return state === 'starting' ? { next: to('serving'), actions: [{ do: 'announce' }] } : stay();

    case 'restart':
      if (state === 'serving') {
        return now.supervised ? stay({ do: 'ask-supervisor' }) : { next: to('restarting'), actions: [{ do: 'spawn' }] };
      }
      if (state === 'starting') return stay({ do: 'refuse', code: 'ERR_GRACE_NOT_SERVING', why: 'not ready' });
      if (state === 'restarting') return stay({ do: 'refuse', code: 'ERR_GRACE_RESTART_IN_PROGRESS', why: 'in progress' });
      return stay({ do: 'refuse', code: 'ERR_GRACE_NOT_SERVING', why: 'shutting down' });

    case 'restart-failed':
      return state === 'restarting' ? { next: to('serving'), actions: [{ do: 'report-failure' }] } : stay();

    case 'child-ready':
      // Too late once a stop abandoned the child: it was killed, never accepted.
      if (state !== 'restarting') return stay();
      return {
        next: to('draining', { reason: 'handover', childSigtermDue: true }),
        actions: [{ do: 'drain', reason: 'handover', signal: undefined }],
      };

    case 'signal': {
      const { signal, stopSignal } = event;
      if (signal === 'SIGTERM' && now.childSigtermDue) return { next: { ...now, childSigtermDue: false }, actions: [] };
      if (state === 'stopped') return stay({ do: 'default-action', signal });
      if (!stopSignal) {
        return stay(...(state === 'restarting' ? [{ do: 'abandon-child' } as const] : []), { do: 'default-action', signal });
      }
      if (state === 'draining') return stay({ do: 'force', signal });
      return stop(now, 'signal', signal);
    }

    case 'stop':
      return state === 'draining' || state === 'stopped' ? stay() : stop(now, 'stop', undefined);

    case 'drained':
      return state === 'draining' ? { next: to('stopped'), actions: [{ do: 'finish' }] } : stay();
  }
}

// A stop during a restart is a stop: the unready child goes too.
function stop(now: Lifecycle, reason: StopReason, signal: NodeJS.Signals | undefined): { next: Lifecycle; actions: Action[] } {
  const actions: Action[] = now.state === 'restarting' ? [{ do: 'abandon-child' }] : [];
  actions.push({ do: 'drain', reason, signal });
  return { next: { ...now, state: 'draining', reason }, actions };
}
