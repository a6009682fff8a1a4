// The handover's edges, counted over many restarts (issue #8's figures):
//   1. idle handovers: how many old generations exit with status 0 and run
//      the code after `await serve()` (a generation killed by its successor's
//      SIGTERM reports neither);
//   2. restarts with a 2 s ready hook under load: responses from a generation
//      whose ready hook had not resolved (the app answers 503 until then);
//   3. a new generation killed at readyTimeout under load: failed requests.
//
//   node --import tsx bench/handovers.ts [--count 100] [--app DIR] [--name NAME]
// --app runs another checkout's bench/handover-app.ts (e.g. an older commit, for a before/after).
// Prints the figures and writes them to bench/results/NAME.json (default handovers-nodeN).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from './load.ts';
import { nodeMajor, resultsHeader, writeResults } from './results-file.ts';
import { isAlive } from './server-process.ts';

const { values } = parseArgs({ options: { count: { type: 'string', default: '100' }, app: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean' } } });
if (values.help) {
  process.stdout.write(`usage: node --import tsx bench/handovers.ts [--count N] [--app CHECKOUT_DIR] [--name NAME]

Counts the handover's edges: N idle handovers, then N/20 restarts with a 2 s ready hook and
N/20 children killed at readyTimeout, both under load. Writes bench/results/NAME.json
(default handovers-node${nodeMajor}).
`);
  process.exit(0);
}
const root = values.app ?? new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'grace-handovers-'));
const control = join(dir, 'control.json');
const setControl = (value: object) => writeFileSync(control, JSON.stringify(value));

interface Event {
  event: string;
  pid: number;
  code?: number;
  port?: number;
}

function startApp(env: NodeJS.ProcessEnv = {}) {
  const events: Event[] = [];
  let log = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/handover-app.ts')], {
    cwd: root,
    env: { ...process.env, CONTROL: control, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      events.push(JSON.parse(out.slice(0, nl)));
      out = out.slice(nl + 1);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const until = async (check: () => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out; log:\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const pids = () => [...new Set(events.map((e) => e.pid))];
  const kill = () => pids().forEach((pid) => isAlive(pid) && process.kill(pid, 'SIGKILL'));
  return { events, until, pids, kill, log: () => log };
}

async function idleHandovers(count: number) {
  setControl({});
  const app = startApp();
  try {
    await app.until(() => app.events.some((e) => e.event === 'ready'));
    let current = app.events.find((e) => e.event === 'ready')!.pid;
    let exitedZero = 0;
    let afterServe = 0;
    let killed = 0;
    for (let i = 0; i < count; i++) {
      const old = current;
      process.kill(old, 'SIGUSR2');
      await app.until(() => app.events.some((e) => e.event === 'ready' && e.pid !== old && !app.events.some((x) => x.event === 'exit' && x.pid === e.pid) && e.pid > 0 && e.pid !== current));
      current = app.events.filter((e) => e.event === 'ready').at(-1)!.pid;
      await app.until(() => !isAlive(old));
      // stdout is synchronous on a pipe: an 'exit' line, if any, is read just after.
      await new Promise((r) => setTimeout(r, 50));
      const exit = app.events.find((e) => e.event === 'exit' && e.pid === old);
      if (exit?.code === 0) exitedZero++;
      if (!exit) killed++;
      if (app.events.some((e) => e.event === 'after-serve' && e.pid === old)) afterServe++;
    }
    return { handovers: count, exitedZero, afterServe, killedBySignal: killed };
  } finally {
    app.kill();
  }
}

async function underLoad(restarts: number, kind: 'ready-delay' | 'ready-timeout') {
  setControl({});
  // Long enough for a child started under load to get as far as its ready hook.
  const app = startApp(kind === 'ready-timeout' ? { READY_TIMEOUT: '4000' } : {});
  try {
    await app.until(() => app.events.some((e) => e.event === 'ready'));
    const port = app.events.find((e) => e.event === 'ready')!.port!;
    const stop = new AbortController();
    const load = runLoad({ host: '127.0.0.1', port, connections: 8, keepAlive: false, signal: stop.signal });
    for (let i = 0; i < restarts; i++) {
      const readyCount = app.events.filter((e) => e.event === 'ready').length;
      const failedCount = app.events.filter((e) => e.event === 'restart-failed').length;
      const current = app.events.filter((e) => e.event === 'ready').at(-1)!.pid;
      setControl(kind === 'ready-delay' ? { readyDelay: 2000 } : { hang: true });
      process.kill(current, 'SIGUSR2');
      if (kind === 'ready-delay') await app.until(() => app.events.filter((e) => e.event === 'ready').length > readyCount && !isAlive(current));
      else await app.until(() => app.events.filter((e) => e.event === 'restart-failed').length > failedCount);
      setControl({});
    }
    stop.abort();
    const samples = await load;
    return {
      restarts,
      requests: samples.count,
      unready: samples.failures('status'),
      failed: samples.failures() - samples.failures('status'),
      errors: Object.fromEntries(samples.errors),
    };
  } finally {
    app.kill();
  }
}

try {
  const count = Number(values.count);
  const app = join(root, 'bench/handover-app.ts');
  const result: Record<string, unknown> = { ...resultsHeader(values), app };
  console.log(`app: ${app}`);
  result.idleHandovers = await idleHandovers(count);
  console.log('idle handovers:', JSON.stringify(result.idleHandovers));
  result.readyHookUnderLoad = await underLoad(Math.max(1, Math.round(count / 20)), 'ready-delay');
  console.log('2 s ready hook, under load:', JSON.stringify(result.readyHookUnderLoad));
  result.killedAtReadyTimeoutUnderLoad = await underLoad(Math.max(1, Math.round(count / 20)), 'ready-timeout');
  console.log('child killed at readyTimeout, under load:', JSON.stringify(result.killedAtReadyTimeoutUnderLoad));
  console.log(`results: ${writeResults(values.name ?? `handovers-node${nodeMajor}`, result)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
