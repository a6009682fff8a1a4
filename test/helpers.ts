// Shared by the tests: run fixtures as real processes, talk to them over real
// sockets, and make sure every process a test started is gone when it ends.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export const FIXTURE = new URL('./fixtures/app.ts', import.meta.url).pathname;
export const FIXTURE_ARGS = ['--import', 'tsx', FIXTURE];
export const CLI = new URL('../src/cli.ts', import.meta.url).pathname;

export interface FixtureEvent {
  event: string;
  pid: number;
  [key: string]: unknown;
}

/** A fixture app started as `node --import tsx`, its stdout parsed as JSON events. */
export class Fixture {
  readonly events: FixtureEvent[] = [];
  readonly stderr: string[] = [];
  readonly proc: ChildProcess;
  private waiters: Array<() => void> = [];
  private readonly closing: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `command` runs instead of the fixture itself, e.g. a supervisor that runs it. */
  constructor(config: object, env: NodeJS.ProcessEnv = {}, command: { file: string; args: string[]; fds?: number[] } = { file: process.execPath, args: FIXTURE_ARGS }) {
    this.proc = spawn(command.file, command.args, {
      env: { ...process.env, ...env, GRACE_FIXTURE: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', ...(command.fds ?? [])],
    });
    this.closing = new Promise((resolve) => this.proc.once('close', (code, signal) => resolve({ code, signal })));
    let out = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        try {
          this.events.push(JSON.parse(line));
        } catch {
          // not an event line
        }
        for (const wake of this.waiters.splice(0)) wake();
      }
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr.push(chunk);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /**
   * Exited, and its stdout and stderr read to their end: every line it wrote
   * is in `events` and `log`. Its 'exit' (or a pid check) can come before the
   * last lines are read: a supervisor's relayed worker lines among them.
   */
  closed(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.closing;
  }

  get log(): string {
    return this.stderr.join('');
  }

  /** Waits for the first event matching `match` (one already seen included). */
  async waitFor(match: (e: FixtureEvent) => boolean, timeoutMs = 15_000): Promise<FixtureEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for an event; events: ${JSON.stringify(this.events)}\nstderr:\n${this.log}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForLog(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    return waitUntil(() => (typeof text === 'string' ? this.log.includes(text) : text.test(this.log)), timeoutMs, () => `log: ${text}\n${this.log}`);
  }

  /**
   * The next generation is ready and the old one has stopped accepting: it
   * logs the handoff in the same tick as it closes its listener. Until then
   * both accept, and a request may reach either.
   */
  async handedOver(old: number): Promise<FixtureEvent> {
    const next = await this.waitFor((e) => e.event === 'ready' && e.pid !== old && e.pid > 0 && !this.retired.has(e.pid));
    await this.waitForLog(new RegExp(`with new pid ${next.pid} and old pid ${old}`));
    this.retired.add(old);
    return next;
  }

  private readonly retired = new Set<number>();

  ready(pid?: number): Promise<FixtureEvent> {
    return this.waitFor((e) => e.event === 'ready' && (pid === undefined || e.pid === pid));
  }

  /** Every pid that ever reported, or was reported as a spawned child, for cleanup. */
  pids(): number[] {
    const children = this.events.map((e) => e.child).filter((c): c is number => typeof c === 'number');
    return [...new Set([this.proc.pid!, ...this.events.map((e) => e.pid), ...children])];
  }
}

/**
 * A stop while a new generation starts: the old generation (the fixture's
 * first process) killed that unready child, reaped it, then exited 0. The
 * child shares the fixture's stdout, so 'close' comes once both are gone. The
 * old generation logs "abandoned" only once it has reaped the child, and a
 * child that was killed never ran its own exit (the fixture reports 'exit').
 */
export async function assertKilledUnreadyChild(app: Fixture, child: number): Promise<void> {
  await waitForExit(child, 10_000);
  const { code, signal } = await app.closed();
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the old generation drained and exited 0\n${app.log}`);
  assert.match(app.log, new RegExp(`new generation abandoned: stopping before pid ${child} was ready`), 'the old generation reaped its child');
  assert.deepEqual(app.events.filter((e) => e.pid === child && e.event === 'exit'), [], `pid ${child} was killed: it never exited on its own\n${app.log}`);
  assert.doesNotMatch(app.log, /Graceful handoff/);
}

/** Each of `lines` is in `log`, its first time after the first time of the one before it (a process's own lines are in the order it acted). */
export function assertInOrder(log: string, lines: Array<string | RegExp>): void {
  let before = -1;
  for (const line of lines) {
    const at = typeof line === 'string' ? log.indexOf(line) : log.search(line);
    assert.ok(at > before, `${line} ${at < 0 ? 'is missing' : 'comes too early'} in:\n${log}`);
    before = at;
  }
}

/** A fixture that is killed (every generation, by pid) when the test ends. */
export function startFixture(t: TestContext, config: object, env?: NodeJS.ProcessEnv, command?: ConstructorParameters<typeof Fixture>[2]): Fixture {
  const fixture = new Fixture(config, env, command);
  unfinished.add(fixture);
  t.after(() => {
    unfinished.delete(fixture);
    for (const pid of fixture.pids()) killQuietly(pid);
  });
  return fixture;
}

// A safety net for a test whose after hooks never ran (a test that timed out
// under load left a `grace run` behind once): as this test file's process
// exits, what is left of each fixture goes. Only processes that are still
// ours: the fixture's own (node knows whether it exited) and pids it reported
// that still run a fixture or grace's CLI (never a recycled pid).
const unfinished = new Set<Fixture>();
const leftoverDirs = new Set<string>();
process.once('exit', () => {
  for (const fixture of unfinished) {
    if (fixture.proc.exitCode === null && fixture.proc.signalCode === null) killQuietly(fixture.proc.pid!);
    for (const pid of fixture.pids()) if (pid !== fixture.proc.pid && runsOurCode(pid)) killQuietly(pid);
  }
  for (const dir of leftoverDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch {
      // a process of another test file's still writing there: nothing more to do from here
    }
  }
});

function runsOurCode(pid: number): boolean {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return command.includes('/test/fixtures/') || command.includes('/src/cli.ts') || command.includes('/bench/');
  } catch {
    return false;
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** A temp directory removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'grace-test-'));
  // Never throws: node:test stops running a test's after hooks at the first
  // that throws, and a process still writing here (a pid file) makes the
  // removal fail with ENOTEMPTY; the hooks after it (the kills) would not run.
  // What cannot go now goes as the test file's process exits.
  t.after(() => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch {
      leftoverDirs.add(dir);
    }
  });
  return dir;
}

// One way to tell a live process and count unreaped children, shared with the bench.
export { isAlive, zombiesOf } from '../bench/server-process.ts';
import { isAlive } from '../bench/server-process.ts';

export async function waitUntil(check: () => boolean, timeoutMs = 15_000, what: () => string = () => 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function waitForExit(pid: number, timeoutMs = 15_000): Promise<void> {
  return waitUntil(() => !isAlive(pid), timeoutMs, () => `pid ${pid} to exit`);
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: { pid: number; path: string };
}

export type Target = { port: number; host?: string } | { socketPath: string };

/** One request on a fresh connection. */
export function get(target: Target, path: string, options: http.RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', ...target, path, agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
  });
}

/** Port of the first address a fixture reported. */
export function portOf(event: FixtureEvent, index = 0): number {
  return ((event.addresses as Array<{ port: number }>)[index]!).port;
}

/** A self-signed certificate for localhost, made with openssl. */
export function makeCertificate(dir: string): { key: string; cert: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'], {
    stdio: 'ignore',
  });
  return { key, cert };
}

/**
 * A stand-in `systemd-notify` on PATH that records its arguments, one call a
 * line: what grace asked systemd to hear. Returns the env to run under.
 */
export function fakeSystemdNotify(t: TestContext): { env: NodeJS.ProcessEnv; dir: string; calls: () => string[] } {
  const dir = tempDir(t);
  const log = join(dir, 'notify.log');
  writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$*" >> '${log}'\n`);
  chmodSync(join(dir, 'systemd-notify'), 0o755);
  const calls = () => {
    try {
      return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return { dir, env: { NOTIFY_SOCKET: join(dir, 'notify.sock'), PATH: `${dir}:${process.env.PATH}` }, calls };
}

/** As root, tests that need permission checks run a process as nobody. */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Whether nobody can run this node: not so for npm's node under /root
 * (Node 22 and 24 in CI), where those tests are skipped, saying why.
 */
export function nobodyCannotRunNode(): string | false {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync(process.execPath, ['--version'], { ...NOBODY, stdio: 'ignore' });
    return false;
  } catch {
    return `uid ${NOBODY.uid} cannot run ${process.execPath}`;
  }
}
