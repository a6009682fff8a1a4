// The app of `bench/pm2-trial.ts`: served by grace (`gracehttp.serve`, under
// `grace run --workers 2`) or, with PLAIN=1, by a plain `listen(PORT)` as
// PM2's cluster mode runs it (PM2's documented graceful exit: close the
// server on SIGINT, then exit). Each answer names the pid and the value of
// TRIAL_CONFIG, so the trial can tell which worker answered with which
// configuration:
//   /        `pid N config V`
//   /slow    headers at once, the body after SLOW_MS (an in-flight request for a stop)
//   /log     writes `handled /log` to stdout (whose line is it?)
//   /warn    writes `warned /warn` to stderr
//   /json    writes a JSON line to stdout (`{"level":30,"msg":"handled /json"}`)
//   /hang    answers, then spins forever (a hung worker)
import http from 'node:http';
import { gracehttp } from '../src/index.js';

const SLOW_MS = Number(process.env.SLOW_MS ?? 2500);
const server = http.createServer((req, res) => {
  const body = `pid ${process.pid} config ${process.env.TRIAL_CONFIG ?? '-'}\n`;
  if (req.url === '/slow') {
    res.writeHead(200).flushHeaders();
    setTimeout(() => res.end(body), SLOW_MS);
  } else if (req.url === '/hang') {
    res.end(body, () => {
      for (;;);
    });
  } else {
    if (req.url === '/log') console.log('handled /log');
    if (req.url === '/warn') console.error('warned /warn');
    if (req.url === '/json') console.log(JSON.stringify({ level: 30, msg: 'handled /json' }));
    res.end(body);
  }
});

if (process.env.PLAIN === '1') {
  server.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
} else {
  await gracehttp.serve(server, undefined, { logger: false });
}
