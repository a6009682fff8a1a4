// grace behind real load balancers (issue #9's proofs), with wrk as the client:
//
//   rolling   two instances behind HAProxy with active health checks on
//             /readyz; SIGTERM instance A, start A' on its port once A has
//             exited, wait until HAProxy has it UP, then the same for B;
//             `--rounds` times, with `stopDelay` on and with it 0.
//   rolling-nginx  the same behind nginx, which has no active health checks.
//   nginx     one instance behind nginx with upstream keep-alive (keepalive
//             32, HTTP/1.1, Connection ""): `--restarts` hot restarts (USR2).
//   haproxy   the same behind HAProxy with `http-reuse always`.
//
// Failed requests are wrk's: non-2xx responses plus socket errors. Beside
// them, what the balancer hid from the client: nginx's error log (warn and
// above), HAProxy's retry, redispatch and error counters (`show stat`).
// Everything listens on 127.0.0.1 ports picked by binding port 0; the
// balancers run from a temp directory and are stopped by pid.
//
//   npm run bench:lb -- [--scenario all|rolling|rolling-nginx|nginx|haproxy] [--rounds 10]
//     [--restarts 100] [--stop-delay 1000] [--connections 16] [--work-ms 0] [--json FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isAlive, ServerProcess } from './server-process.ts';

const HAPROXY = '/usr/sbin/haproxy';
const NGINX = '/usr/sbin/nginx';
const WRK = '/usr/bin/wrk';
const APP = ['--import', 'tsx', new URL('./lb-app.ts', import.meta.url).pathname];

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    rounds: { type: 'string', default: '10' },
    restarts: { type: 'string', default: '100' },
    'stop-delay': { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    'work-ms': { type: 'string', default: '0' },
    'start-gap': { type: 'string', default: '2000' },
    redispatch: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write(`usage: npm run bench:lb -- [options]
  --scenario all|rolling|rolling-nginx|nginx|haproxy   which proof to run (default all)
  --rounds N        rolling deploys of both instances behind HAProxy (default 10)
  --restarts N      hot restarts (USR2) behind nginx and behind HAProxy (default 100)
  --stop-delay MS   stopDelay of the rolling run's instances (default 1000; a second run uses 0)
  --connections N   wrk connections (default 16, one thread)
  --work-ms MS      each response takes this long (default 0)
  --start-gap MS    rolling: from an instance's exit to its successor's start, as a
                    release takes to come up (default 2000)
  --redispatch      rolling: HAProxy's \`option redispatch\` (a retry may go to the other instance)
  --json FILE       also write the figures to FILE
Needs ${HAPROXY}, ${NGINX} and ${WRK}.
`);
  process.exit(0);
}
const rounds = Number(values.rounds);
const restarts = Number(values.restarts);
const stopDelay = Number(values['stop-delay']);
const connections = Number(values.connections);
const workMs = Number(values['work-ms']);
const startGap = Number(values['start-gap']);

const dir = mkdtempSync(join(tmpdir(), 'grace-lb-'));
const started: ChildProcess[] = [];
const apps: ServerProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A port nobody listens on now: bound on 127.0.0.1 port 0, then closed. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function status(port: number, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

function body(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', () => resolve(''));
    req.setTimeout(2000, () => req.destroy());
  });
}

// ---------------------------------------------------------------- processes

/** A process of ours, its output kept in `dir`; stopped by pid. */
function run(name: string, file: string, args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(file, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let output = '';
  for (const stream of [proc.stdout!, proc.stderr!]) stream.setEncoding('utf8').on('data', (c: string) => (output += c));
  proc.on('exit', () => writeFileSync(join(dir, `${name}-${proc.pid}.out`), output));
  return { proc, output: () => output };
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await Promise.race([exited, sleep(10_000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

function startApp(port: number, extraEnv: NodeJS.ProcessEnv = {}): ServerProcess {
  const app = new ServerProcess(APP, { PORT: String(port), WORK_MS: String(workMs), ...extraEnv });
  apps.push(app);
  return app;
}

// ------------------------------------------------------------------ haproxy

interface HaproxyCounters {
  /** Requests HAProxy retried on another connection (the client did not see them fail). */
  retries: number;
  redispatches: number;
  connectionErrors: number;
  responseErrors: number;
  /** Responses with 5xx that HAProxy sent to clients (its own 502/503 included). */
  http5xx: number;
}

class Haproxy {
  private readonly socket = join(dir, `haproxy-${Math.random().toString(36).slice(2)}.sock`);
  private readonly process: ReturnType<typeof run>;

  constructor(
    readonly port: number,
    backend: string,
  ) {
    const config = join(dir, `haproxy-${port}.cfg`);
    writeFileSync(
      config,
      `global
  log stderr format raw local0 notice
  stats socket ${this.socket} mode 600 level admin

defaults
  mode http
  log global
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 10s

frontend front
  bind 127.0.0.1:${port}
  default_backend app

backend app
${backend}
`,
    );
    this.process = run('haproxy', HAPROXY, ['-db', '-f', config]);
  }

  get log(): string {
    return this.process.output();
  }

  /** `show stat` on the admin socket, as rows of column → value. */
  async stats(): Promise<Array<Record<string, string>>> {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(this.socket, () => socket.end('show stat\n'));
      let out = '';
      socket.setEncoding('utf8').on('data', (c: string) => (out += c));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    const [header, ...rows] = text.trim().split('\n');
    const names = header!.replace(/^# /, '').split(',');
    return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i], v])));
  }

  async serverStatus(name: string): Promise<string> {
    const row = (await this.stats().catch(() => [])).find((r) => r.pxname === 'app' && r.svname === name);
    return row?.status ?? 'unknown';
  }

  async counters(): Promise<HaproxyCounters> {
    const backend = (await this.stats()).find((r) => r.pxname === 'app' && r.svname === 'BACKEND')!;
    const n = (key: string) => Number(backend[key] || 0);
    return { retries: n('wretr'), redispatches: n('wredis'), connectionErrors: n('econ'), responseErrors: n('eresp'), http5xx: n('hrsp_5xx') };
  }

  /** How often a server was taken out (DOWN) or put back (UP), by HAProxy's reason: readiness's 503 is "Layer7 wrong status". */
  transitions(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const m of this.log.matchAll(/^Server app\/\w+ is (DOWN|UP), reason: ([^,]+)/gm)) counts[`${m[1]}: ${m[2]}`] = (counts[`${m[1]}: ${m[2]}`] ?? 0) + 1;
    return counts;
  }

  stop(): Promise<void> {
    return stopProcess(this.process.proc, 'SIGTERM');
  }
}

// -------------------------------------------------------------------- nginx

class Nginx {
  readonly errorLog: string;
  private readonly process: ReturnType<typeof run>;

  /** `upstream`: the upstream block's server lines; `location`: more proxy directives. */
  constructor(
    readonly port: number,
    upstream: string,
    location = '',
  ) {
    const config = join(dir, `nginx-${port}.conf`);
    this.errorLog = join(dir, `nginx-${port}-error.log`);
    const temp = (name: string) => `${name}_temp_path ${join(dir, `nginx-${name}`)};`;
    writeFileSync(
      config,
      `daemon off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${join(dir, `nginx-${port}.pid`)};
error_log ${this.errorLog} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  upstream app {
${upstream}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";${location}
    }
  }
}
`,
    );
    this.process = run('nginx', NGINX, ['-p', dir, '-e', join(dir, 'nginx-startup.log'), '-c', config]);
  }

  errors(): string[] {
    try {
      return readFileSync(this.errorLog, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  stop(): Promise<void> {
    return stopProcess(this.process.proc, 'SIGQUIT');
  }
}

// ---------------------------------------------------------------------- wrk

interface WrkResult {
  requests: number;
  seconds: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  failed: number;
  rps: number;
  p99ms: number;
  maxMs: number;
}

/** wrk until `stop()` (SIGINT, after which wrk prints its summary). */
function startWrk(port: number): { stop: () => Promise<WrkResult> } {
  // A long timeout: a slow response is latency, not a failure; what fails is an error or a non-2xx.
  const wrk = run('wrk', WRK, ['-t1', `-c${connections}`, '-d3600s', '--timeout', '10s', '--latency', `http://127.0.0.1:${port}/`]);
  return {
    async stop() {
      await stopProcess(wrk.proc, 'SIGINT');
      return parseWrk(wrk.output());
    },
  };
}

function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return NaN;
    const unit = m[2];
    return Number(m[1]) * (unit === 's' ? 1000 : unit === 'us' ? 0.001 : unit === 'm' ? 60_000 : 1);
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = { connect: Number(errors?.[1] ?? 0), read: Number(errors?.[2] ?? 0), write: Number(errors?.[3] ?? 0), timeout: Number(errors?.[4] ?? 0) };
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  const requests = num(/(\d+) requests in/);
  if (!requests) throw new Error(`wrk printed no summary:\n${out}`);
  return {
    requests,
    seconds: ms(/requests in ([\d.]+)(us|ms|s|m),/) / 1000,
    non2xx,
    socketErrors,
    failed: non2xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p99ms: ms(/^\s+99%\s+([\d.]+)(us|ms|s|m)/m),
    maxMs: ms(/Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/),
  };
}

// ---------------------------------------------------------------- scenarios

/** Two instances; `rounds` times each in turn: SIGTERM, exit, `startGap`, the successor on its port, `waitUp`. */
async function rollingDeploy(delay: number, balancer: (ports: { a: number; b: number }) => Promise<{ front: number; waitUp(name: 'a' | 'b', pid: number): Promise<void> }>) {
  const ports = { a: await freePort(), b: await freePort() };
  const env = { STOP_DELAY: String(delay) };
  const instances: Record<'a' | 'b', ServerProcess> = { a: startApp(ports.a, env), b: startApp(ports.b, env) };
  await Promise.all(Object.values(instances).map((app) => app.until(() => app.generations.length > 0)));
  try {
    const { front, waitUp } = await balancer(ports);
    const wrk = startWrk(front);
    await sleep(500);
    const startedAt = performance.now();
    for (let round = 0; round < rounds; round++) {
      for (const name of ['a', 'b'] as const) {
        const old = instances[name];
        const exited = new Promise((r) => (old.proc.exitCode !== null ? r(undefined) : old.proc.once('exit', r)));
        old.proc.kill('SIGTERM');
        await exited;
        await sleep(startGap);
        instances[name] = startApp(ports[name], env);
        await instances[name].until(() => instances[name].generations.length > 0);
        await waitUp(name, instances[name].generations[0]!.pid);
      }
    }
    const deploySeconds = round1((performance.now() - startedAt) / 1000);
    await sleep(500);
    return { stopDelay: delay, rounds, startGap, deploySeconds, wrk: await wrk.stop() };
  } finally {
    await Promise.all(Object.values(instances).map((app) => app.stop()));
  }
}

async function rolling(delay: number) {
  let haproxy: Haproxy | undefined;
  try {
    const figures = await rollingDeploy(delay, async (ports) => {
      haproxy = new Haproxy(
        await freePort(),
        `  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 250ms fastinter 100ms downinter 250ms fall 2 rise 2
  retries 3${values.redispatch ? '\n  option redispatch' : ''}
  server a 127.0.0.1:${ports.a} check
  server b 127.0.0.1:${ports.b} check`,
      );
      const waitUp = (name: string) => until(async () => (await haproxy!.serverStatus(name)) === 'UP', `HAProxy to see ${name} UP`);
      await waitUp('a');
      await waitUp('b');
      return { front: haproxy.port, waitUp };
    });
    return { ...figures, redispatch: values.redispatch, haproxy: await haproxy!.counters(), transitions: haproxy!.transitions() };
  } finally {
    await haproxy?.stop();
  }
}

// Open-source nginx has no active health checks: it learns of a stop from a
// refused connection, passes that request to the other instance, and leaves
// the failed one alone for fail_timeout (then tries it again).
const NGINX_FAIL_TIMEOUT_S = 2;

async function rollingNginx(delay: number) {
  let nginx: Nginx | undefined;
  try {
    const figures = await rollingDeploy(delay, async (ports) => {
      const server = (port: number) => `    server 127.0.0.1:${port} max_fails=1 fail_timeout=${NGINX_FAIL_TIMEOUT_S}s;`;
      nginx = new Nginx(await freePort(), `${server(ports.a)}\n${server(ports.b)}`, '\n      proxy_next_upstream error timeout;\n      proxy_next_upstream_tries 2;');
      await until(async () => (await status(nginx!.port)) === 200, 'nginx to answer');
      // nginx tries a server it saw fail again only after fail_timeout (in
      // whole seconds of its clock), even once the successor listens: wait
      // until nginx has sent the successor a request, or stopping the other
      // instance leaves it no live upstream.
      const front = nginx.port;
      return { front, waitUp: (_name, pid) => until(async () => (await body(front)) === `pid ${pid}\n`, `nginx to pass a request to pid ${pid}`) };
    });
    const errors = nginx!.errors();
    return { ...figures, nginxErrorLines: errors.length, nginxErrorKinds: errorKinds(errors) };
  } finally {
    await nginx?.stop();
  }
}

/** nginx error lines by their message, without times, pids and addresses. */
function errorKinds(lines: string[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const line of lines) {
    const kind = line.replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ').replace(/, client: .*$/, '');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

async function hotRestarts(proxy: 'nginx' | 'haproxy') {
  const [appPort, front] = [await freePort(), await freePort()];
  const app = startApp(appPort);
  await app.until(() => app.generations.length > 0);
  const balancer = proxy === 'nginx' ? new Nginx(front, `    server 127.0.0.1:${appPort};`) : new Haproxy(front, `  http-reuse always\n  server s1 127.0.0.1:${appPort}`);
  try {
    await until(async () => (await status(front)) === 200, `${proxy} to answer`);
    const wrk = startWrk(front);
    await sleep(500);
    const startedAt = performance.now();
    for (let i = 0; i < restarts; i++) {
      await app.restart();
      await sleep(100);
    }
    const restartSeconds = (performance.now() - startedAt) / 1000;
    await app.until(() => app.alivePids().length === 1);
    await sleep(300);
    const result = await wrk.stop();
    const extra =
      balancer instanceof Nginx
        ? { nginxErrorLog: balancer.errors() }
        : { haproxy: await balancer.counters(), haproxyLog: balancer.log.split('\n').filter(Boolean) };
    return { proxy, restarts, restartSeconds: round1(restartSeconds), generations: app.generations.length, wrk: result, ...extra };
  } finally {
    await balancer.stop();
    await app.stop();
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function show(title: string, figures: object): void {
  process.stdout.write(`\n## ${title}\n${JSON.stringify(figures, null, 2)}\n`);
}

const results: Record<string, unknown> = { node: process.version, connections, workMs };
try {
  const scenario = values.scenario!;
  if (scenario === 'all' || scenario === 'rolling') {
    results.rollingWithStopDelay = await rolling(stopDelay);
    show(`rolling deploy behind HAProxy, stopDelay ${stopDelay}`, results.rollingWithStopDelay!);
    results.rollingWithoutStopDelay = await rolling(0);
    show('rolling deploy behind HAProxy, stopDelay 0', results.rollingWithoutStopDelay!);
  }
  if (scenario === 'all' || scenario === 'rolling-nginx') {
    results.rollingNginxWithStopDelay = await rollingNginx(stopDelay);
    show(`rolling deploy behind nginx (passive checks), stopDelay ${stopDelay}`, results.rollingNginxWithStopDelay!);
    results.rollingNginxWithoutStopDelay = await rollingNginx(0);
    show('rolling deploy behind nginx (passive checks), stopDelay 0', results.rollingNginxWithoutStopDelay!);
  }
  if (scenario === 'all' || scenario === 'nginx') {
    results.hotRestartsNginx = await hotRestarts('nginx');
    show('hot restarts behind nginx (upstream keepalive 32)', results.hotRestartsNginx!);
  }
  if (scenario === 'all' || scenario === 'haproxy') {
    results.hotRestartsHaproxy = await hotRestarts('haproxy');
    show('hot restarts behind HAProxy (http-reuse always)', results.hotRestartsHaproxy!);
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
} finally {
  for (const app of apps) for (const pid of app.alivePids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  if (process.env.KEEP_LB_DIR) process.stdout.write(`\nlogs kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
