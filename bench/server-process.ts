// A grace-served app run as a real process, followed through its log lines:
// which generation serves, when each handed over and exited, how much memory
// and how many fds they hold.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isSameLiveProcess } from '../src/reporting/pid-file.js';

export interface Generation {
  pid: number;
  servingAt: number; // performance.now() when it logged "Serving"
  handedOverAt?: number; // when the one before it logged the handoff to it
  exitedAt?: number;
}

const SERVING = /Serving (.+) with pid (\d+)$/;
const HANDOFF = /Graceful handoff of .* with new pid (\d+) and old pid (\d+)/;
const EXITING = /Exiting pid (\d+)/;

export class ServerProcess {
  readonly proc: ChildProcess;
  readonly generations: Generation[] = [];
  readonly log: string[] = [];
  address = '';
  /** Called with every stderr line of every generation (bench/cost.ts reads its app's marks). */
  readonly lineListeners: Array<(line: string, at: number) => void> = [];
  private waiters: Array<() => void> = [];

  /** `file`: what runs `args` (default this node; `setpriv` to start it with fewer privileges). */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, file = process.execPath) {
    this.proc = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let buffered = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        this.onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
  }

  private onLine(line: string): void {
    const now = performance.now();
    this.log.push(line);
    for (const listener of this.lineListeners) listener(line, now);
    if (this.log.length > 2000) this.log.splice(0, 1000);
    let m = SERVING.exec(line);
    if (m) {
      this.address ||= m[1]!.split(', ')[0]!;
      this.generations.push({ pid: Number(m[2]), servingAt: now });
    } else if ((m = HANDOFF.exec(line))) {
      const next = this.generations.find((g) => g.pid === Number(m![1]));
      if (next) next.handedOverAt = now;
    } else if ((m = EXITING.exec(line))) {
      const gone = this.generations.find((g) => g.pid === Number(m![1]));
      if (gone) gone.exitedAt = now;
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The generation that serves: the newest one handed over to (or the first). */
  get current(): Generation | undefined {
    const handedOver = this.generations.filter((g) => g.handedOverAt !== undefined);
    return handedOver.at(-1) ?? this.generations[0];
  }

  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(':') + 1));
  }

  alivePids(): number[] {
    return this.generations.filter((g) => g.exitedAt === undefined && isAlive(g.pid)).map((g) => g.pid);
  }

  async until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      // Only start-up failures: later generations are not our children, and
      // their log lines can arrive after the previous one has exited.
      if (this.proc.exitCode !== null && this.generations.length === 0) {
        throw new Error(`server exited with code ${this.proc.exitCode}; log:\n${this.log.slice(-20).join('\n')}`);
      }
      if (performance.now() > deadline) throw new Error(`server did not get there in ${timeoutMs} ms; log:\n${this.log.slice(-20).join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends USR2 to the current generation and waits until the next one serves and the old one exited. */
  async restart(timeoutMs = 30_000): Promise<{ sentAt: number; from: number; to: Generation }> {
    const from = this.current!;
    const sentAt = performance.now();
    process.kill(from.pid, 'SIGUSR2');
    await this.until(() => this.current !== from, timeoutMs);
    return { sentAt, from: from.pid, to: this.current! };
  }

  async stop(): Promise<void> {
    for (const pid of this.alivePids()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    await this.until(() => this.alivePids().length === 0, 40_000).catch(() => {
      for (const pid of this.alivePids()) process.kill(pid, 'SIGKILL');
    });
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  return isSameLiveProcess(pid, undefined);
}

/** Resident memory in kB, from /proc. */
export function rssKb(pid: number): number {
  return Number(statusField(pid, 'VmRSS')?.split(/\s+/)[0] ?? 0);
}

export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Zombies whose parent is one of `parents`: children someone forgot to reap. */
export function zombiesOf(parents: number[]): number {
  const wanted = new Set(parents);
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && wanted.has(Number(ppid))) count++;
    } catch {
      // exited meanwhile
    }
  }
  return count;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1];
  } catch {
    return undefined;
  }
}
