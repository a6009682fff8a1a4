// Drives an HTTP target with wrk (C, multi-threaded: it is not the bottleneck
// on a 2-core machine where a Node client tops out near 20k req/s), or, when
// wrk is not installed, with the bench's own Node generator (load.ts). Either
// way the result has one shape and names the tool that ran, so a report can
// say which one it was.
//
// wrk's figures come from a Lua `done()` hook that prints one JSON line
// (requests, errors by kind, non-2xx, latency percentiles); the same script
// adds `Connection: close` for the one-request-per-connection mode. A run ends
// at its duration, or earlier when `signal` aborts (wrk stops on SIGINT and
// still runs `done()`).
//
//   node --import tsx bench/wrk.ts --url http://127.0.0.1:8080/ [--close] [--seconds 5] [--name NAME]
// As a command it prints the result and writes it to bench/results/NAME.json (default wrk).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, runLoad } from './load.ts';
import { resultsHeader, writeResults } from './results-file.ts';

export interface DriveOptions {
  url: string;
  /** Open connections (wrk's -c). */
  connections: number;
  /** wrk threads (-t); default 2. Ignored by the fallback. */
  threads?: number;
  /** false: `Connection: close` on every request (a connection per request). */
  keepAlive: boolean;
  /** Stop after this long, unless `signal` aborts first. */
  seconds: number;
  signal?: AbortSignal;
  /** Per-request timeout; default 10 s. */
  timeoutSeconds?: number;
  /** 'auto' (the default): wrk if installed, else the Node generator. */
  tool?: 'auto' | 'wrk' | 'node';
}

export interface DriveResult {
  /** Which generator produced these figures. */
  tool: 'wrk' | 'node';
  /** Its version line, e.g. "wrk debian/4.1.0-3+b2" or "node v20.20.2 (bench/load.ts)". */
  toolVersion: string;
  durationMs: number;
  /** Every completed response, whatever its status. */
  requests: number;
  requestsPerSecond: number;
  /** Responses with a status outside 200–399 (wrk's count), or outside 200–299 (the Node generator's). */
  non2xx: number;
  /** Socket-level failures by kind; `total` adds them up. */
  socketErrors: { connect: number; read: number; write: number; timeout: number; total: number };
  /** Latency of completed requests, in ms. */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

const WRK = process.env.WRK ?? '/usr/bin/wrk';

/** wrk's version line, or undefined if it is not installed (or WRK=none). */
export function wrkVersion(): string | undefined {
  if (process.env.WRK === 'none' || !existsSync(WRK)) return undefined;
  try {
    execFileSync(WRK, ['--version'], { stdio: 'pipe' });
  } catch (err) {
    // wrk --version prints its banner and exits 1.
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    if (out.startsWith('wrk')) return out.split('\n')[0]!.replace(/ Copyright.*/, '').trim();
    return undefined;
  }
  return 'wrk';
}

// Percentiles and error counts as one JSON line. Latency is in microseconds.
const LUA = `
local close = os.getenv("WRK_CLOSE") == "1"
if close then wrk.headers["Connection"] = "close" end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,' ..
    '"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

/** Runs wrk (or the fallback) against `url` and returns its figures. */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const tool = options.tool ?? 'auto';
  const version = tool === 'node' ? undefined : wrkVersion();
  if (tool === 'wrk' && !version) throw new Error(`wrk is not installed at ${WRK}`);
  return version ? runWrk(options, version) : runNode(options);
}

async function runWrk(options: DriveOptions, version: string): Promise<DriveResult> {
  const dir = mkdtempSync(join(tmpdir(), 'grace-wrk-'));
  try {
    const script = join(dir, 'report.lua');
    writeFileSync(script, LUA);
    const threads = Math.min(options.threads ?? 2, options.connections);
    // A generous -d: an aborted run ends on SIGINT, a timed one on its own.
    const seconds = Math.max(1, Math.ceil(options.seconds));
    const args = ['-t', String(threads), '-c', String(options.connections), '-d', `${seconds}s`, '--timeout', `${options.timeoutSeconds ?? 10}s`, '-s', script, options.url];
    const wrk = spawn(WRK, args, { env: { ...process.env, WRK_CLOSE: options.keepAlive ? '0' : '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    wrk.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    wrk.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const stop = () => wrk.kill('SIGINT');
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted) stop();
    const [code] = (await once(wrk, 'exit')) as [number | null];
    options.signal?.removeEventListener('abort', stop);
    const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
    if (!line) throw new Error(`wrk exited with ${code} and no report; stdout:\n${out}\nstderr:\n${err}`);
    const r = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
    const durationMs = r.duration_us! / 1000;
    const socketErrors = { connect: r.connect!, read: r.read!, write: r.write!, timeout: r.timeout!, total: 0 };
    socketErrors.total = socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout;
    const us = (v: number) => v / 1000;
    return {
      tool: 'wrk',
      toolVersion: version,
      durationMs,
      requests: r.requests!,
      requestsPerSecond: r.requests! / (durationMs / 1000),
      non2xx: r.status!,
      socketErrors,
      latencyMs: { mean: us(r.mean!), p50: us(r.p50!), p90: us(r.p90!), p99: us(r.p99!), max: us(r.max!) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runNode(options: DriveOptions): Promise<DriveResult> {
  const url = new URL(options.url);
  const signals = [AbortSignal.timeout(options.seconds * 1000), ...(options.signal ? [options.signal] : [])];
  const start = performance.now();
  const samples = await runLoad({
    host: url.hostname,
    port: Number(url.port || 80),
    path: url.pathname + url.search,
    connections: options.connections,
    keepAlive: options.keepAlive,
    signal: AbortSignal.any(signals),
    timeoutMs: (options.timeoutSeconds ?? 10) * 1000,
  });
  const durationMs = performance.now() - start;
  const ok = samples.latency.filter((_, i) => samples.failure[i] === null || samples.failure[i] === 'status');
  const count = (kind: string) => samples.failures(kind as never);
  const socketErrors = { connect: count('connect'), read: count('reset') + count('other'), write: 0, timeout: count('timeout'), total: 0 };
  socketErrors.total = socketErrors.connect + socketErrors.read + socketErrors.timeout;
  return {
    tool: 'node',
    toolVersion: `node ${process.version} (bench/load.ts)`,
    durationMs,
    requests: ok.length,
    requestsPerSecond: ok.length / (durationMs / 1000),
    non2xx: count('status'),
    socketErrors,
    latencyMs: {
      mean: ok.reduce((a, b) => a + b, 0) / Math.max(1, ok.length),
      p50: percentile(ok, 50),
      p90: percentile(ok, 90),
      p99: percentile(ok, 99),
      max: ok.length ? ok.reduce((a, b) => Math.max(a, b), -Infinity) : NaN, // not Math.max(...ok): too many arguments past ~100k samples
    },
  };
}

/** One line for a report: "wrk debian/4.1.0: 61234 req/s, p50 0.7 / p99 3.1 ms, 0 errors". */
export function describeDrive(r: DriveResult): string {
  return `${r.requestsPerSecond.toFixed(0)} req/s, p50 ${r.latencyMs.p50.toFixed(2)} / p99 ${r.latencyMs.p99.toFixed(2)} ms, ${r.socketErrors.total} socket errors, ${r.non2xx} non-2xx (${r.tool})`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '5' },
      close: { type: 'boolean', default: false },
      tool: { type: 'string', default: 'auto' },
      name: { type: 'string', default: 'wrk' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.url) {
    process.stdout.write(`usage: node --import tsx bench/wrk.ts --url URL [options]

Drives URL with wrk (${wrkVersion() ?? 'not installed here'}) or, without it, the bench's Node
generator, prints one JSON result (which tool ran, req/s, socket errors, non-2xx, latency)
and writes it to bench/results/NAME.json.

  --url URL            target, e.g. http://127.0.0.1:8080/
  --connections N      open connections (default 50)
  --threads N          wrk threads (default 2)
  --seconds S          duration (default 5)
  --close              Connection: close on every request (default: keep-alive)
  --tool auto|wrk|node which generator (default auto: wrk if present; WRK=none hides it)
  --name NAME          results file name (default wrk)
`);
    process.exit(values.help ? 0 : 2);
  }
  const header = resultsHeader(values);
  const result = await drive({
    url: values.url,
    connections: Number(values.connections),
    threads: Number(values.threads),
    seconds: Number(values.seconds),
    keepAlive: !values.close,
    tool: values.tool as 'auto' | 'wrk' | 'node',
  });
  console.log(JSON.stringify(result, null, 2));
  console.log(`results: ${writeResults(values.name, { ...header, result })}`);
}
