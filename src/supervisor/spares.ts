import type { Log } from '../platform/logger.js';
import { Launch, resolveEnv, type LaunchSpec, type ResolvedLaunchSpec } from '../protocol/launcher.js';
import { fitOrDrop, launchNext, Standby } from '../protocol/standby.js';

/*
 * `grace run --standby K`: K workers booted ahead and parked before any of
 * the app runs (protocol/standby.ts), holding the supervisor's sockets as
 * fds. Every start of a worker (a rolling reload, a crash replacement, a
 * restart after backoff) takes a parked spare that is still what a fresh
 * spawn would be, released with that worker's environment (its slot, its
 * generation); otherwise it spawns afresh. Spares are refilled when the
 * table says (its `refill` deadline, once the starts are over: core/spares.ts),
 * booted with the last start's command.
 */
export class Spares {
  private readonly spares: Standby[] = [];
  private template: ResolvedLaunchSpec | undefined;
  private closed = false;
  /** A spare booted, parked or died: what status shows changed. */
  onChange: () => void = () => {};

  constructor(
    private readonly count: number,
    private readonly log: Log,
  ) {}

  /** Starts a worker for `spec`: a fit spare released, else a fresh spawn. */
  launch(given: LaunchSpec): Launch {
    if (this.count === 0) return new Launch(given);
    let spec: ResolvedLaunchSpec;
    try {
      spec = resolveEnv(given);
    } catch (err) {
      // An env file that cannot be read: this launch fails, and reports why.
      return new Launch({
        ...given,
        env: () => {
          throw err;
        },
      });
    }
    this.template = spec;
    return launchNext(spec, this.take(spec), this.log);
  }

  /** The spares' pids, parked or booting (for status). */
  pids(): Array<{ pid: number; parked: boolean; startedAt: number }> {
    return this.spares.filter((s) => !s.gone && s.pid !== undefined).map((s) => ({ pid: s.pid!, parked: s.parked, startedAt: s.startedAt }));
  }

  /** Stopping: every spare goes, and none is booted again. */
  close(): void {
    this.closed = true;
    for (const spare of this.spares.splice(0)) spare.drop();
  }

  // A spare that fits, parked ones first, then the one booting longest (it
  // is released all the same, and runs once parked); spares that can never
  // fit (the binary or the flags changed, dead) are dropped, with the reason.
  private take(spec: ResolvedLaunchSpec): Standby | undefined {
    for (const spare of [...this.spares.filter((s) => !s.booting), ...this.spares.filter((s) => s.booting)]) {
      this.spares.splice(this.spares.indexOf(spare), 1);
      if (fitOrDrop(spare, spec, this.log)) return spare;
    }
    return undefined;
  }

  /** Boots spares up to K with the last start's command (none before the first start, none once closed). */
  refill(): void {
    while (!this.closed && this.template && this.spares.filter((s) => !s.gone).length < this.count) {
      let spare: Standby | undefined;
      try {
        spare = Standby.boot(this.template, this.log);
      } catch (err) {
        // spawn() throws for some environments (a NUL byte, E2BIG): the next start spawns afresh and says why.
        this.log.debug(`no spare: ${(err as Error).message}`, { event: 'standby-unavailable', err });
      }
      if (!spare) return;
      spare.onChange = () => this.onChange();
      this.spares.push(spare);
    }
    this.onChange();
    for (const spare of this.spares.filter((s) => s.gone)) this.spares.splice(this.spares.indexOf(spare), 1);
  }
}
