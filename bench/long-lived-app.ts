// example/live.ts's server for bench/long-lived.ts: GET / answers
// `hello <pid>`, a WebSocket (ws) on any path and Server-Sent Events at
// /events each start with {"pid":N}. GRACE=1 serves it with gracehttp
// (webSockets given unless WEB_SOCKETS=bare; RECONNECT_SPREAD in ms);
// otherwise it is a plain listen(PORT), as an app under PM2 is.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { gracehttp } from '../src/index.js';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const hello = JSON.stringify({ pid: process.pid });

const server = http.createServer((req, res) => {
  if (req.url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`data: ${hello}\n\n`);
    return;
  }
  res.end(`hello ${process.pid}\n`);
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.send(hello));

if (process.env.GRACE === '1') {
  const spread = process.env.RECONNECT_SPREAD;
  await gracehttp.serve(server, { port, host }, {
    webSockets: process.env.WEB_SOCKETS === 'bare' ? undefined : wss,
    reconnectSpread: spread === undefined ? undefined : Number(spread),
  });
} else server.listen(port, host);
