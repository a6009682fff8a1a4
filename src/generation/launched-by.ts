import { isAbsolute, relative } from 'node:path';
import { shellQuote } from '../platform/printable.js';
import type { ProcessInfo } from '../platform/proc.js';

/*
 * What started this process, and what that means for the restart signal.
 *
 * A file watcher (nodemon, `node --watch`, `tsx watch`) restarts the app
 * itself: nodemon by sending SIGUSR2 to the app and starting it again once it
 * exits. A hot restart there leaves the new generation detached from the
 * watcher, still serving the old code, so under a watcher the restart signal
 * is a graceful stop instead.
 *
 * A wrapper (npm/yarn/pnpm running a script, the tsx CLI) does not pass
 * SIGUSR2 on: signalled, it dies and orphans the app, and after a hot restart
 * it sees its child exit and exits too while the new generation runs on. The
 * app still restarts fine when signalled itself, so grace only says which pid
 * to signal.
 *
 * Markers the tool sets itself come first:
 * - `node --watch`: the child's env has WATCH_REPORT_DEPENDENCIES=1
 *   (lib/internal/main/watch_mode.js spawns it with that variable).
 * - the tsx CLI (`tsx app.ts`, `tsx watch app.ts`): the child runs with
 *   `--require <tsx>/dist/preflight.cjs` (src/run.ts), so execArgv shows it;
 *   `node --import tsx` does not.
 * nodemon sets no variable of its own (lib/monitor/run.js forks or spawns
 * `sh -c` with the user's env), and nothing tells `tsx watch` from `tsx` or a
 * package manager's script from the app's children inheriting its npm_* env.
 * Those are read from the ancestors' command lines (/proc, Linux only): up to
 * MAX_ANCESTORS of them for a watcher (nodemon signals its whole subtree, so
 * one above npm still counts), the nearest one that is not a shell for a
 * wrapper. Without /proc only the markers and npm's env are used.
 */

/** How many ancestors are looked at for a watcher. */
const MAX_ANCESTORS = 8;

/** A file watcher that restarts the app on changes. */
export type Watcher = 'node --watch' | 'nodemon' | 'tsx watch';
/** A process that runs the app but does not pass the restart signal on. */
export type Wrapper = 'npm' | 'yarn' | 'pnpm' | 'tsx';

export type LaunchedBy =
  | { kind: 'watcher'; name: Watcher | 'a file watcher'; how: 'detected' | 'forced' }
  | { kind: 'wrapper'; name: Wrapper; pid: number | undefined }
  | { kind: 'direct' };

/** What detection looks at; the real process's are {@link processFacts}. */
export interface LaunchFacts {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  ppid: number;
  /** Undefined when the process is gone or the OS does not tell (no /proc). */
  readProcess(pid: number): ProcessInfo | undefined;
}

/**
 * `devWatcher` and `GRACE_WATCH` decide before detection does: an explicit
 * boolean option first, then GRACE_WATCH=1/0, then 'auto'.
 */
export type WatcherSetting = 'auto' | boolean;

export function watcherSetting(option: WatcherSetting, env: NodeJS.ProcessEnv): { setting: WatcherSetting; source: string; invalidEnv?: string } {
  if (option !== 'auto') return { setting: option, source: `devWatcher: ${option}` };
  const value = env.GRACE_WATCH;
  if (value === undefined || value === '') return { setting: 'auto', source: 'detected' };
  if (value === '1' || value === 'true') return { setting: true, source: `GRACE_WATCH=${value}` };
  if (value === '0' || value === 'false') return { setting: false, source: `GRACE_WATCH=${value}` };
  return { setting: 'auto', source: 'detected', invalidEnv: `GRACE_WATCH=${JSON.stringify(value)} (expected 1 or 0)` };
}

/**
 * What started this process, as far as it can be told. `setting` true or
 * false overrides the watcher detection (a wrapper is still looked for when
 * it is false).
 */
export function launchedBy(facts: LaunchFacts, setting: WatcherSetting = 'auto'): LaunchedBy {
  const ancestors = [...ancestry(facts)];
  const watcher = setting === false ? undefined : detectWatcher(facts, ancestors);
  if (setting === true) return { kind: 'watcher', name: watcher ?? 'a file watcher', how: 'forced' };
  if (watcher) return { kind: 'watcher', name: watcher, how: 'detected' };
  return detectWrapper(facts, ancestors) ?? { kind: 'direct' };
}

function detectWatcher(facts: LaunchFacts, ancestors: Ancestor[]): Watcher | undefined {
  if (facts.env.WATCH_REPORT_DEPENDENCIES) return 'node --watch';
  for (const { argv } of ancestors) {
    const [program, ...args] = command(argv);
    if (program === 'nodemon') return 'nodemon';
    if (program === 'tsx' && firstOperand(args) === 'watch') return 'tsx watch';
    if (program === 'node' && args.some((a) => a === '--watch' || a.startsWith('--watch=') || a.startsWith('--watch-path'))) return 'node --watch';
  }
  return undefined;
}

function detectWrapper(facts: LaunchFacts, ancestors: Ancestor[]): LaunchedBy | undefined {
  const nearest = ancestors.find(({ argv }) => !SHELLS.has(command(argv)[0] ?? ''));
  const program = nearest && command(nearest.argv)[0];
  if (program && (PACKAGE_MANAGERS as readonly string[]).includes(program)) {
    return { kind: 'wrapper', name: program as Wrapper, pid: nearest.pid };
  }
  if (facts.execArgv.some(isTsxPreflight)) return { kind: 'wrapper', name: 'tsx', pid: program === 'tsx' ? nearest!.pid : undefined };
  // No process tree to read: a package manager's script variables are the only sign.
  if (ancestors.length === 0 && facts.env.npm_lifecycle_event) {
    const agent = /^(npm|yarn|pnpm)\//.exec(facts.env.npm_config_user_agent ?? '')?.[1] as Wrapper | undefined;
    return { kind: 'wrapper', name: agent ?? 'npm', pid: undefined };
  }
  return undefined;
}

interface Ancestor extends ProcessInfo {
  pid: number;
}

function* ancestry(facts: LaunchFacts): Generator<Ancestor> {
  let pid = facts.ppid;
  // pid 1 is looked at too: `npm start` as a container's init is a wrapper.
  for (let i = 0; i < MAX_ANCESTORS && pid >= 1; i++) {
    const info = facts.readProcess(pid);
    if (!info) return;
    yield { pid, ...info };
    pid = info.ppid;
  }
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'fish']);
const PACKAGE_MANAGERS = ['npm', 'yarn', 'pnpm'] as const;

// A tool's name from its command line: `node /x/.bin/nodemon app.js` is
// nodemon, `npm start` (npm sets its process title, one string) is npm.
// Returns the tool's name and the arguments after it.
function command(argv: string[]): string[] {
  const words = argv.length === 1 ? argv[0]!.split(' ') : argv;
  const [first = '', ...rest] = words;
  if (toolName(first) === 'node' && rest[0] && !rest[0].startsWith('-')) {
    return [toolName(rest[0]), ...rest.slice(1)];
  }
  return [toolName(first), ...rest];
}

// `/usr/lib/node_modules/npm/bin/npm-cli.js` → npm, `…/tsx/dist/cli.mjs` → tsx.
function toolName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const name = base.replace(/\.(c|m)?js$/, '').replace(/-cli$/, '');
  if ((name === 'cli' || name === 'index') && /\/tsx\/dist\/cli\.mjs$/.test(path)) return 'tsx';
  if (/^yarn-[\d.]+$/.test(name)) return 'yarn';
  if (name === 'npx') return 'npm';
  if (name === 'pnpx') return 'pnpm';
  return name === 'nodejs' ? 'node' : name;
}

function firstOperand(args: string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

function isTsxPreflight(arg: string): boolean {
  return /[\\/]tsx[\\/]dist[\\/]preflight\.cjs$/.test(arg);
}

/**
 * How to start this process without a wrapper: node, its flags (the tsx CLI's
 * two hooks become `--import tsx`), the script relative to `cwd`, its arguments.
 */
export function directCommand(execArgv: readonly string[], argv: readonly string[], cwd: string): string {
  const flags: string[] = [];
  let tsx = false;
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const next = execArgv[i + 1] ?? '';
    if (((arg === '--require' || arg === '-r') && isTsxPreflight(next)) || (/^--(import|loader|experimental-loader)$/.test(arg) && isTsxLoader(next))) {
      tsx = true;
      i++;
      continue;
    }
    flags.push(arg);
  }
  if (tsx) flags.unshift('--import', 'tsx');
  const script = argv[1] === undefined ? [] : [shortPath(cwd, argv[1])];
  return ['node', ...flags, ...script, ...argv.slice(2)].map(shellQuote).join(' ');
}

// Relative to cwd when it lies below it, else as it is.
function shortPath(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function isTsxLoader(arg: string): boolean {
  return /[\\/]tsx[\\/]dist[\\/]loader\.mjs$/.test(arg);
}

/**
 * The one-line explanation for a wrapper: which pid to signal instead, and how
 * to start without the wrapper.
 */
export function wrapperWarning(by: Extract<LaunchedBy, { kind: 'wrapper' }>, self: { pid: number; signal: NodeJS.Signals; direct: string }): string {
  const who = `${by.name}${by.pid === undefined ? '' : ` (pid ${by.pid})`}`;
  const kill = `kill -${self.signal.replace(/^SIG/, '')} ${self.pid}`;
  return `started by ${who}: signal this process, pid ${self.pid}, for a restart (${kill}), not ${by.name}, which would exit and leave this process running on its own; or run it with \`${self.direct}\` or under \`grace run\``;
}
