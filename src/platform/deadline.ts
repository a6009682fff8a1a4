import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits for `promise` for at most `ms`: its value (or its rejection) when it
 * settles in time, else `late`. The timer is cancelled as soon as the wait is
 * over, so it never outlives it. `ref: false` lets the process exit while
 * only this timer is pending (a health check must not hold a stopping
 * process open).
 */
export async function deadline<T, L>(promise: PromiseLike<T>, ms: number, late: L, options: { ref?: boolean } = {}): Promise<T | L> {
  const wait = new AbortController();
  try {
    // The race subscribes to the timer, so its abort (a rejection) is handled.
    return await Promise.race([promise, sleep(ms, late, { signal: wait.signal, ref: options.ref ?? true })]);
  } finally {
    wait.abort();
  }
}

