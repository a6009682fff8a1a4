// The example's request handler: names the pid and start time, and /sleep?ms=
// answers after a delay (like Go grace's demo). Shared with the benchmark's
// "without grace" server, so the two differ only by grace.
import type { IncomingMessage, ServerResponse } from 'node:http';

const startedAt = new Date().toISOString();

export function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const ms = Math.min(Number(url.searchParams.get('ms') ?? 0) || 0, 60_000);
  const reply = () => {
    res.setHeader('content-type', 'text/plain');
    res.end(`pid ${process.pid} started at ${startedAt}${url.pathname === '/sleep' ? ` slept ${ms} ms` : ''}\n`);
  };
  if (url.pathname === '/sleep') setTimeout(reply, ms);
  else reply();
}
