// The example's handler served by grace, with the marks of one generation's
// start for bench/cost.ts: when node had bootstrapped, when grace and the app
// were loaded, when the ready hook ran, when it served; CPU time at each; the
// CPU an old generation spends draining; and how long its first requests took
// server-side against later ones (cold vs warm). One `bench-marks {json}` line
// on stderr at serving and one `bench-exit {json}` line at exit.
//
// GRACE_ENTRY is the grace to load: the built package (dist/esm/index.js, a
// bundle, as an app gets it from npm). WARM_UP=1 turns on the warmUp option (WARM_UP_ROUNDS rounds of GET /, default 100).
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const mark = (name: string) => ({ name, at: performance.timeOrigin + performance.now(), cpuMs: cpuMs() });
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const marks = [mark('main')];
const { gracehttp } = (await import(process.env.GRACE_ENTRY!)) as typeof import('../src/index.js');
marks.push(mark('grace-loaded'));
const { handler } = await import('../example/app.js');
marks.push(mark('app-loaded'));

// Server-side duration of each request ('request' to 'finish'), the first
// COLD of them apart from the rest.
const COLD = 500;
const cold: number[] = [];
const warm: number[] = [];
const server = http.createServer((req, res) => {
  const start = performance.now();
  res.on('finish', () => {
    const list = cold.length < COLD ? cold : warm;
    if (list.length < 200_000) list.push(performance.now() - start);
  });
  handler(req, res);
});

const graceful = await gracehttp.start(
  server,
  { port: Number(process.env.PORT ?? 0), host: '127.0.0.1' },
  {
    ready: () => void marks.push(mark('ready-hook')),
    ...(process.env.WARM_UP === '1' ? { warmUp: { requests: ['/'], rounds: Number(process.env.WARM_UP_ROUNDS ?? 100) } } : {}),
  },
);
marks.push(mark('serving'));
const timing = performance.nodeTiming;
process.stderr.write(
  `bench-marks ${JSON.stringify({
    pid: process.pid,
    timeOrigin: performance.timeOrigin,
    bootstrapComplete: performance.timeOrigin + timing.bootstrapComplete,
    marks,
  })}\n`,
);
let stoppingCpuMs: number | undefined;
graceful.on('stopping', () => (stoppingCpuMs = cpuMs()));
process.on('exit', () => {
  const stats = (v: number[]) => {
    const sorted = Float64Array.from(v).sort();
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    return { count: v.length, mean: v.reduce((a, b) => a + b, 0) / Math.max(1, v.length), p50: at(50), p99: at(99), max: at(100) };
  };
  process.stderr.write(
    `bench-exit ${JSON.stringify({ pid: process.pid, drainCpuMs: stoppingCpuMs === undefined ? null : cpuMs() - stoppingCpuMs, cold: stats(cold), warm: stats(warm) })}\n`,
  );
});
await graceful.done;
