import type { Server } from 'node:net';
import { GraceError } from '../platform/errors.js';
import { defaultListenSpec, describeSpec, ONLY_INHERITED, type ListenSpec } from '../sockets/listen-spec.js';
import type { Listener } from '../sockets/net.js';
import { openStarterChannel } from '../protocol/ready-pipe.js';
import { processAbout, StatusReporter } from '../reporting/status.js';
import type { ResolvedWarmUp } from '../serving/warm-up.js';
import { addresses, emitAfterStart, type GenerationContext } from './context.js';
import { directCommand, launchedBy, watcherSetting, wrapperWarning } from './launched-by.js';
import { platformOff, restartOff } from './restart-off.js';
import { removeSocketFiles } from './stopping.js';

/** What start-up needs from the rest of the generation. */
export interface StartUpHooks {
  /** Signals and crash handling, installed before the ready hook runs. */
  installSignals(): void;
  /** Start-up failed: signals and crash handling go. */
  uninstallSignals(): void;
}

/**
 * A generation's start-up, in order: read the inherited sockets and who
 * started us, install the signals, run the ready hook and the warm-up, then
 * adopt or bind every socket. Nothing is accepted before the ready hook
 * resolved; a stop that arrives meanwhile ends start-up without accepting.
 * What it learns it writes into the context (`starter`, `generation`, `log`,
 * `launchedBy`, `channel`, `status`, `warming`, `bound`, `where`) and tells
 * the lifecycle (`starter-known`).
 */
export async function startUp(
  g: GenerationContext,
  targets: Array<{ server: Server; listen: ListenSpec | undefined }>,
  hooks: StartUpHooks,
): Promise<'serving' | 'stopped'> {
  try {
    const env = g.net.inherit();
    if (env.ignored) g.log.warn(`ignoring ${env.ignored}`, { event: 'env-ignored' });
    // serve(server) with no spec: decided here, as it depends on what was inherited.
    const listens = targets.map((t) => t.listen ?? defaultListenSpec(env.fds.length, g.host.env));
    g.starter = env.starter;
    g.generation = env.generation;
    const supervised = g.starter?.kind === 'supervisor';
    g.log = g.log.with({ generation: g.generation });
    if (g.starter) {
      const starter = g.starter;
      g.channel = openStarterChannel(g.host, starter, g.log, {
        retire: () => g.dispatch({ type: 'retire' }),
        gone: (why) => {
          g.log.warn(`${why}: stopping pid ${g.host.pid}`, { event: 'starter-gone', starter: starter.pid });
          g.dispatch({ type: 'starter-gone' });
        },
      });
    }
    const sayLaunch = readLaunch(g);
    g.dispatch({ type: 'starter-known', supervised, restartOff: restartOff(g.host, g.launchedBy, supervised) });
    if (!supervised) {
      g.status = new StatusReporter(g.host, g.log, {
        pidFile: g.options.pidFile,
        signal: g.options.restartSignal === false || g.launchedBy.kind === 'watcher' ? null : g.options.restartSignal,
        mainPidMoves: true,
        ...(g.options.pidFile ? { about: processAbout(g.host) } : {}),
      });
    }
    hooks.installSignals();
    g.log.info(`Starting pid ${g.host.pid} (generation ${g.generation})`, { event: 'starting', inherited: env.fds.length });
    sayLaunch();
    try {
      await g.options.ready?.();
    } catch (cause) {
      throw new GraceError('ERR_GRACE_READY', `the ready hook failed: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    if (g.options.warmUp) await warmUp(g, targets, g.options.warmUp);
    if (g.lifecycle().state !== 'starting') return 'stopped'; // stopped while the ready hook or the warm-up ran
    for (const [i, { server }] of targets.entries()) {
      const listen = listens[i]!;
      g.bound.push(listen === ONLY_INHERITED ? await g.net.listenOnlyInherited(server) : await g.net.listen(server, listen, { pidFile: g.options.pidFile }));
      // A stop between two listens has drained already: accept nothing after it.
      if (g.lifecycle().state !== 'starting') {
        closeListening(g.bound);
        return 'stopped';
      }
    }
    checkUnclaimed(g);
  } catch (err) {
    // Close what we opened. Only paths this process bound are removed; an
    // inherited path is still served by the previous generation.
    g.channel?.close();
    hooks.uninstallSignals();
    closeListening(g.bound);
    removeSocketFiles(g, g.bound.filter((l) => !l.inherited));
    throw err;
  }
  g.where = describeAddresses(g.bound);
  g.log.info(`Serving ${g.where} with pid ${g.host.pid}`, { event: 'serving', addresses: addresses(g) });
  emitAfterStart(g, 'listening', { pid: g.host.pid, addresses: addresses(g) });
  return 'serving';
}

// Loaded on first use: most apps do not warm up. A stop during it aborts it.
async function warmUp(g: GenerationContext, targets: ReadonlyArray<{ server: Server }>, options: ResolvedWarmUp): Promise<void> {
  const { warmUp } = await import('../serving/warm-up.js');
  if (g.lifecycle().state !== 'starting') return; // stopped while the ready hook ran
  const abort = new AbortController();
  const warming = warmUp(targets, options, { logger: g.log, host: g.host, signal: abort.signal });
  g.warming = { abort, over: warming.catch(() => {}) };
  try {
    await warming;
  } finally {
    g.warming = undefined;
  }
}

/**
 * Who started us, when nobody in grace did (generation 1, not under `grace
 * run`): a file watcher turns hot restarts off, a wrapper earns a warning.
 * Returns what to log, once, after the "Starting" line.
 */
function readLaunch(g: GenerationContext): () => void {
  const { restartSignal, devWatcher } = g.options;
  if (g.starter) return () => {};
  const { setting, source, invalidEnv } = watcherSetting(devWatcher, g.host.env);
  const facts = { env: g.host.env, execArgv: g.host.execArgv, ppid: g.host.ppid(), readProcess: g.host.readProcess };
  const launch = (g.launchedBy = launchedBy(facts, setting));
  return () => {
    if (invalidEnv) g.log.warn(`ignoring ${invalidEnv}`, { event: 'env-ignored' });
    if (restartSignal === false || platformOff(g.host)) return;
    if (launch.kind === 'watcher') {
      const why = launch.how === 'forced' ? ` (${source})` : '';
      g.log.info(`running under ${launch.name}${why}: ${restartSignal} stops gracefully instead of restarting (the watcher restarts the app)`, { event: 'watcher', watcher: launch.name });
    } else if (launch.kind === 'wrapper') {
      const direct = directCommand(g.host.execArgv, g.host.argv, g.host.cwd());
      g.log.warn(wrapperWarning(launch, { pid: g.host.pid, signal: restartSignal, direct }), { event: 'wrapper', wrapper: launch.name });
    }
  };
}

// Under a supervisor, every socket it holds is there for the app to serve:
// one left over means the app and `--listen` disagree, and it is not ready.
function checkUnclaimed(g: GenerationContext): void {
  const unclaimed = g.net.closeUnclaimed();
  const names = unclaimed.map(({ fd, name }) => `fd ${fd}${name === undefined ? '' : ` (${name})`}`);
  if (unclaimed.length && g.starter?.kind === 'supervisor') {
    throw new GraceError('ERR_GRACE_INHERITED_FD', `grace run holds ${names.join(', ')}, but this app does not listen on it: make --listen match what the app serves`);
  }
  for (const name of names) g.log.warn(`closed inherited ${name}: nothing listens on it in this generation`, { event: 'inherited-closed', fd: name });
}

function closeListening(bound: Listener[]): void {
  for (const { server } of bound) if (server.listening) server.close();
}

function describeAddresses(bound: Listener[]): string {
  return bound
    .map((l) => {
      const address = l.server.address();
      if (address && typeof address === 'object') {
        return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
      }
      return describeSpec(l.spec);
    })
    .join(', ');
}
