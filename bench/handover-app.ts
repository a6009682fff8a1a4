// The app of `bench/handovers.ts`: answers 503 until its ready hook has
// resolved (so a response from an unready generation is visible), and reports
// on stdout when it is ready, how it exits, and that code after serve() ran.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { gracehttp } from '../src/index.ts';

const control = process.env.CONTROL && existsSync(process.env.CONTROL) ? JSON.parse(readFileSync(process.env.CONTROL, 'utf8')) : {};
const report = (event: string, fields: object = {}) => process.stdout.write(`${JSON.stringify({ event, pid: process.pid, ...fields })}\n`);
let ready = false;
const server = http.createServer((_req, res) => {
  res.statusCode = ready ? 200 : 503;
  res.end(`pid ${process.pid} ${ready ? 'ready' : 'not ready'}\n`);
});
process.on('exit', (code) => report('exit', { code }));
const graceful = await gracehttp.start(server, { port: Number(process.env.PORT ?? 0), host: '127.0.0.1' }, {
  readyTimeout: Number(process.env.READY_TIMEOUT ?? 30_000),
  async ready() {
    if (control.hang) await new Promise(() => setInterval(() => {}, 1000));
    await new Promise((r) => setTimeout(r, control.readyDelay ?? 0));
    ready = true;
  },
});
const address = server.address() as { port: number };
report('ready', { port: address.port });
graceful.on('restart-failed', (err) => report('restart-failed', { message: err.message }));
await graceful.done;
report('after-serve');
