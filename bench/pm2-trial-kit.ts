// What every task of the PM2 side-by-side trial (bench/pm2-trial.ts) shares:
// requests and load on loopback, each bounded; a grace or pm2 command with its
// exit status, time and output; a `grace run` with its output kept line by
// line and everything it started killed by pid.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';
import { runLoad, type Samples } from './load.ts';
import type { Pm2Cluster } from './pm2.ts';
import { readPidFile } from '../src/reporting/pid-file.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** ms as seconds, one decimal: `1.4 s`. */
export const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export interface Answer {
  ok: boolean;
  pid: number;
  config: string;
  error?: string;
}

/** One request on its own connection (Connection: close), bounded. */
export function get(port: number, path = '/', timeoutMs = 2000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        const m = /pid (\d+) config (\S+)/.exec(body);
        resolve({ ok: res.statusCode === 200 && m !== null, pid: Number(m?.[1] ?? 0), config: m?.[2] ?? '' });
      });
      res.on('error', (err) => resolve({ ok: false, pid: 0, config: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ ok: false, pid: 0, config: '', error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

/** ms until the port answers 200, or throws. */
export async function untilAnswers(port: number, since: number, timeoutMs = 30_000): Promise<number> {
  while (performance.now() - since < timeoutMs) {
    if ((await get(port, '/', 1000)).ok) return performance.now() - since;
    await sleep(20);
  }
  throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms`);
}

/** Asks until `want` distinct workers answered (or 80 tries): each worker's pid → its TRIAL_CONFIG. */
export async function probeWorkers(port: number, want: number): Promise<Map<number, string>> {
  const seen = new Map<number, string>();
  for (let i = 0; i < 80 && seen.size < want; i++) {
    const a = await get(port);
    if (a.ok) seen.set(a.pid, a.config);
  }
  return seen;
}

export interface LoadFigures {
  requests: number;
  failed: number;
  errors: Record<string, number>;
  /** The longest time in which requests failed and none succeeded: from the last answer before a failure to the next answer (or the load's end). */
  outageMs: number;
}

/** Closed-loop load (bench/load.ts) while `during` runs, and `tailMs` after it. */
export async function underLoad<T>(port: number, load: { keepAlive: boolean; connections: number; timeoutMs?: number }, during: () => Promise<T>, tailMs: number): Promise<{ load: LoadFigures; result: T }> {
  const stop = new AbortController();
  const loading = runLoad({ host: '127.0.0.1', port, ...load, signal: stop.signal });
  let result: T;
  try {
    await sleep(300);
    result = await during();
    await sleep(tailMs);
  } finally {
    stop.abort();
  }
  return { load: figures(await loading), result };
}

function figures(samples: Samples): LoadFigures {
  return { requests: samples.count, failed: samples.failures(), errors: Object.fromEntries(samples.errors), outageMs: outage(samples) };
}

function outage(samples: Samples): number {
  const ends = samples.at.map((at, i) => ({ end: at + samples.latency[i]!, ok: samples.failure[i] === null })).sort((a, b) => a.end - b.end);
  let lastOk = 0;
  let since: number | undefined;
  let longest = 0;
  for (const { end, ok } of ends) {
    if (ok) {
      if (since !== undefined) longest = Math.max(longest, end - since);
      since = undefined;
      lastOk = end;
    } else since ??= lastOk;
  }
  if (since !== undefined && ends.length) longest = Math.max(longest, ends.at(-1)!.end - since);
  return longest;
}

export const failedOf = (l: LoadFigures) => `${l.failed} failed of ${l.requests}`;

/** A request whose headers come at once and whose body comes later: in flight once `started` resolves. */
export function slowRequest(port: number): { started: Promise<void>; done: Promise<string> } {
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<string>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
      started();
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(/pid \d+/.test(body) ? 'finished (200, whole body)' : `ended without its body`));
      res.on('error', (err) => resolve(`cut (${(err as NodeJS.ErrnoException).code ?? err.message})`));
      res.on('aborted', () => resolve('cut (aborted)'));
    });
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => {
      started();
      resolve(`cut (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
  });
  return { started: startedP, done };
}

export interface Command {
  command: string;
  code: number | 'non-zero';
  ms: number;
  out: string;
}

/** A grace CLI command run from the trial's dir: exit status, time, what it printed (stdout and stderr). */
export function graceCommand(trial: Trial, ...cliArgs: string[]): Promise<Command> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [trial.cli, ...cliArgs], { timeout: 60_000, cwd: trial.dir }, (err, stdout, stderr) =>
      resolve({ command: `grace ${cliArgs.join(' ')}`, code: err ? (typeof err.code === 'number' ? err.code : 'non-zero') : 0, ms: performance.now() - start, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

/** A pm2 command on the private daemon (bench/pm2.ts resolves with stdout or rejects, so the status is 0 or not). */
export async function pm2Command(cluster: Pm2Cluster, ...pm2Args: string[]): Promise<Command> {
  const start = performance.now();
  const command = `pm2 ${pm2Args.join(' ')}`;
  try {
    const out = await cluster.pm2(pm2Args, 60_000);
    return { command, code: 0, ms: performance.now() - start, out: stripVTControlCharacters(out).trim() };
  } catch (err) {
    return { command, code: 'non-zero', ms: performance.now() - start, out: stripVTControlCharacters((err as Error).message).trim() };
  }
}

export const exit = (c: Command) => `exit ${c.code}`;
export const lastLines = (text: string, n = 14) => text.split('\n').slice(-n);

export function killPids(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** The pids whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** `grace run` (the trial's CLI) in the background, its stdout and stderr kept line by line. */
export class GraceRun {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** Its exit status (128 + n for a signal), once it exits. */
  readonly exited: Promise<number>;
  readonly startedAt = performance.now();
  private readonly proc: ChildProcess;

  constructor(
    trial: Trial,
    readonly args: string[],
    private readonly options: { cwd: string; pidFile: string; env?: NodeJS.ProcessEnv },
  ) {
    this.proc = spawn(process.execPath, [trial.cli, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0))));
    for (const [stream, into] of [[this.proc.stdout!, this.stdout], [this.proc.stderr!, this.stderr]] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        into.push(line);
        if (into.length > 4000) into.splice(0, 2000);
      });
    }
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The pids its pid file names as serving. */
  servingPids(): number[] {
    try {
      return (readPidFile(this.options.pidFile).workers ?? []).filter((w) => w.state === 'serving').map((w) => w.pid);
    } catch {
      return [];
    }
  }

  /** Waits until its pid file names 2 workers serving and 2 answer on `port`, bounded at 30 s; throws with its last stderr if not (or if it exits). */
  async untilServing(port: number, what: string): Promise<void> {
    const deadline = performance.now() + 30_000;
    while (this.servingPids().length < 2 || (await probeWorkers(port, 2)).size < 2) {
      if (performance.now() > deadline || !this.running) throw new Error(`${what}: 2 workers did not answer within 30 s:\n${this.stderr.slice(-20).join('\n')}`);
      await sleep(20);
    }
  }

  /** SIGKILLs it and every child it has (stopped first, so it starts no more), waiting up to 5 s for its exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    killPids([this.pid], 'SIGSTOP');
    killPids([...childrenOf(this.pid), this.pid]);
    await Promise.race([this.exited, sleep(5000)]);
  }
}

/** One tool's result for one task: the table's cell, and the details kept in the results file. */
export interface Outcome {
  cell: string;
  [detail: string]: unknown;
}

/** What the trial's tasks share: its temp dir, grace's CLI there, the app's file and its good release, the env file, PM2's environment for the app. */
export interface Trial {
  dir: string;
  cli: string;
  app: string;
  good: string;
  envFile: string;
  pm2Env: NodeJS.ProcessEnv;
}
