// The example app without grace: what bare node start-up costs, for comparison
// with USR2 -> first response from the new generation.
import http from 'node:http';

const startedAt = new Date().toISOString();
const server = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`pid ${process.pid} started at ${startedAt}\n`);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
