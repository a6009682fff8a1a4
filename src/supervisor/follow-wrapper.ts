import type { ProcessHost } from '../platform/process-host.js';
import { readStat } from '../platform/proc.js';
import { isSameLiveProcess } from '../reporting/pid-file.js';

/*
 * `npx grace run …`, `npm exec`, `npm start`: npm runs the command through
 * `sh -c`, and on SIGTERM it passes the signal to that shell and exits. The
 * shell dies without passing it on (dash waits for its command rather than
 * exec'ing it), so grace run is reparented and serves on, holding the
 * address, with nobody left to stop it. Under a package manager (or the tsx
 * CLI), grace run therefore follows the wrapper that started it: once that
 * process is gone, grace run stops as on SIGTERM, its workers draining.
 *
 * How it tells, each time the table's `wrapper` deadline comes (every
 * FOLLOW_INTERVAL_MS, core/settings.ts): the wrapper's pid still names the
 * process it named at the start (its start time from /proc; a zombie counts
 * as gone), and our parent pid has not changed (a reparent: the only sign
 * where /proc cannot be read, or where the wrapper was not found). The
 * wrapper itself, not only the parent: a shell in between outlives a
 * SIGKILLed npm. Node has no PR_SET_PDEATHSIG and no event for a parent's
 * death, and npm holds no pipe of ours whose end we could wait for; a
 * kill(0), a small /proc read and getppid() per look cost a few
 * microseconds, and the address is held at most FOLLOW_INTERVAL_MS longer.
 *
 * Under systemd or Docker, `grace run` is started directly (the examples
 * call it so): there is no wrapper, and nothing to follow.
 */

/** The wrapper that started `grace run`, as launched-by.ts found it, and our parent then. */
export interface Wrapper {
  name: string;
  /** Its pid, where /proc told it; else only the parent is watched. */
  pid: number | undefined;
  /** Our parent pid at the start. */
  parent: number;
}

/** Returns the look: why the wrapper (or our parent) is gone, or undefined while it is there. */
export function wrapperLook(host: ProcessHost, wrapper: Wrapper): () => string | undefined {
  const start = wrapper.pid === undefined ? undefined : readStat(wrapper.pid)?.startTime;
  return () =>
    wrapper.pid !== undefined && !isSameLiveProcess(wrapper.pid, start)
      ? `${wrapper.name} pid ${wrapper.pid}, which started grace run, exited`
      : host.ppid() !== wrapper.parent
        ? `the parent of grace run (pid ${wrapper.parent}, under ${wrapper.name}) exited`
        : undefined;
}
