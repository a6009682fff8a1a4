// A chat-style server with long-lived connections, served by grace: GET /
// answers `hello <pid>`, a WebSocket on any path (`ws`) and Server-Sent
// Events at /events both carry every message anyone sends, and the first
// message of each says which process serves it: {"pid":N}. On a reload,
// grace ends the event streams and closes the WebSockets with 1001 "going
// away", a few at a time; clients reconnect to the new process
// (docs/long-lived.md).
//
//   PORT=8080 node --import tsx example/live.ts
//   curl -N http://127.0.0.1:8080/events      # data: {"pid":1234}
//   kill -USR2 1234                           # the stream ends; reconnect: {"pid":1240}
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { gracehttp } from '../src/index.js';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const hello = JSON.stringify({ pid: process.pid });
const streams = new Set<http.ServerResponse>();

const server = http.createServer((req, res) => {
  if (req.url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`data: ${hello}\n\n`);
    streams.add(res);
    res.once('close', () => streams.delete(res));
    return;
  }
  res.end(`hello ${process.pid}\n`);
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.send(hello);
  ws.on('message', (data) => broadcast(String(data)));
});

function broadcast(text: string): void {
  const message = JSON.stringify({ pid: process.pid, text });
  for (const client of wss.clients) client.send(message);
  for (const res of streams) res.write(`data: ${message}\n\n`);
}

// The one line for WebSockets: `webSockets: wss`. Event streams need none.
await gracehttp.serve(server, { port, host }, { webSockets: wss, pidFile: process.env.PID_FILE });
