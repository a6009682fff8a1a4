import { canPassSockets, type ProcessHost } from '../platform/process-host.js';
import type { LaunchedBy } from './launched-by.js';

/*
 * Whether hot restart is on in this process, decided here and nowhere else.
 * Off under a file watcher (it restarts the app itself, and its restart
 * signal means "stop": the restart signal joins the stop signals), on a
 * platform that cannot pass sockets (the restart signal is not handled at
 * all), and as pid 1 outside `grace run` (the old generation's exit would end
 * the container: the signal is still handled, and refused). The lifecycle
 * holds the reason and refuses `restart()` with it; signals.ts handles the
 * restart signal as `restartSignalRole` says.
 */

/** Why the platform alone rules hot restart out, if it does (known before anything is read). */
export function platformOff(host: Pick<ProcessHost, 'platform'>): string | undefined {
  return canPassSockets(host) ? undefined : `hot restart is not available on ${host.platform}`;
}

/** Why hot restart is off in this process, if it is. */
export function restartOff(host: Pick<ProcessHost, 'platform' | 'pid'>, launchedBy: LaunchedBy, supervised: boolean): string | undefined {
  if (launchedBy.kind === 'watcher') return `hot restart is off under ${launchedBy.name}: it restarts the app itself`;
  const platform = platformOff(host);
  if (platform) return platform;
  // Our exit would end the container: run under `grace run` (or an init) instead.
  if (host.pid === 1 && !supervised) {
    return 'hot restart is not available as pid 1: the old generation exiting would end the container; run under `grace run` or `docker run --init`';
  }
  return undefined;
}

/**
 * What the restart signal does here: restart (the lifecycle may still refuse,
 * as pid 1), stop (under a file watcher), or nothing (restartSignal: false, or
 * a platform that cannot pass sockets).
 */
export function restartSignalRole(host: Pick<ProcessHost, 'platform'>, launchedBy: LaunchedBy, restartSignal: NodeJS.Signals | false): 'restart' | 'stop' | 'none' {
  if (restartSignal === false) return 'none';
  if (launchedBy.kind === 'watcher') return 'stop';
  return platformOff(host) ? 'none' : 'restart';
}
