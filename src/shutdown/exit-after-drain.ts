import type { ProcessHost } from '../platform/process-host.js';

/** How long after a drain a still-busy event loop is waited for before exiting anyway. */
export const EXIT_GRACE_MS = 1000;

/**
 * After a managed stop has drained: set the exit status, let the process end
 * on its own if nothing holds the event loop, and exit anyway `EXIT_GRACE_MS`
 * later if something does (a timer, a socket, a pool the app left open) —
 * a stopped process must not linger. `onForced` is told before that exit.
 */
export function exitAfterDrain(host: ProcessHost, status: number, onForced: () => void = () => {}): void {
  host.setExitCode(status);
  setTimeout(() => {
    onForced();
    host.exit(status);
  }, EXIT_GRACE_MS).unref();
}
