import type { Log } from '../platform/logger.js';
import { systemdNotifier, type Notify } from './notify.js';
import { readStat } from '../platform/proc.js';
import { removePidFile, writePidFile, type About, type PidFileState } from './pid-file.js';
import type { ProcessHost } from '../platform/process-host.js';
import { graceVersion } from '../platform/package-version.js';

/*
 * What the outside world is told about a service's state, in one place: the
 * pid file (for `grace reload` and systemd's PIDFile=) and sd_notify (for
 * systemd's Type=notify). Direct mode and `grace run` both report through it.
 */

export interface StatusOptions {
  pidFile: string | undefined;
  /** The signal that restarts the service (`null`: restarts are off). */
  signal: string | null;
  /** Direct mode: the main pid moves to each new generation, so say MAINPID. */
  mainPidMoves: boolean;
  /** Direct mode: what this generation runs (`processAbout`), written with every state. */
  about?: About;
}

/** What the pid file holds besides the state, the generation and the serving pid. */
type Extra = Pick<PidFileState, 'message' | 'workers' | 'size' | 'lastFailure' | 'about'> & { at?: number };

export class StatusReporter {
  private readonly notify: Notify;

  constructor(
    private readonly host: ProcessHost,
    private readonly logger: Log,
    private readonly options: StatusOptions,
  ) {
    this.notify = systemdNotifier(host, logger);
  }

  /** Serving: the pid file names us, then systemd hears READY (awaited: it must know before an old generation exits). */
  async serving(generation: number, servingPid: number, status?: string): Promise<void> {
    this.write('serving', generation, servingPid);
    await this.notify(...(this.options.mainPidMoves ? [`MAINPID=${this.host.pid}`] : []), 'READY=1', ...(status ? [`STATUS=${status}`] : []));
  }

  restarting(generation: number, servingPid: number): void {
    this.write('restarting', generation, servingPid);
    void this.notify('RELOADING=1');
  }

  /** A restart failed; the service still serves as before. */
  failed(generation: number, servingPid: number, message: string): void {
    this.write('failed', generation, servingPid, { message });
    void this.notify('READY=1');
  }

  /** Under `grace run`: systemd hears READY=1 (all workers ready, or a reload ended). */
  async notifyReady(status?: string): Promise<void> {
    await this.notify('READY=1', ...(status ? [`STATUS=${status}`] : []));
  }

  notifyReloading(): void {
    void this.notify('RELOADING=1');
  }

  /** Under `grace run`: the pid file, with its workers; `extra.at` is when a failure happened. */
  record(state: PidFileState['state'], generation: number, servingPid: number, extra: Extra): void {
    this.write(state, generation, servingPid, extra);
  }

  stopping(): void {
    void this.notify('STOPPING=1');
  }

  /** A final stop: the pid file goes, if it still names us. */
  stopped(): void {
    if (this.options.pidFile) removePidFile(this.options.pidFile, this.host.pid);
  }

  private write(state: PidFileState['state'], generation: number, serving: number, extra: Extra = {}): void {
    const path = this.options.pidFile;
    if (!path) return;
    try {
      writePidFile(path, {
        pid: this.host.pid,
        start: readStat(this.host.pid)?.startTime,
        generation,
        serving,
        signal: this.options.signal,
        state,
        ...defined({ ...extra, about: extra.about ?? this.options.about }),
        at: extra.at ?? Date.now(),
      });
    } catch (err) {
      this.logger.warn(`could not write pid file ${path}: ${(err as Error).message}`, { event: 'pid-file-failed', path, err });
    }
  }
}

function defined<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** Direct mode's `about`: this generation's command (node, its flags, the script), cwd, node's own env files, and the process's own facts. */
export function processAbout(host: ProcessHost): About {
  return {
    command: [host.execPath, ...host.execArgv, ...host.argv.slice(1)],
    cwd: host.cwd(),
    envFiles: (host.envFiles?.files ?? []).map((f) => f.path),
    ...ownFacts(host),
  };
}

/** What any process that writes a pid file says of itself: node, grace's version, its start (direct mode and `grace run` alike). */
export function ownFacts(host: ProcessHost): Pick<About, 'node' | 'grace' | 'startedAt'> {
  const grace = graceVersion();
  return { node: { version: process.version, path: host.execPath }, ...(grace ? { grace } : {}), startedAt: Math.round(performance.timeOrigin) };
}
