// A queue worker with no HTTP server: the Shutdown registry handles SIGINT and
// SIGTERM itself, so the job in hand finishes and the consumer closes before
// the process exits 0 (instead of dying with status 143).
//
//   node --import tsx example/queue-worker.ts
//   kill -TERM <pid>    # "job N done", "queue closed", exit 0; a second TERM forces
import { setTimeout as sleep } from 'node:timers/promises';
import { Shutdown } from '../src/index.js';

const log = (message: string) => process.stderr.write(`queue worker [pid ${process.pid}]: ${message}\n`);
const shutdown = new Shutdown({ timeout: 30_000 });
shutdown.handleSignals();

shutdown.register(() => log('queue closed'), { name: 'queue connection' });
void shutdown.run('consumer', async (signal) => {
  for (let job = 1; !signal.aborted; job++) {
    log(`job ${job} started`);
    await sleep(2000); // the unit of work; finished, not cut short
    log(`job ${job} done`);
  }
});
log('consuming; send SIGTERM to stop after the job in hand');
