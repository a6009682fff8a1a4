// A small app served by grace. Start it, curl it, `kill -USR2 <pid>`, curl again:
// the pid changes, and a /sleep request started before the reload still finishes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gracehttp } from '../src/index.js';

const startedAt = new Date().toISOString();
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const reply = () => {
    res.setHeader('content-type', 'text/plain');
    res.end(`pid ${process.pid} started at ${startedAt}${url.pathname === '/sleep' ? ` slept ${ms} ms` : ''}\n`);
  };
  const ms = Math.min(Number(url.searchParams.get('ms') ?? 0) || 0, 60_000);
  if (url.pathname === '/sleep') setTimeout(reply, ms);
  else reply();
});

await gracehttp.serve(server, { port, host }, {
  pidFile: process.env.PID_FILE,
  ready() {
    const address = server.address() as AddressInfo;
    process.stderr.write(
      `example: http://${address.address}:${address.port}/ (pid ${process.pid}); reload with: kill -USR2 ${process.pid}${process.env.PID_FILE ? ' or npm run reload' : ''}; stop with: kill -TERM ${process.pid}\n`,
    );
  },
});
