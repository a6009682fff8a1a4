import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { readThreads } from '../platform/proc.js';

/*
 * A standby boots beside the generation that serves: at the lowest priority
 * (nice 19), so its start-up takes only CPU the server leaves idle, and it
 * is given back its parent's priority as soon as it has parked, before it
 * waits for its release: a thread woken at nice 19 on a busy machine waits
 * behind every other runnable one, so a release at nice 19 would begin
 * late. Lowering a nice value back needs CAP_SYS_NICE or an RLIMIT_NICE that
 * allows it (`ulimit -e`, systemd's LimitNICE=); without either (an ordinary
 * user, a container's root without CAP_SYS_NICE) the standby boots at its
 * parent's priority instead. Linux only: elsewhere it is never lowered.
 */

/** The nice value a standby boots at when it can be restored. */
export const STANDBY_NICE = 19;

/** CAP_SYS_NICE's bit in /proc/<pid>/status's CapEff. */
const CAP_SYS_NICE = 23n;

/**
 * The priority to restore a standby to (ours, as a fresh spawn inherits it),
 * or undefined when a lowered one could not be restored: then it is not lowered.
 */
export function restorablePriority(platform: NodeJS.Platform = process.platform): number | undefined {
  if (platform !== 'linux') return undefined;
  try {
    const nice = getPriority();
    if (nice >= STANDBY_NICE) return undefined; // nothing lower to go to
    const status = readFileSync('/proc/self/status', 'utf8');
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (capEff !== undefined && (BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) return nice;
    // RLIMIT_NICE n lets a process go down to nice 20 - n (the soft limit counts).
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max nice priority\s+(\S+)/m.exec(limits)?.[1];
    if (soft === 'unlimited' || (soft !== undefined && 20 - Number(soft) <= nice)) return nice;
  } catch {
    // no /proc: do not lower
  }
  return undefined;
}

/**
 * Gives every thread of `pid` (Linux sets a nice value per thread) the
 * priority `nice`; false when one could not be (the park restores it again
 * on release).
 */
export function restorePriority(pid: number, nice: number): boolean {
  let restored = true;
  for (const tid of readThreads(pid)) {
    try {
      setPriority(tid, nice);
    } catch {
      restored = false; // a thread that ended meanwhile; the release sets them all again
    }
  }
  return restored;
}
