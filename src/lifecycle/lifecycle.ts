import type { GraceError } from '../platform/errors.js';
import type { Arm, Disarm, TimerEvent } from '../platform/deadline-timers.js';

/*
 * The lifecycle of a process grace runs, as one table: its state, the events
 * that move it, and what to do for each. A generation serving sockets
 * (generation/graceful.ts) and a process with no server
 * (shutdown/handle-signals.ts) both feed it every event (signals, restart
 * requests, the new generation's word, the supervisor's, the end of a drain,
 * its own deadlines) through one runner (runner.ts), which carries out the
 * actions; `transition` is the only place the state changes, from the
 * initial state on (even what start-up learns arrives as an event). Being a
 * pure function, the races (a SIGTERM during a restart, a second restart, a
 * stop while starting, a deadline that fires late) are tested against the
 * table directly, and once each through real processes.
 */

/**
 * Why this generation stopped serving: a successor took over, a stop signal,
 * `stop()` (or the shared registry was shut down), or an uncaught error with
 * crash handling on.
 */
export type StopReason = 'handover' | 'signal' | 'stop' | 'crash';

export type GenerationState =
  /** Sockets claimed, the ready hook running; nothing is accepted yet. */
  | 'starting'
  | 'serving'
  /** Serving while a new generation starts. */
  | 'restarting'
  /**
   * A stop was asked for, with a stop delay: still accepting and serving, but
   * readiness says "going away" so load balancers take us out of rotation.
   */
  | 'leaving'
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
  /** How long a stop leaves before it drains, in ms (`stopDelay`, GRACE_STOP_DELAY); 0: it drains at once. */
  readonly stopDelay: number;
  /** While leaving: the signal that asked for the stop, if one did. */
  readonly stopSignal: NodeJS.Signals | undefined;
  /** Why hot restart is off in this process (a file watcher, the platform, pid 1), if it is. */
  readonly restartOff: string | undefined;
  /**
   * An uncaught error was handled (crash handling on): whatever ends this
   * generation, a stop or a handover, it exits with status 1.
   */
  readonly crashed: boolean;
  /** The `standby` option: the next generation is booted ahead and parked, STANDBY_AFTER_MS after this one serves. */
  readonly standby: boolean;
}

/**
 * The lifecycle's own deadlines: the stop delay, while leaving; `standby`,
 * while serving with the `standby` option: when the next generation is booted.
 */
export type DeadlineKey = 'stop-delay' | 'standby';

/**
 * How long a generation serves before it boots its standby, ms: a while
 * after it serves (a start, or a failed restart), so that its first
 * connections (those its predecessor's drain sends over) are answered before
 * node boots beside it, and before node's spawn() blocks its event loop
 * until the exec (4–60 ms measured on a loaded machine).
 */
export const STANDBY_AFTER_MS = 100;

export type LifecycleEvent =
  /**
   * Start-up read who started us: under `grace run` or not, and whether hot
   * restart is off here (and why). Facts, not a move: the state stays.
   */
  | { type: 'starter-known'; supervised: boolean; restartOff: string | undefined }
  /** Every server accepts (the ready hook resolved, the sockets were adopted), or a process with no server is ready. */
  | { type: 'started' }
  /** The restart signal, or `restart()`. */
  | { type: 'restart' }
  /** The next generation failed to become ready (or was abandoned), and why. */
  | { type: 'restart-failed'; error?: GraceError }
  /** The new generation wrote "ready" on its pipe. */
  | { type: 'child-ready' }
  /**
   * A handled signal, taken after the channels were read to their end: a
   * child writes "ready" before it signals (the supervisor "retire"), so by
   * then that word has been heard.
   */
  | { type: 'signal'; signal: NodeJS.Signals; stopSignal: boolean }
  /**
   * `stop()` (`delay: true`), or the shared shutdown registry was shut down
   * by the app (`delay: false`: its closers are already running).
   */
  | { type: 'stop'; delay: boolean }
  /** A deadline is due: `stop-delay`, the stop delay is over. */
  | TimerEvent<DeadlineKey>
  /**
   * Under `grace run`, the supervisor wrote "retire": a successor serves our
   * sockets, and the SIGTERM that follows is a handover, not a stop.
   */
  | { type: 'retire' }
  /**
   * Whoever started us died (EOF on the ready channel): the supervisor, at
   * any time, or a direct-mode parent before we said "ready" (ready-pipe.ts
   * says why). Stop now, with no delay: a new start must find the port free.
   */
  | { type: 'starter-gone' }
  /** An uncaught exception or unhandled rejection, with crash handling on. */
  | { type: 'crash' }
  | { type: 'drained' };

export type Action =
  | { do: 'announce' }
  | { do: 'spawn' }
  | { do: 'ask-supervisor' }
  | { do: 'refuse'; code: 'ERR_GRACE_RESTART_IN_PROGRESS' | 'ERR_GRACE_NOT_SERVING'; why: 'in progress' | 'not ready' | 'shutting down' }
  | { do: 'refuse'; code: 'ERR_GRACE_RESTART_FAILED'; why: 'unavailable'; detail: string }
  | { do: 'report-failure'; error: GraceError | undefined }
  /** A child that failed after a stop abandoned it: nothing to report but the log line. */
  | { do: 'note-abandoned'; error: GraceError | undefined }
  | { do: 'drain'; reason: StopReason; signal: NodeJS.Signals | undefined }
  | { do: 'abandon-child' }
  /** The stop delay begins (its deadline is armed beside it): readiness turns to "going away". */
  | { do: 'leave'; reason: StopReason; signal: NodeJS.Signals | undefined }
  | Arm<DeadlineKey>
  | Disarm<DeadlineKey>
  | { do: 'force'; signal: NodeJS.Signals }
  /** Not a stop signal here: let it do what it would without grace (terminate). */
  | { do: 'default-action'; signal: NodeJS.Signals }
  /** Serving a while with the `standby` option: the next generation is booted ahead and parked. */
  | { do: 'boot-standby' }
  /** The drain is over: exit, with status 1 if `crashed` (else as the drain went). */
  | { do: 'finish'; crashed: boolean };

/** Starting: not supervised and restartable until start-up says otherwise (`starter-known`); no stop delay and no standby unless given. */
export function initialLifecycle(facts: { supervised?: boolean; stopDelay?: number; restartOff?: string; standby?: boolean } = {}): Lifecycle {
  const { supervised = false, stopDelay = 0, restartOff, standby = false } = facts;
  return { state: 'starting', reason: undefined, childSigtermDue: false, supervised, stopDelay, stopSignal: undefined, crashed: false, restartOff, standby };
}

/** The one place the lifecycle changes: the next state and what to do. */
export function transition(now: Lifecycle, event: LifecycleEvent): { next: Lifecycle; actions: Action[] } {
  const to = (state: GenerationState, changes: Partial<Lifecycle> = {}) => ({ ...now, state, ...changes });
  const stay = (...actions: Action[]) => ({ next: now, actions });
  const { state } = now;
  switch (event.type) {
    case 'starter-known':
      return { next: { ...now, supervised: event.supervised, restartOff: event.restartOff }, actions: [] };

    case 'started':
      return state === 'starting' ? { next: to('serving'), actions: [{ do: 'announce' }, ...bootStandbyLater(now)] } : stay();

    case 'restart':
      if (now.restartOff) return stay({ do: 'refuse', code: 'ERR_GRACE_RESTART_FAILED', why: 'unavailable', detail: now.restartOff });
      if (state === 'serving') {
        return now.supervised ? stay({ do: 'ask-supervisor' }) : { next: to('restarting'), actions: [...noStandbyBoot(now), { do: 'spawn' }] };
      }
      if (state === 'starting') return stay({ do: 'refuse', code: 'ERR_GRACE_NOT_SERVING', why: 'not ready' });
      if (state === 'restarting') return stay({ do: 'refuse', code: 'ERR_GRACE_RESTART_IN_PROGRESS', why: 'in progress' });
      return stay({ do: 'refuse', code: 'ERR_GRACE_NOT_SERVING', why: 'shutting down' });

    case 'restart-failed':
      if (state !== 'restarting') return stay({ do: 'note-abandoned', error: event.error });
      // Crashed while it started: nothing better will serve, so the stop the crash put off begins.
      if (now.crashed) {
        const stopping = stop(to('serving'), 'crash', undefined, false);
        return { next: stopping.next, actions: [{ do: 'report-failure', error: event.error }, ...stopping.actions] };
      }
      return { next: to('serving'), actions: [{ do: 'report-failure', error: event.error }, ...bootStandbyLater(now)] };

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
      // A second stop signal skips the rest of the delay.
      if (state === 'leaving') return stop(now, 'signal', signal, false);
      return stop(now, 'signal', signal, true);
    }

    case 'stop':
      return state === 'draining' || state === 'stopped' || state === 'leaving' ? stay() : stop(now, 'stop', undefined, event.delay);

    case 'timer':
      // Fired late (serving ended first; a second signal, a retire or a crash ended the delay first): nothing left to do.
      if (event.key === 'standby') return state === 'serving' ? stay({ do: 'boot-standby' }) : stay();
      return state === 'leaving' ? drain(now, now.reason!, now.stopSignal, []) : stay();

    case 'retire':
      // Only a generation that said "ready" is retired; a stop already under way goes on.
      if (state !== 'serving' && state !== 'restarting' && state !== 'leaving') return stay();
      return {
        next: to('draining', { reason: 'handover', childSigtermDue: true, stopSignal: undefined }),
        actions: [...endDelay(now), { do: 'drain', reason: 'handover', signal: undefined }],
      };

    case 'starter-gone':
      if (state === 'draining' || state === 'stopped') return stay();
      return stop(now, 'signal', undefined, false);

    case 'crash':
      // A stop under way goes on, but it now ends with status 1.
      if (state === 'draining' || state === 'stopped') return { next: { ...now, crashed: true }, actions: [] };
      // A new generation is starting on our sockets: it is the best place for
      // traffic, and abandoning it would leave them unserved until a restart.
      // Serve on, hand over once it is ready (or stop if it fails), exit 1.
      if (state === 'restarting') return { next: { ...now, crashed: true }, actions: [] };
      // Otherwise the process is suspect: no delay, drain now.
      return stop({ ...now, crashed: true }, 'crash', undefined, false);

    case 'drained':
      return state === 'draining' ? { next: to('stopped'), actions: [{ do: 'finish', crashed: now.crashed }] } : stay();
  }
}

// A stop during a restart is a stop: the unready child goes too. With
// `delay`, a serving generation with a stop delay leaves first; one still
// starting accepts nothing yet, so it has nothing to leave, and one that
// crashed is suspect, so it does not linger.
function stop(now: Lifecycle, reason: StopReason, signal: NodeJS.Signals | undefined, delay: boolean): { next: Lifecycle; actions: Action[] } {
  const actions: Action[] = now.state === 'restarting' ? [{ do: 'abandon-child' }] : noStandbyBoot(now);
  if (delay && now.stopDelay > 0 && now.state !== 'starting' && !now.crashed) {
    actions.push({ do: 'leave', reason, signal }, { do: 'arm', key: 'stop-delay', ms: now.stopDelay });
    return { next: { ...now, state: 'leaving', reason, stopSignal: signal }, actions };
  }
  return drain(now, reason, signal, [...actions, ...endDelay(now)]);
}

function drain(now: Lifecycle, reason: StopReason, signal: NodeJS.Signals | undefined, first: Action[]): { next: Lifecycle; actions: Action[] } {
  return { next: { ...now, state: 'draining', reason, stopSignal: undefined }, actions: [...first, { do: 'drain', reason, signal }] };
}

// The standby option, with a restart of our own to make (not under grace run, restarts on).
function standbyOn(now: Lifecycle): boolean {
  return now.standby && !now.supervised && !now.restartOff;
}

// Serving with a standby: its boot, a while from now.
function bootStandbyLater(now: Lifecycle): Action[] {
  return standbyOn(now) ? [{ do: 'arm', key: 'standby', ms: STANDBY_AFTER_MS }] : [];
}

// Serving ends (a restart, a stop) before the standby's boot came: it does not come.
function noStandbyBoot(now: Lifecycle): Action[] {
  return now.state === 'serving' && standbyOn(now) ? [{ do: 'disarm', key: 'standby' }] : [];
}

// Leaving ends before its deadline (a second signal, a retire, a crash, the starter gone): the delay's timer goes.
function endDelay(now: Lifecycle): Action[] {
  return now.state === 'leaving' ? [{ do: 'disarm', key: 'stop-delay' }] : [];
}
