/**
 * Everything grace takes from the process as a whole (pid, env, argv,
 * signals), in one place, so tests can run grace against a stand-in process.
 */
export interface ProcessHost {
  readonly pid: number;
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  readonly execPath: string;
  readonly execArgv: readonly string[];
  /** `process.argv`: the script and its arguments start at index 1. */
  readonly argv: readonly string[];
  /** Live: becomes 1 or a subreaper's pid once our parent has exited. */
  ppid(): number;
  cwd(): string;
  /** Handles a signal until the returned function is called. */
  onSignal(signal: NodeJS.Signals, handler: () => void): () => void;
  kill(pid: number, signal: NodeJS.Signals): void;
  exit(code: number): void;
}

export const realProcess: ProcessHost = {
  pid: process.pid,
  platform: process.platform,
  env: process.env,
  execPath: process.execPath,
  execArgv: process.execArgv,
  argv: process.argv,
  ppid: () => process.ppid,
  cwd: () => process.cwd(),
  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.removeListener(signal, handler);
  },
  kill: (pid, signal) => process.kill(pid, signal),
  exit: (code) => process.exit(code),
};

/** Whether this platform can pass listening sockets to a child process. */
export function canPassSockets(host: ProcessHost): boolean {
  return host.platform !== 'win32';
}
