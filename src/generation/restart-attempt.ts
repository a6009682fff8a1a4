import { deadline } from '../platform/deadline.js';
import { GraceError } from '../platform/errors.js';
import { Launch, type ResolvedLaunchSpec } from '../protocol/launcher.js';
import type { Net } from '../sockets/net.js';
import { nextGenerationSpec } from '../protocol/next-generation.js';
import type { ProcessHost } from '../platform/process-host.js';

export interface RestartSettings {
  readyTimeout: number;
  beforeRestart: (() => void | Promise<void>) | undefined;
  /** The generation number the child will have. */
  generation: number;
  /** Called once the child is spawned. */
  onSpawned: (pid: number) => void;
  /** Called in the turn the child said "ready" (`ready` resolves later). */
  onReady: (pid: number) => void;
  /** Starts the child for `spec` (a released standby, say); default: a fresh spawn. */
  launch?: (spec: ResolvedLaunchSpec) => Launch;
}

/**
 * One attempt to start the next generation in direct mode: the beforeRestart
 * hook, then the launch, under one deadline (a hung hook must not leave the
 * restart "in progress" for ever). `ready` resolves with the child's pid when
 * it said "ready"; it rejects once a failed child is reaped.
 */
export class RestartAttempt {
  readonly ready: Promise<number>;
  private launch: Launch | undefined;
  private abandoned: string | undefined;

  constructor(host: ProcessHost, net: Net, settings: RestartSettings) {
    this.ready = this.run(host, net, settings);
    this.ready.catch(() => {}); // reported by the owner
  }

  /** The child being started, once spawned. */
  get pid(): number | undefined {
    return this.launch?.pid;
  }

  /**
   * Stops the attempt: a spawned child is killed; `ready` rejects once it is
   * reaped. A child that already said "ready" (in the same turn as the stop)
   * is asked to stop instead: it may be accepting already. Returns its pid then.
   */
  abandon(reason: string): number | undefined {
    this.abandoned ??= reason;
    if (this.launch?.state === 'ready') {
      this.launch!.signal('SIGTERM');
      this.launch!.release();
      return this.launch!.pid;
    }
    this.launch?.abandon(reason);
    return undefined;
  }

  /** Hears now what the child wrote before a signal arrived (its "ready" decides whose the signal is). */
  readNow(): void {
    this.launch?.readNow();
  }

  /** After "ready": the child lives on as the next generation. */
  release(): void {
    this.launch?.release();
  }

  private async run(host: ProcessHost, net: Net, settings: RestartSettings): Promise<number> {
    const started = performance.now();
    const fail = (message: string, cause?: unknown) => new GraceError('ERR_GRACE_RESTART_FAILED', message, { cause });
    if (settings.beforeRestart) {
      try {
        const hook = await deadline(Promise.resolve(settings.beforeRestart()), settings.readyTimeout, 'hung' as const);
        if (hook === 'hung') throw fail(`the beforeRestart hook did not finish within ${settings.readyTimeout} ms`);
      } catch (cause) {
        throw cause instanceof GraceError ? cause : fail(`the beforeRestart hook failed: ${(cause as Error)?.message ?? cause}`, cause);
      }
    }
    if (this.abandoned) throw fail(this.abandoned);
    const handoff = net.handoff();
    if (handoff.fds.length === 0) throw fail('nothing is listening to hand over');
    let spec;
    try {
      // What the hook took comes off the child's time.
      const left = settings.beforeRestart ? Math.max(0, Math.round(settings.readyTimeout - (performance.now() - started))) : settings.readyTimeout;
      spec = nextGenerationSpec(host, handoff, settings.generation, left);
    } catch (cause) {
      throw fail(`could not start the next generation: ${(cause as Error).message}`, cause);
    }
    const launch = (this.launch = settings.launch ? settings.launch(spec) : new Launch(spec));
    launch.onReady = () => settings.onReady(launch.pid!);
    if (launch.pid !== undefined) settings.onSpawned(launch.pid);
    await this.launch.outcome;
    return this.launch.pid!;
  }
}
