// The app of `bench/workers.ts`: one trivial handler, served either by grace
// (`gracehttp.serve`, under `grace run --workers N`) or, with PLAIN=1, by a
// plain `listen(PORT)` as PM2's cluster mode runs it (PM2's documented
// graceful exit: close the server on SIGINT, then exit). Each process counts
// the requests it answered and writes the count to STATS_DIR/<pid>.json as it
// exits, so the bench can tell how evenly the kernel (or PM2) spread them.
// GRACE_ENTRY: the grace to load (the built package, dist/esm/index.js, as an
// app gets it from npm); else this checkout's source. PM2's side loads none.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

let answered = 0;
const pid = String(process.pid);
const server = http.createServer((_req, res) => {
  answered++;
  res.setHeader('x-worker-pid', pid);
  res.end('ok\n');
});

// MAX_REQUESTS_PER_SOCKET=N: node closes a keep-alive connection after N
// requests (saying Connection: close on the last), so clients reconnect and
// the kernel spreads them again (bench/spread.ts).
if (process.env.MAX_REQUESTS_PER_SOCKET) server.maxRequestsPerSocket = Number(process.env.MAX_REQUESTS_PER_SOCKET);

process.on('exit', () => {
  if (process.env.STATS_DIR) writeFileSync(join(process.env.STATS_DIR, `${pid}.json`), JSON.stringify({ pid: process.pid, worker: process.env.GRACE_WORKER ?? process.env.NODE_APP_INSTANCE, answered }));
});

if (process.env.PLAIN === '1' || process.env.REUSEPORT === '1') {
  // REUSEPORT=1 (Node >= 22.12): each process its own SO_REUSEPORT socket, for bench/spread.ts.
  server.listen({ port: Number(process.env.PORT), host: '127.0.0.1', ...(process.env.REUSEPORT === '1' ? { reusePort: true } : {}) });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
} else {
  const entry = process.env.GRACE_ENTRY;
  const { gracehttp } = (entry ? await import(entry) : await import('../src/index.js')) as typeof import('../src/index.js');
  await gracehttp.serve(server, undefined, { logger: false });
}
