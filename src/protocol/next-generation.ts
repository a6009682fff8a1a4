import { existsSync } from 'node:fs';
import { generationEnv, type ResolvedLaunchSpec } from './launcher.js';
import type { Handoff } from '../sockets/net.js';
import type { ProcessHost } from '../platform/process-host.js';

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
 * How to launch the next generation: our node, flags, script, cwd and stdio,
 * the listening sockets as fds 3.., the protocol variables naming us as its
 * parent, and a compile cache to share (compile-cache.ts). Throws when the working directory is gone.
 */
export function nextGenerationSpec(host: ProcessHost, handoff: Handoff, generation: number, readyTimeout: number): ResolvedLaunchSpec {
  const { file, args } = nextGenerationCommand(host);
  const env = generationEnv(host.env, handoff.names, generation, { kind: 'parent', pid: host.pid }, host.envFiles);
  if (env.NODE_OPTIONS) env.NODE_OPTIONS = stripInspectorFlags(env.NODE_OPTIONS.split(/\s+/)).join(' ');
  const cwd = host.cwd();
  // spawn would report a vanished cwd as "spawn node ENOENT", naming the wrong thing.
  if (!existsSync(cwd)) throw new Error(`the working directory ${cwd} no longer exists (removed by a deploy?)`);
  return { file, args, env, cwd, fds: handoff.fds, readyTimeout, label: 'new generation' };
}
