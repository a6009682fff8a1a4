// The app of `bench/lb.ts`: one grace-served HTTP server behind a load
// balancer, with the health probes on (`/livez`, `/readyz`). Environment:
// PORT (required), STOP_DELAY (ms, `stopDelay`), WORK_MS (each response
// waits this long: requests in flight).
import http from 'node:http';
import { gracehttp } from '../src/index.ts';

const workMs = Number(process.env.WORK_MS ?? 0);
const server = http.createServer((_req, res) => {
  const reply = () => res.end(`pid ${process.pid}\n`);
  if (workMs > 0) setTimeout(reply, workMs);
  else reply();
});
await gracehttp.serve(server, { port: Number(process.env.PORT), host: '127.0.0.1' }, { health: true, stopDelay: Number(process.env.STOP_DELAY ?? 0) });
