/*
 * Closing many long-lived connections at once makes all their clients
 * reconnect at once, to a new generation that has just started (cold code,
 * every handshake together): a reconnect storm. So closes go out a few at a
 * time: one every PER_CONNECTION_MS, or faster when that would take longer
 * than the window allows (`reconnectSpread`), so the last one goes out
 * within the window whatever the count. Timers are unref'd: the connections
 * being closed are what hold the process.
 */

/** The spacing between two closes when the window allows it. */
export const PER_CONNECTION_MS = 1;
// Closes due within one tick go out together: timers finer than this only cost wake-ups.
const TICK_MS = 10;

/** Somewhere to queue closes: they run spread over the window once the pace starts. */
export interface Pace {
  add(close: () => void): void;
}

/** Queued closes, run in order, spread over at most `window` ms once `start()` is called. */
export class ClosePace implements Pace {
  private readonly queue: Array<() => void> = [];
  private started: number | undefined;
  private step = 0;
  private done = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly window: number) {}

  /** Queued until `start()`; after it, runs at once (a latecomer, e.g. a stream begun during the drain). */
  add(close: () => void): void {
    this.queue.push(close);
    if (this.started !== undefined && this.timer === undefined) this.runUntil(this.queue.length);
  }

  /** How many closes were queued before the start. */
  get size(): number {
    return this.queue.length;
  }

  /** The window the queued closes take: `PER_CONNECTION_MS` each, within the bound. */
  get spreadMs(): number {
    return Math.min(this.queue.length * PER_CONNECTION_MS, this.window);
  }

  start(): void {
    if (this.started !== undefined) return;
    this.started = performance.now();
    this.step = this.queue.length > 0 ? this.spreadMs / this.queue.length : 0;
    this.run();
  }

  /** Drops the closes not yet run: the drain is over. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = this.done;
  }

  private run(): void {
    this.timer = undefined;
    const elapsed = performance.now() - this.started!;
    // The first close goes out at once; close i at i × step.
    this.runUntil(this.step === 0 ? this.queue.length : Math.floor(elapsed / this.step) + 1);
    if (this.done < this.queue.length) this.timer = setTimeout(() => this.run(), TICK_MS).unref();
  }

  private runUntil(count: number): void {
    const end = Math.min(count, this.queue.length);
    while (this.done < end) {
      const close = this.queue[this.done++]!;
      try {
        close();
      } catch {
        // A connection that closed meanwhile: nothing left to close.
      }
    }
  }
}
