import type { Readable } from 'node:stream';

/*
 * Why a worker failed, where the operator looks. The supervisor passes each
 * worker's stderr through to its own and keeps the last lines (bounded), so a
 * failed start or a crash can be reported with the app's own words: in the
 * supervisor's log, in the pid file (`grace status`), and by `grace reload`.
 * What passes through is bytes, never decoded: output that is not UTF-8
 * reaches the supervisor's stderr as the worker wrote it. Only the kept tail
 * is decoded, when a report asks for its lines.
 *
 * A crash loop at first start prints the same stack at every try. While a
 * slot's last start failed, the next start's stderr is held until it is
 * ready (then shown) or has failed: shown when it differs from the last
 * failure's, else dropped and counted, so the stack is printed once and then
 * "the same error output N more times".
 */

/** How much of a worker's stderr is kept for a report: the last lines, at most this many, in at most this many bytes. */
export const TAIL_LINES = 20;
export const TAIL_BYTES = 4096;
/** Held output past this is shown at once: a start that writes so much is not a repeating stack. */
const MAX_HELD = 64 * 1024;

/** The last lines of a stream, bounded by TAIL_LINES and TAIL_BYTES (a longer line keeps its end). */
export class StderrTail {
  private bytes = Buffer.alloc(0);

  push(chunk: Buffer): void {
    const joined = Buffer.concat([this.bytes, chunk.subarray(-TAIL_BYTES * 2)]);
    let start = Math.max(0, joined.length - TAIL_BYTES * 2);
    // Cut at a character: skip the continuation bytes of one cut in two.
    while (start > 0 && start < joined.length && (joined[start]! & 0xc0) === 0x80) start++;
    this.bytes = start === 0 ? joined : Buffer.from(joined.subarray(start));
  }

  /** The kept lines, decoded (bytes that are not UTF-8 read as U+FFFD: this is a report, not the output). */
  lines(): string[] {
    const lines = this.bytes.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    const kept: string[] = [];
    let bytes = 0;
    for (const line of lines.reverse()) {
      if (kept.length === TAIL_LINES || bytes >= TAIL_BYTES) break;
      const room = TAIL_BYTES - bytes;
      const piece = line.length > room ? `…${line.slice(-room)}` : line;
      kept.push(piece);
      bytes += piece.length + 1;
    }
    return kept.reverse();
  }
}

/** One slot's stderr across its launches: whether the last start failed, with what output, and how often. */
export class SlotStderr {
  private lastFailure: Buffer | undefined;
  private repeats = 0;

  constructor(private readonly write: Write) {}

  /** Starts passing a new launch's stderr through (held, while this slot's last start failed). */
  attach(stream: Readable | null | undefined, write: Write = this.write): WorkerStderr {
    return new WorkerStderr(stream, write, this.lastFailure !== undefined, this);
  }

  /** A start failed with `output`: whether it was the same as the last failure's, and how many times in a row now. */
  failedWith(output: Buffer): { same: boolean; times: number } {
    // No output is nothing to repeat (an env file that could not be read, a kill).
    const same = output.length > 0 && this.lastFailure !== undefined && output.equals(this.lastFailure);
    this.repeats = same ? this.repeats + 1 : 1;
    this.lastFailure = output;
    return { same, times: this.repeats };
  }

  /** A worker was ready here: the loop is over. */
  recovered(): void {
    this.lastFailure = undefined;
    this.repeats = 0;
  }
}

/** Where a worker's stderr goes: bytes, as read. */
export type Write = (bytes: Buffer) => void;

/** One launch's stderr: passed through (or held), its tail kept. */
export class WorkerStderr {
  readonly tail = new StderrTail();
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** What it wrote while starting (bounded), to compare with the last failure's. */
  private all: Buffer[] | undefined = [];
  private allBytes = 0;

  constructor(
    stream: Readable | null | undefined,
    private readonly write: Write,
    hold: boolean,
    private readonly slot: SlotStderr,
  ) {
    this.held = hold ? [] : undefined;
    stream?.on('data', (chunk: Buffer) => this.data(chunk));
    stream?.on('error', () => {}); // a worker's dying pipe: its exit says why
  }

  /** Ready: what was held is shown, and the slot's loop is over. */
  ready(): void {
    this.all = undefined; // only a failed start is compared
    this.release();
    this.slot.recovered();
  }

  /**
   * Failed before it was ready: held output is shown unless it is the same
   * as the last failure's. Returns how many times in a row it was the same.
   */
  failed(): { repeated: number } {
    const { same, times } = this.slot.failedWith(Buffer.concat(this.all ?? []));
    if (same && this.held) {
      this.held = undefined; // not shown again
      return { repeated: times - 1 };
    }
    this.release();
    return { repeated: 0 };
  }

  private data(chunk: Buffer): void {
    this.tail.push(chunk);
    if (this.all !== undefined && this.allBytes <= MAX_HELD) {
      this.all.push(chunk);
      this.allBytes += chunk.length;
    }
    if (!this.held) return this.write(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > MAX_HELD) this.release();
  }

  private release(): void {
    const held = this.held;
    this.held = undefined;
    if (held?.length) this.write(Buffer.concat(held));
  }
}
