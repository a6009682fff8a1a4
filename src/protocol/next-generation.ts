import { existsSync } from 'node:fs';
import { generationEnv, type ResolvedLaunchSpec } from './launcher.js';
import { withoutNodeOptions } from './node-options.js';
import { checkExecSize } from '../platform/exec-size.js';
import type { Handoff } from '../sockets/net.js';
import type { ProcessHost } from '../platform/process-host.js';

// A second process cannot bind the inspector port the first one holds.
const INSPECTOR_FLAG = /^--(inspect(-brk|-wait|-port|-publish-uid)?|debug-port)(=|$)/;

/** How many arguments an inspector flag takes from `arg` on: 0 (not one), 1, or 2 (`--inspect-port 9230`). */
function inspectorArgs(arg: string): number {
  if (!INSPECTOR_FLAG.test(arg)) return 0;
  return /^--(inspect-port|debug-port|inspect-publish-uid)$/.test(arg) ? 2 : 1;
}

/** Drops `--inspect*` flags (and a separate value after `--inspect-port`/`--debug-port`). */
export function stripInspectorFlags(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const count = inspectorArgs(args[i]!);
    if (count === 0) kept.push(args[i]!);
    else i += count - 1;
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
 * How to launch the next generation: our node, flags, script, cwd and stdio,
 * the listening sockets as fds 3.., the protocol variables naming us as its
 * parent, and a compile cache to share (compile-cache.ts). Throws when the
 * working directory is gone, or the environment is too large to start a process with.
 */
export function nextGenerationSpec(host: ProcessHost, handoff: Handoff, generation: number, readyTimeout: number): ResolvedLaunchSpec {
  const { file, args } = nextGenerationCommand(host);
  const env = generationEnv(host.env, handoff.names, generation, { kind: 'parent', pid: host.pid }, host.envFiles);
  // Only the inspector flags go: the rest of NODE_OPTIONS is kept byte for byte (quoted paths with spaces in them).
  if (env.NODE_OPTIONS) env.NODE_OPTIONS = withoutNodeOptions(env.NODE_OPTIONS, inspectorArgs);
  // Named here (and the env file it came from), where spawn would say only "spawn E2BIG".
  checkExecSize([file, ...args], env, host.envFiles);
  const cwd = host.cwd();
  // spawn would report a vanished cwd as "spawn node ENOENT", naming the wrong thing.
  if (!existsSync(cwd)) throw new Error(`the working directory ${cwd} no longer exists (removed by a deploy?)`);
  return { file, args, env, cwd, fds: handoff.fds, readyTimeout, label: 'new generation' };
}
