// How evenly do connections spread over 2 workers? Each worker of
// bench/workers-app.ts counts what it answered and writes it as it exits;
// wrk drives them, keep-alive and Connection: close, several times each.
//   shared     grace run --workers 2: both accept on one inherited socket
//              (one kernel accept queue; whoever wakes first takes it)
//   shared-capped  the same, with server.maxRequestsPerSocket (node closes a
//              keep-alive connection after so many requests; clients reconnect)
//   reuseport  two processes, each its own SO_REUSEPORT socket on the port
//              (the kernel hashes each connection to one socket; Node >= 22.12)
//
//   node --import tsx bench/spread.ts [--seconds 5] [--repeats 3] [--connections 8,50]
//   npx -y -p node@22 node --import tsx bench/spread.ts   # adds reuseport
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from './pm2.ts';
import { drive } from './wrk.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8,50' },
    'max-requests-per-socket': { type: 'string', default: '100' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write('usage: node --import tsx bench/spread.ts [--seconds 5] [--repeats 3] [--connections 8,50]\n');
  process.exit(0);
}

const root = new URL('..', import.meta.url).pathname;
const BUILD = join(root, 'bench/.build/spread');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const hasReusePort = major > 22 || (major === 22 && minor >= 12);

rmSync(BUILD, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--outDir', BUILD, '--rootDir', root, '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', join(root, 'bench/workers-app.ts'), join(root, 'src/cli.ts')], { stdio: 'inherit' });
writeFileSync(join(BUILD, 'package.json'), '{ "type": "module" }\n');

type Kind = 'shared' | 'shared-capped' | 'reuseport';

async function measure(kind: Kind, keepAlive: boolean, connections: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'grace-spread-'));
  const stats = join(dir, 'stats');
  mkdirSync(stats);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, STATS_DIR: stats, PORT: String(port) };
  if (kind === 'shared-capped') env.MAX_REQUESTS_PER_SOCKET = args['max-requests-per-socket'];
  const procs: ChildProcess[] = [];
  try {
    if (kind !== 'reuseport') {
      const pidFile = join(dir, 'pid');
      procs.push(spawn(process.execPath, [join(BUILD, 'src/cli.js'), 'run', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--pid-file', pidFile, '--', process.execPath, join(BUILD, 'bench/workers-app.js')], { env, stdio: 'ignore' }));
      for (let i = 0; i < 600; i++) {
        try {
          const state = JSON.parse(readFileSync(pidFile, 'utf8').split('\n')[1]!.slice('grace '.length)) as { workers: Array<{ state: string }> };
          if (state.workers.filter((w) => w.state === 'serving').length === 2) break;
        } catch {
          // not yet
        }
        await sleep(50);
      }
    } else {
      for (let i = 0; i < 2; i++) procs.push(spawn(process.execPath, [join(BUILD, 'bench/workers-app.js')], { env: { ...env, REUSEPORT: '1', GRACE_WORKER: String(i) }, stdio: 'ignore' }));
      await sleep(1500);
    }
    await drive({ url: `http://127.0.0.1:${port}/`, connections, keepAlive, seconds: Number(args.seconds) });
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : undefined)));
    return readdirSync(stats).map((f) => (JSON.parse(readFileSync(join(stats, f), 'utf8')) as { answered: number }).answered);
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`node ${process.version}; wrk -t2, ${args.seconds} s per run; max/min of requests per worker`);
console.log('| socket | mode | connections | max/min per run |');
console.log('| --- | --- | --- | --- |');
const kinds: Kind[] = hasReusePort ? ['shared', 'shared-capped', 'reuseport'] : ['shared', 'shared-capped'];
for (const kind of kinds) {
  for (const keepAlive of kind === 'shared-capped' ? [true] : [true, false]) {
    for (const connections of args.connections.split(',').map(Number)) {
      const ratios: string[] = [];
      for (let r = 0; r < Number(args.repeats); r++) {
        const counts = await measure(kind, keepAlive, connections);
        ratios.push(counts.length === 2 ? (Math.max(...counts) / Math.max(1, Math.min(...counts))).toFixed(2) : `${counts.length} workers answered`);
      }
      const label = kind === 'shared-capped' ? `shared, maxRequestsPerSocket ${args['max-requests-per-socket']}` : kind;
      console.log(`| ${label} | ${keepAlive ? 'keep-alive' : 'close'} | ${connections} | ${ratios.join(', ')} |`);
    }
  }
}
rmSync(BUILD, { recursive: true, force: true });
