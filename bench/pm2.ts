// PM2 as a point of comparison: a script run in cluster mode with N instances
// behind PM2's own daemon, and `pm2 reload` (PM2's zero-downtime restart)
// timed. The daemon is private to the run: its own PM2_HOME in a temp dir, so
// it never meets a user's PM2; at the end it is killed by pid (and its workers
// with it) and the temp dir removed, also when the run fails.
//
//   node --import tsx bench/pm2.ts --script bench/.build/bench/bare-server.js [--instances 1] [--reloads 3] [--name NAME]
// As a command it prints each reload's time and writes them to bench/results/NAME.json (default pm2-nodeN).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './load.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';

const PM2_BIN = new URL('../node_modules/pm2/bin/pm2', import.meta.url).pathname;

export interface Pm2Options {
  /** The app to run; it must listen on `PORT` from its environment. */
  script: string;
  /** Cluster instances (pm2's -i). Default 1. */
  instances?: number;
  /** Extra environment for the app. */
  env?: NodeJS.ProcessEnv;
  /** Node binary the daemon and workers run on. Default: this one. */
  node?: string;
  /** Arguments for that node (e.g. ['--import', 'tsx']). */
  nodeArgs?: string[];
  /** More `pm2 start` flags (e.g. ['--time'], ['--watch']). */
  startArgs?: string[];
  /** Arguments for the script (after `--`). */
  scriptArgs?: string[];
  /** PM2's own restart of a worker that exits. Default false (`--no-autorestart`). */
  autorestart?: boolean;
  /** Where the pm2 commands run: PM2 takes it as the app's cwd (and `--watch`'s directory). Default: this process's. */
  cwd?: string;
}

/** One process of `pm2 jlist`, the fields read here. */
export interface Pm2Process {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: { status: string; restart_time: number; unstable_restarts: number; exit_code?: number };
}

/** A private PM2 daemon serving one app in cluster mode. */
export class Pm2Cluster {
  readonly home: string;
  readonly port: number;
  readonly name = 'grace-bench';
  private constructor(
    home: string,
    port: number,
    private readonly options: Pm2Options,
  ) {
    this.home = home;
    this.port = port;
  }

  /** Starts the daemon and the app, and resolves once the app answers. */
  static async start(options: Pm2Options): Promise<Pm2Cluster> {
    const home = mkdtempSync(join(tmpdir(), 'grace-pm2-'));
    const cluster = new Pm2Cluster(home, await freePort(), options);
    try {
      await cluster.pm2([
        'start',
        options.script,
        '--name',
        cluster.name,
        '-i',
        String(options.instances ?? 1),
        ...(options.autorestart ? [] : ['--no-autorestart']),
        ...(options.nodeArgs?.length ? ['--node-args', options.nodeArgs.join(' ')] : []),
        ...(options.startArgs ?? []),
        ...(options.scriptArgs?.length ? ['--', ...options.scriptArgs] : []),
      ]);
      await cluster.untilAnswers();
      return cluster;
    } catch (err) {
      await cluster.kill();
      throw err;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Runs one pm2 command against this daemon; resolves with its stdout. */
  pm2(args: string[], timeoutMs = 60_000): Promise<string> {
    const node = this.options.node ?? process.execPath;
    return new Promise((resolve, reject) => {
      execFile(
        node,
        [PM2_BIN, ...args],
        {
          timeout: timeoutMs,
          cwd: this.options.cwd,
          env: {
            ...process.env,
            ...this.options.env,
            PORT: String(this.port),
            HOST: '127.0.0.1',
            PM2_HOME: this.home,
            PM2_DISABLE_VERSION_CHECK: 'true',
            // The daemon and its workers run on this node.
            PATH: `${join(node, '..')}:${process.env.PATH ?? ''}`,
          },
        },
        (err, stdout, stderr) => (err ? reject(new Error(`pm2 ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
  }

  /** The worker pids, from `pm2 jlist` (`app`: of another app this daemon runs). */
  async workerPids(app = this.name): Promise<number[]> {
    return (await this.jlist()).filter((p) => p.name === app && p.pid > 0).map((p) => p.pid);
  }

  /** `pm2 jlist`, parsed: every process this daemon runs, whatever its app. */
  async jlist(): Promise<Pm2Process[]> {
    const out = await this.pm2(['jlist']);
    return JSON.parse(out.slice(out.indexOf('['))) as Pm2Process[];
  }

  /** `pm2 reload`: resolves with how long the command took, in ms. */
  async reload(): Promise<number> {
    const start = performance.now();
    await this.pm2(['reload', this.name]);
    return performance.now() - start;
  }

  /** The daemon's pid, from its pid file in PM2_HOME. */
  daemonPid(): number | undefined {
    const file = join(this.home, 'pm2.pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
  }

  /**
   * The daemon's pid while it runs: the pid file may be stale (a trial kills the daemon to see
   * what pm2 does then), so only a live process titled with this PM2_HOME counts.
   */
  liveDaemonPid(): number | undefined {
    const pid = this.daemonPid();
    try {
      return pid !== undefined && alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.home) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Kills the workers and the daemon by pid, then removes PM2_HOME. Safe to call twice. */
  async kill(): Promise<void> {
    try {
      // Only a live daemon is asked (a pm2 command spawns one when none runs); every app it runs is ours.
      const daemon = this.liveDaemonPid();
      const workers = daemon ? await this.jlist().then((list) => list.filter((p) => p.pid > 0).map((p) => p.pid)).catch(() => []) : [];
      for (const pid of [...workers, ...(daemon ? [daemon] : [])]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      const deadline = Date.now() + 5000;
      while ([...workers, ...(daemon ? [daemon] : [])].some(alive) && Date.now() < deadline) await sleep(20);
    } finally {
      rmSync(this.home, { recursive: true, force: true });
    }
  }

  private async untilAnswers(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await answers(this.port)) return;
      await sleep(20);
    }
    throw new Error(`the app under pm2 did not answer on port ${this.port} within ${timeoutMs} ms`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port free right now on 127.0.0.1 (pm2's cluster needs a fixed one to share). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    socket.setTimeout(2000, () => socket.destroy());
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('close', () => resolve(data.startsWith('HTTP/1.1 2')));
    socket.on('error', () => resolve(false));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      script: { type: 'string' },
      instances: { type: 'string', default: '1' },
      reloads: { type: 'string', default: '3' },
      name: { type: 'string', default: `pm2-node${nodeMajor}` },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.script) {
    process.stdout.write(`usage: node --import tsx bench/pm2.ts --script APP.js [--instances N] [--reloads N]

Starts a private PM2 daemon (PM2_HOME in a temp dir), runs APP.js in cluster mode with N
instances (it must listen on PORT), times N \`pm2 reload\`s, then kills the daemon by pid and
removes the temp dir. Writes the times to bench/results/NAME.json (default pm2-node${nodeMajor}).
`);
    process.exit(values.help ? 0 : 2);
  }
  const header = resultsHeader(values);
  const cluster = await Pm2Cluster.start({ script: values.script, instances: Number(values.instances) });
  const reloads: Array<{ ms: number; workers: number[] }> = [];
  let pm2Version = '';
  try {
    pm2Version = (await cluster.pm2(['--version'])).trim().split('\n').at(-1) ?? '';
    const workers = await cluster.workerPids();
    console.log(`pm2 ${pm2Version}, daemon pid ${cluster.daemonPid()}, PM2_HOME ${cluster.home}, ${cluster.url}, workers ${workers.join(', ')}`);
    for (let i = 0; i < Number(values.reloads); i++) {
      const ms = await cluster.reload();
      reloads.push({ ms, workers: await cluster.workerPids() });
      console.log(`reload ${i + 1}: ${ms.toFixed(0)} ms; workers ${reloads.at(-1)!.workers.join(', ')}`);
    }
  } finally {
    await cluster.kill();
  }
  const result = { ...header, pm2: pm2Version, reloads, reloadMedianMs: median(reloads.map((r) => r.ms)) };
  console.log(`results: ${writeResults(values.name, result)}`);
}
