import { GraceError } from '../platform/errors.js';
import { nonUtf8Warning } from '../platform/non-utf8.js';
import { nextGenerationSpec } from '../protocol/next-generation.js';
import { fitOrDrop, graceBundle, launchNext, Standby, undiciLoaded } from '../protocol/standby.js';
import type { Action } from '../lifecycle/lifecycle.js';
import { addresses, type GenerationContext } from './context.js';
import { RestartAttempt } from './restart-attempt.js';

type Refuse = Extract<Action, { do: 'refuse' }>;

/**
 * Carrying out the lifecycle's restart actions: spawn the next generation
 * (direct mode), ask the supervisor (under `grace run`), or refuse. Each
 * returns the promise a `restart()` caller waits for: the new pid, or why not.
 */
export class Restarts {
  private attempt: RestartAttempt | undefined;
  /** The next generation, booted ahead and parked (`standby` option). */
  private standby: Standby | undefined;

  constructor(private readonly g: GenerationContext) {}

  spawn(): Promise<number> {
    const { g } = this;
    const lossy = nonUtf8Warning(g.host.pid, g.host.env, 'the new generation');
    if (lossy) g.log.warn(lossy, { event: 'non-utf8' });
    const attempt = new RestartAttempt(g.host, g.net, {
      readyTimeout: g.options.readyTimeout,
      beforeRestart: g.options.beforeRestart,
      generation: g.generation + 1,
      ...(g.options.standby && { launch: (spec) => launchNext(spec, fitOrDrop(this.takeStandby(), spec, g.log), g.log) }),
      onSpawned: (pid) => {
        g.log.info(`Starting new generation pid ${pid} from pid ${g.host.pid}`, { event: 'restart', child: pid });
        g.events.emit('restart', { pid });
      },
      // In the turn the word is read (by the loop, or by `readChildNow` before
      // a signal is taken): the SIGTERM that follows it must find the
      // handover begun. Until that SIGTERM is in, the successor stays
      // referenced and our signal handlers stay (`successorSignalled`
      // releases it), so a drain that ends first never lets this process
      // exit, or drop its handlers, before the signal lands.
      onReady: (pid) => {
        g.dispatch({ type: 'child-ready' });
        if (g.lifecycle().reason !== 'handover') return; // a stop won: abandon-child stopped it
        g.log.info(`Graceful handoff of ${g.where} with new pid ${pid} and old pid ${g.host.pid}`, { event: 'handover', child: pid, addresses: addresses(g) });
        g.events.emit('handover', { pid });
      },
    });
    this.attempt = attempt;
    g.status?.restarting(g.generation, g.host.pid);
    attempt.ready.catch((error: GraceError) => {
      if (this.attempt === attempt) this.attempt = undefined;
      g.dispatch({ type: 'restart-failed', error });
    });
    return attempt.ready;
  }

  /** The attempt failed: this generation serves on, or (had it crashed meanwhile) stops. */
  reportFailure(error: GraceError | undefined): void {
    const { g } = this;
    const message = error?.message ?? 'the new generation failed';
    if (g.lifecycle().crashed) {
      g.log.error(`restart failed: ${message}; pid ${g.host.pid} had crashed, so it stops`, { event: 'restart-failed', err: error });
    } else {
      g.log.error(`restart failed: ${message}; still serving with pid ${g.host.pid}`, { event: 'restart-failed', err: error });
      g.status?.failed(g.generation, g.host.pid, message);
    }
    if (error) g.events.emit('restart-failed', error);
  }

  /** The lifecycle's `boot-standby` (the option on, serving a while, a restart of our own to make): boot the next generation ahead and park it. */
  bootStandby(): void {
    const { g } = this;
    if (this.standby) return;
    const handoff = g.net.handoff();
    if (handoff.fds.length === 0) return;
    try {
      this.standby = Standby.boot(nextGenerationSpec(g.host, handoff, g.generation + 1, g.options.readyTimeout), g.log, { warm: undiciLoaded() ? 'undici' : undefined, grace: graceBundle(), script: g.host.argv[1] });
    } catch (err) {
      g.log.debug(`no standby: ${(err as Error).message}`, { event: 'standby-unavailable', err });
    }
  }

  /** Stopping: a parked standby goes. */
  dropStandby(): void {
    this.takeStandby()?.drop();
  }

  private takeStandby(): Standby | undefined {
    const standby = this.standby;
    this.standby = undefined;
    return standby;
  }

  /**
   * Before a signal is taken: hears now what the child being started wrote
   * ahead of it. A "ready" read here is dispatched before the signal, so the
   * child's SIGTERM is never taken for a stop (platform/channel-words.ts).
   */
  readChildNow(): void {
    this.attempt?.readNow();
  }

  /** The child being started, for the log. */
  get childPid(): number | undefined {
    return this.attempt?.pid;
  }

  noteAbandoned(error: GraceError | undefined): void {
    this.g.log.info(`new generation abandoned: ${error?.message}`, { event: 'child-abandoned', err: error });
  }

  /** A stop during a restart: the child goes too. */
  abandonChild(): void {
    const attempt = this.attempt;
    if (!attempt) return;
    const ready = attempt.abandon(`stopping before pid ${attempt.pid ?? '(not spawned)'} was ready`);
    if (ready !== undefined) this.g.log.info(`stopping new generation pid ${ready}: this one is stopping`, { event: 'child-stopped', child: ready });
  }

  /** The successor's SIGTERM is in: nothing of the protocol is left to wait for. */
  successorSignalled(): void {
    this.attempt?.release();
  }

  // Under `grace run` the supervisor starts generations; pass the request on,
  // but only to the supervisor that is still our parent (never a recycled pid).
  askSupervisor(): Promise<number> {
    const { g } = this;
    const supervisor = g.starter!.pid;
    const ppid = g.host.ppid();
    if (ppid !== supervisor) {
      return this.refuse(new GraceError('ERR_GRACE_RESTART_FAILED', `supervisor pid ${supervisor} is no longer our parent (parent is pid ${ppid})`));
    }
    g.log.info(`supervised: asking supervisor pid ${supervisor} to restart`, { event: 'ask-supervisor', supervisor });
    try {
      g.host.kill(supervisor, 'SIGUSR2');
      return Promise.resolve(supervisor);
    } catch (cause) {
      return Promise.reject(new GraceError('ERR_GRACE_RESTART_FAILED', `cannot signal supervisor pid ${supervisor}`, { cause }));
    }
  }

  /** The table said no: tell the caller, the log and the listeners why. */
  refuseFor(action: Refuse): Promise<never> {
    return this.refuse(this.refusal(action));
  }

  private refuse(error: GraceError): Promise<never> {
    this.g.log.warn(`restart refused: ${error.message}`, { event: 'restart-refused', err: error });
    this.g.events.emit('restart-refused', error);
    return Promise.reject(error);
  }

  private refusal(action: Refuse): GraceError {
    if (action.why === 'unavailable') return new GraceError(action.code, action.detail);
    if (action.why === 'in progress') {
      const pid = this.attempt?.pid === undefined ? '' : ` (new pid ${this.attempt.pid})`;
      return new GraceError(action.code, `a restart is already in progress${pid}`);
    }
    return new GraceError(action.code, `pid ${this.g.host.pid} is ${action.why === 'not ready' ? 'not ready yet' : 'shutting down'}`);
  }
}
