// The example app with LISTENERS servers, each on its own port: what a restart
// costs as the number of handed-over sockets grows.
import http from 'node:http';
import { gracehttp } from '../src/index.js';

const count = Number(process.env.LISTENERS ?? 1);
const targets = Array.from({ length: count }, () => ({
  server: http.createServer((_req, res) => res.end(`pid ${process.pid}\n`)),
  listen: { port: 0, host: '127.0.0.1' },
}));
// Port 0 twice is one spec twice: each later generation adopts them in order.
await gracehttp.serve(targets);
