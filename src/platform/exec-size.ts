import { envFileDefining, type EnvFiles } from './env-file.js';
import { GraceError } from './errors.js';
import { readStackLimit } from './proc.js';

/*
 * How much Linux lets a new process be given (fs/exec.c). Each argument and
 * each NAME=value string, with its NUL, at most MAX_ARG_STRLEN (32 pages:
 * 131072 bytes); all of them together, with a pointer each, at most a
 * quarter of the stack limit (`ulimit -s`), capped at 6 MiB and never below
 * 128 KiB. Past either, execve fails with E2BIG and node's spawn says only
 * "spawn E2BIG", naming nothing, at every try. So each launch checks first,
 * and the refusal names the variable and the env file it came from. The
 * total is exact for a command given by its path (measured against the
 * kernel); what else the kernel may add (a bare name's PATH directory, a
 * script's interpreter) is not counted: a start that still meets E2BIG is
 * named by its largest variables (launcher.ts).
 */

/** The longest string execve takes (an argument, or NAME=value), with its NUL. */
export const MAX_ARG_STRLEN = 131_072;
const POINTER = 8;
const MIB = 1024 * 1024;

/** What execve on Linux takes in all (strings and pointers), given our stack limit; undefined elsewhere. */
export function execSizeLimit(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  const stack = readStackLimit();
  if (stack === undefined) return undefined;
  return Math.max(Math.min(stack / 4, 6 * MIB), MAX_ARG_STRLEN);
}

/**
 * Throws ERR_GRACE_ENV_TOO_LARGE when Linux would refuse to start `command`
 * with `env` (E2BIG): names the variable too long by itself, or the largest
 * ones when all together are too much, and the env file each came from.
 */
export function checkExecSize(command: readonly string[], env: NodeJS.ProcessEnv, envFiles?: EnvFiles): void {
  if (process.platform !== 'linux') return;
  const vars = sizes(env);
  const long = vars.find((v) => v.bytes > MAX_ARG_STRLEN);
  if (long) {
    throw new GraceError(
      'ERR_GRACE_ENV_TOO_LARGE',
      `the environment variable ${long.name}${from(long.name, env, envFiles)} is ${long.bytes} bytes (as NAME=value): Linux starts no process with one over ${MAX_ARG_STRLEN} bytes (E2BIG)`,
    );
  }
  const arg = command.findIndex((a) => Buffer.byteLength(a) + 1 > MAX_ARG_STRLEN);
  if (arg >= 0) throw new GraceError('ERR_GRACE_ENV_TOO_LARGE', `argument ${arg} of the command is ${Buffer.byteLength(command[arg]!) + 1} bytes: Linux starts no process with one over ${MAX_ARG_STRLEN} bytes (E2BIG)`);
  const limit = execSizeLimit();
  if (limit === undefined) return;
  // The kernel copies the path it runs too: the command's, as given (a bare name's PATH directory is not counted).
  const path = Buffer.byteLength(command[0] ?? '') + 1;
  const total = path + vars.reduce((n, v) => n + v.bytes + POINTER, 0) + command.reduce((n, a) => n + Buffer.byteLength(a) + 1 + POINTER, 0);
  if (total <= limit) return;
  throw new GraceError(
    'ERR_GRACE_ENV_TOO_LARGE',
    `the environment and command line come to ${total} bytes, over the ${limit} bytes Linux gives a new process (E2BIG: a quarter of the stack limit, ulimit -s, at most 6 MiB); ${largest(env, envFiles)}`,
  );
}

/** The largest variables of `env`, for a start that failed with E2BIG. */
export function largest(env: NodeJS.ProcessEnv, envFiles?: EnvFiles): string {
  const top = sizes(env)
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3);
  return `the largest variables: ${top.map((v) => `${v.name}${from(v.name, env, envFiles)} ${v.bytes} bytes`).join(', ')}`;
}

/** Each variable spawn passes, and its size in execve (NAME=value and a NUL). */
function sizes(env: NodeJS.ProcessEnv): Array<{ name: string; bytes: number }> {
  return Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => ({ name, bytes: Buffer.byteLength(`${name}=${value}`) + 1 }));
}

function from(name: string, env: NodeJS.ProcessEnv, envFiles: EnvFiles | undefined): string {
  const file = envFiles && envFileDefining(name, env[name]!, envFiles);
  return file ? ` (from env file ${file})` : '';
}
