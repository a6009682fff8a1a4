// A small app served by grace. Start it, curl it, `kill -USR2 <pid>`, curl again:
// the pid changes, and a /sleep request started before the reload still finishes.
// GET /readyz and /livez are grace's health probes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gracehttp } from '../src/index.js';
import { handler } from './app.js';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const server = http.createServer(handler);

// /livez and /readyz for a load balancer or a kubelet; the deadlines from the
// environment (example/kubernetes/deployment.yaml explains its numbers).
const ms = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const graceful = await gracehttp.start(server, { port, host }, { pidFile: process.env.PID_FILE, health: true, shutdownTimeout: ms('SHUTDOWN_TIMEOUT_MS') });
const address = server.address() as AddressInfo;
process.stderr.write(
  `example: http://${address.address}:${address.port}/ (pid ${process.pid}); reload with: kill -USR2 ${process.pid}${process.env.PID_FILE ? ' or npm run reload' : ''}; stop with: kill -TERM ${process.pid}\n`,
);
await graceful.done;
