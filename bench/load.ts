// A closed-loop HTTP load generator on Node's own http client: N concurrent
// loops, each sending its next request when the previous one ends, with no
// retries, so every request a restart breaks is counted (like wrk).
import http from 'node:http';

export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status' | 'other';
export const FAILURE_KINDS: FailureKind[] = ['connect', 'reset', 'timeout', 'status', 'other'];

export interface LoadOptions {
  host: string;
  port: number;
  path?: string;
  connections: number;
  /** true: persistent connections; false: one request per connection (`Connection: close`). */
  keepAlive: boolean;
  /** Stop when this signal aborts. */
  signal: AbortSignal;
  timeoutMs?: number;
  /** Filled as answers come in (a test watches it live); a new one if absent. */
  samples?: Samples;
}

/** Per-request records, column-wise to stay small over millions of requests. */
export class Samples {
  readonly at: number[] = []; // ms since the load started
  readonly latency: number[] = []; // ms
  readonly pid: number[] = []; // responding pid, 0 on failure
  readonly failure: Array<FailureKind | null> = [];
  readonly errors = new Map<string, number>();

  get count(): number {
    return this.at.length;
  }

  failures(kind?: FailureKind): number {
    return this.failure.filter((f) => (kind ? f === kind : f !== null)).length;
  }
}

// "pid 123 …" (the example), {"pid":123} (the test fixture) or "hello 123" (example/live.ts)
const PID = /(?:pid\D{0,3}|^hello )(\d+)/;

export async function runLoad(options: LoadOptions, origin = performance.now()): Promise<Samples> {
  const samples = options.samples ?? new Samples();
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: options.connections });
  const loop = async () => {
    while (!options.signal.aborted) await once(options, agent, samples, origin);
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  agent.destroy();
  return samples;
}

function once(options: LoadOptions, agent: http.Agent, samples: Samples, origin: number): Promise<void> {
  return new Promise((resolve) => {
    const start = performance.now();
    const record = (pid: number, failure: FailureKind | null, detail?: string) => {
      samples.at.push(start - origin);
      samples.latency.push(performance.now() - start);
      samples.pid.push(pid);
      samples.failure.push(failure);
      if (detail) samples.errors.set(detail, (samples.errors.get(detail) ?? 0) + 1);
      resolve();
    };
    const req = http.request(
      {
        host: options.host,
        port: options.port,
        path: options.path ?? '/',
        agent,
        headers: options.keepAlive ? {} : { connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          const pid = Number(PID.exec(body)?.[1] ?? 0);
          if (res.statusCode! >= 200 && res.statusCode! < 300) record(pid, null);
          else record(pid, 'status', `HTTP ${res.statusCode}`);
        });
        res.on('error', (err) => record(0, classify(err), describe(err)));
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => record(0, classify(err), describe(err)));
    req.end();
  });
}

function classify(err: NodeJS.ErrnoException): FailureKind {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ENOENT':
      return 'connect';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

function describe(err: NodeJS.ErrnoException): string {
  return `${err.code ?? 'error'}: ${err.message}`;
}

/**
 * The nearest-rank percentile: the value at rank ⌊p/100 × n⌋ of the sorted
 * values. Fine for latencies over many samples; for "the median of a few
 * rounds" use median(), since with an even count this takes the higher middle
 * value (percentile([a, b], 50) is the larger of the two).
 */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The median: the middle value, or the mean of the two middle values when the count is even. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
