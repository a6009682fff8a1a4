// An app with background work beside its HTTP server: a worker loop and an
// interval job, both finishing their current unit of work on a restart or stop.
//
//   node --import tsx example/worker.ts
//   kill -USR2 <pid>    # the old pid finishes its current job, then exits
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { gracehttp, Shutdown } from '../src/index.js';

const shutdown = new Shutdown();
const log = (message: string) => process.stderr.write(`worker example [pid ${process.pid}]: ${message}\n`);

// A queue consumer: takes one job at a time, stops taking jobs once shutdown
// starts, and the job in hand is finished (shutdown waits for run()).
void shutdown.run('queue worker', async (signal) => {
  for (let job = 1; !signal.aborted; job++) {
    log(`job ${job} started`);
    await sleep(2000); // the unit of work; not cut short by the signal
    log(`job ${job} done`);
  }
});

// A cron-like job: never starts a new run after shutdown began.
shutdown.every('report job', 5000, async () => {
  log('report job ran');
});

// A pool or client: closed last, after the work that uses it has finished.
shutdown.register({ end: async () => log('pool closed') }, { name: 'pool' });

const server = http.createServer((req, res) => {
  // Readiness flips to "not ready" as soon as shutdown starts.
  if (req.url === '/ready') {
    res.statusCode = shutdown.isShuttingDown() ? 503 : 200;
    return res.end(shutdown.isShuttingDown() ? 'shutting down\n' : 'ready\n');
  }
  res.end(`pid ${process.pid}\n`);
});

await gracehttp.serve(server, { port: Number(process.env.PORT ?? 8081), host: '127.0.0.1' }, { shutdown });
