import { readProcess, type ProcessInfo } from './proc.js';
import { LISTEN_ENV_KEYS } from './listen-env.js';
import { envFilesInFlags, takenFromFiles, type EnvFiles } from './env-file.js';

/**
 * Everything grace takes from the process as a whole (pid, env, argv,
 * signals), in one place, so tests can run grace against a stand-in process.
 */
export interface ProcessHost {
  readonly pid: number;
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  /**
   * The protocol variables (LISTEN_*, GRACE_*) this process was started with.
   * For the real process they are taken out of `process.env` when the package
   * loads, so no subprocess the app starts before `serve()` inherits them.
   */
  readonly protocolEnv: NodeJS.ProcessEnv;
  /** The env files in node's flags (`--env-file`) and the values taken from them at start (env-file.ts). */
  readonly envFiles?: EnvFiles;
  readonly execPath: string;
  readonly execArgv: readonly string[];
  /** `process.argv`: the script and its arguments start at index 1. */
  readonly argv: readonly string[];
  /** Live: becomes 1 or a subreaper's pid once our parent has exited. */
  ppid(): number;
  /** Another process's parent and command line (Linux /proc); undefined where it cannot be read. */
  readProcess(pid: number): ProcessInfo | undefined;
  cwd(): string;
  /** Handles a signal until the returned function is called. */
  onSignal(signal: NodeJS.Signals, handler: () => void): () => void;
  /**
   * Handles uncaught exceptions and unhandled rejections until the returned
   * function is called (while handled, they do not end the process).
   */
  onUncaught(handler: (error: unknown, origin: 'uncaughtException' | 'unhandledRejection') => void): () => void;
  /**
   * Runs `fn` (synchronous work only) when the process exits: an empty event
   * loop, `process.exit()`, an uncaught error; not a kill by a signal. Until
   * the returned function is called.
   */
  onExit(fn: () => void): () => void;
  kill(pid: number, signal: NodeJS.Signals): void;
  exit(code: number): void;
  /** The status the process exits with when its event loop empties. */
  setExitCode(code: number): void;
}

// One snapshot per process, even when the package is loaded twice (an ESM and
// a CommonJS copy): the first copy to load takes the variables, the second
// finds them here.
const SNAPSHOT = Symbol.for('grace-restart.protocol-env');
type WithSnapshot = typeof globalThis & { [SNAPSHOT]?: NodeJS.ProcessEnv };

function takeProtocolEnv(): NodeJS.ProcessEnv {
  const global = globalThis as WithSnapshot;
  if (!global[SNAPSHOT]) {
    const taken: NodeJS.ProcessEnv = {};
    for (const key of LISTEN_ENV_KEYS) {
      if (process.env[key] !== undefined) taken[key] = process.env[key];
      delete process.env[key];
    }
    global[SNAPSHOT] = taken;
  }
  return global[SNAPSHOT];
}

// Decided as the package loads, before the app changes process.env; once
// per process, like the protocol variables.
const ENV_FILES = Symbol.for('grace-restart.env-files');
type WithEnvFiles = typeof globalThis & { [ENV_FILES]?: EnvFiles };

function envFilesAtStart(): EnvFiles {
  const global = globalThis as WithEnvFiles;
  if (!global[ENV_FILES]) {
    const files = envFilesInFlags(process.execArgv);
    const cwd = process.cwd();
    global[ENV_FILES] = { files, cwd, taken: takenFromFiles(process.env, files, cwd) };
  }
  return global[ENV_FILES];
}

/**
 * The global a standby's park (standby-preload.cts) sets before it loads
 * grace, while the environment is still the boot's: grace then takes
 * nothing as it loads, but leaves here what to take, and the park calls it
 * once the release has given the process its environment.
 */
export const PARKED_GLOBAL = 'grace-restart.parked';
const PARKED = Symbol.for(PARKED_GLOBAL);
type InPark = typeof globalThis & { [PARKED]?: true | (() => void) };

function takeAtStart(): void {
  takeProtocolEnv();
  envFilesAtStart();
}

if ((globalThis as InPark)[PARKED] === true) (globalThis as InPark)[PARKED] = takeAtStart;
else takeAtStart();

export const realProcess: ProcessHost = {
  pid: process.pid,
  platform: process.platform,
  env: process.env,
  // Taken as the package loads (or, in a standby, as it is released): these read the snapshots.
  get protocolEnv() {
    return takeProtocolEnv();
  },
  get envFiles() {
    return envFilesAtStart();
  },
  execPath: process.execPath,
  execArgv: process.execArgv,
  argv: process.argv,
  ppid: () => process.ppid,
  readProcess,
  cwd: () => process.cwd(),
  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.removeListener(signal, handler);
  },
  onUncaught(handler) {
    const onException = (error: unknown) => handler(error, 'uncaughtException');
    const onRejection = (reason: unknown) => handler(reason, 'unhandledRejection');
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
    return () => {
      process.removeListener('uncaughtException', onException);
      process.removeListener('unhandledRejection', onRejection);
    };
  },
  onExit(fn) {
    process.on('exit', fn);
    return () => process.removeListener('exit', fn);
  },
  kill: (pid, signal) => process.kill(pid, signal),
  exit: (code) => process.exit(code),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/** Whether this platform can pass listening sockets to a child process. */
export function canPassSockets(host: Pick<ProcessHost, 'platform'>): boolean {
  return host.platform !== 'win32';
}
