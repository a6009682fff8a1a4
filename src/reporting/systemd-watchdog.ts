import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import { systemdNotifier, type Notify } from './notify.js';

/*
 * systemd's watchdog (`WatchdogSec=`): systemd sets WATCHDOG_USEC (and
 * WATCHDOG_PID, the process it watches) and restarts the service unless it
 * hears WATCHDOG=1 within that time. `grace run` says it at half the
 * interval, from its event loop: a supervisor that hangs is restarted; its
 * workers' hangs are `--watchdog`'s (supervisor/core/heartbeats.ts).
 */

/** Starts petting when systemd asks for it; returns what stops it (a no-op otherwise). */
export function petSystemdWatchdog(host: ProcessHost, logger: Log, notify: Notify = systemdNotifier(host, logger)): () => void {
  const usec = host.env.WATCHDOG_USEC;
  const forPid = host.env.WATCHDOG_PID;
  if (!usec || (forPid && forPid !== String(host.pid))) return () => {};
  const ms = Number(usec) / 1000;
  if (!/^\d+$/.test(usec) || ms < 1 || ms / 2 > 2 ** 31 - 1) {
    logger.warn(`WATCHDOG_USEC=${JSON.stringify(usec)} is not a usable interval in microseconds: systemd's watchdog is not petted`, { event: 'watchdog-env' });
    return () => {};
  }
  const every = Math.max(1, Math.floor(ms / 2));
  logger.debug(`petting systemd's watchdog every ${every} ms`, { event: 'systemd-watchdog', every });
  void notify('WATCHDOG=1');
  const timer = setInterval(() => void notify('WATCHDOG=1'), every);
  timer.unref();
  return () => clearInterval(timer);
}
