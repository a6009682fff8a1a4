// The example app without grace: the same handler on a plain listen(), for
// bare start-up time and per-request cost, side by side with the real example.
import http from 'node:http';
import { handler } from '../example/app.js';

const server = http.createServer(handler);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
// SIGINT is how pm2 reload retires a worker.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
