import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { childProcess } from '../platform/builtin.js';
import { deadline } from '../platform/deadline.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';

/**
 * Reports to systemd (`Type=notify`) through the `systemd-notify` binary:
 * node has no unix datagram sockets to speak to `NOTIFY_SOCKET` itself.
 * A no-op when `NOTIFY_SOCKET` is unset; one log line when the binary is missing.
 */
export type Notify = (...assignments: string[]) => Promise<void>;

// systemd-notify normally answers in milliseconds; never hold a restart longer.
const NOTIFY_TIMEOUT_MS = 2000;

export function systemdNotifier(host: ProcessHost, logger: Log): Notify {
  const skip: Notify = async () => {};
  if (!host.env.NOTIFY_SOCKET) return skip;
  const binary = findOnPath('systemd-notify', host.env.PATH ?? '');
  if (!binary) {
    logger.warn('NOTIFY_SOCKET is set but systemd-notify is not on PATH: readiness is not reported to systemd', { event: 'notify-failed' });
    return skip;
  }
  return async (...assignments) => {
    // --pid names us as the sender (the service needs NotifyAccess=all).
    const child = childProcess().spawn(binary, [`--pid=${host.pid}`, ...assignments], { stdio: 'ignore', env: host.env });
    const done = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        logger.warn(`systemd-notify failed: ${err.message}`, { event: 'notify-failed', err });
        resolve();
      });
      child.on('exit', (code) => {
        if (code !== 0) logger.warn(`systemd-notify ${assignments.join(' ')} exited with code ${code}`, { event: 'notify-failed', code });
        resolve();
      });
    });
    await deadline(done, NOTIFY_TIMEOUT_MS, undefined);
  };
}

function findOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
