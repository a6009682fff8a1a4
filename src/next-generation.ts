import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { childListenEnv, LISTEN_FDS_START } from './listen-env.js';
import type { Handoff } from './net.js';
import type { ProcessHost } from './process-host.js';

// A second process cannot bind the inspector port the first one holds.
const INSPECTOR_FLAG = /^--(inspect(-brk|-wait|-port|-publish-uid)?|debug-port)(=|$)/;

/** Drops `--inspect*` flags (and a separate value after `--inspect-port`/`--debug-port`). */
export function stripInspectorFlags(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!INSPECTOR_FLAG.test(arg)) {
      kept.push(arg);
      continue;
    }
    const takesValue = /^--(inspect-port|debug-port|inspect-publish-uid)$/.test(arg);
    if (takesValue) i++;
  }
  return kept;
}

/** The command that starts this program again: the same node, flags and script. */
export function nextGenerationCommand(host: ProcessHost): { file: string; args: string[] } {
  return {
    file: host.execPath,
    args: [...stripInspectorFlags(host.execArgv), ...host.argv.slice(1)],
  };
}

/**
 * Starts the next generation with the listening sockets as fds 3.., our stdio,
 * cwd and environment, plus the protocol variables, and a pipe after the
 * sockets (`GRACE_READY_FD`) on which it says "hello" and then "ready".
 */
export function spawnNextGeneration(host: ProcessHost, handoff: Handoff, generation: number): ChildProcess {
  const { file, args } = nextGenerationCommand(host);
  const readyFd = LISTEN_FDS_START + handoff.fds.length;
  const env = childListenEnv(host.env, handoff.names, { parentPid: host.pid, generation, readyFd });
  if (env.NODE_OPTIONS) env.NODE_OPTIONS = stripInspectorFlags(env.NODE_OPTIONS.split(/\s+/)).join(' ');
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', ...handoff.fds, 'pipe'];
  const cwd = host.cwd();
  // spawn would report a vanished cwd as "spawn node ENOENT", naming the wrong thing.
  if (!existsSync(cwd)) throw new Error(`the working directory ${cwd} no longer exists (removed by a deploy?)`);
  return spawn(file, args, { cwd, env, stdio });
}

/** The parent's end of the next generation's ready pipe. */
export function readyPipeOf(child: ChildProcess, handoff: Handoff): Readable | undefined {
  return (child.stdio[LISTEN_FDS_START + handoff.fds.length] as Readable | null | undefined) ?? undefined;
}
