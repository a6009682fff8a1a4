import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { GraceError } from './errors.js';

/*
 * Env files follow the deploy. Node's rule for `--env-file` is that a
 * variable already in the real environment wins over the file. A child
 * inherits its parent's environment, where the file's values of the last
 * start now look real and would win over the edited file: the next
 * generation would keep the old configuration. So every launch gets the
 * current environment without the values that came from the files, and the
 * files as they are now beneath it:
 *
 * - direct mode (`node --env-file=.env app.js`): grace takes the old values
 *   out and reads the files as they are now at the restart. The next
 *   generation keeps the flags, and its node reads the same files again to
 *   the same effect; a standby generation, whose node read them when it
 *   booted, gets them as they are at its release. Which values came from a
 *   file is decided once, as the package loads: those equal to the file's (a
 *   real variable the file also sets differs from it, since the real one won).
 * - `grace run --env-file F`: the supervisor reads F at every launch (the
 *   first start, a reload, a crash's replacement) and puts its values under
 *   its own environment.
 *
 * A real variable that happens to equal the file's value at start cannot be
 * told from the file's; it is taken for the file's.
 */

/** An env file as given on a command line: `--env-file F`, or `--env-file-if-exists F` (optional). */
export interface EnvFile {
  path: string;
  optional: boolean;
}

/** A process's env files and what it took from them. */
export interface EnvFiles {
  files: readonly EnvFile[];
  /** Where relative paths start (node resolves them against the working directory). */
  cwd: string;
  /** The values this process took from the files when it started: they are not real environment. */
  taken: Readonly<Record<string, string>>;
}

const FLAG = /^--env-file(-if-exists)?(?:=(.*))?$/s;

/** The env files in node's flags (`process.execArgv`), in order: later files win. */
export function envFilesInFlags(execArgv: readonly string[]): EnvFile[] {
  const files: EnvFile[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const match = FLAG.exec(execArgv[i]!);
    if (!match) continue;
    const path = match[2] ?? execArgv[++i];
    if (path) files.push({ path, optional: match[1] !== undefined });
  }
  return files;
}

/**
 * The variables the files define now, later files winning (node's rule). A
 * missing optional file defines none; a required one that cannot be read
 * throws ERR_GRACE_ENV_FILE naming it.
 */
export function readEnvFiles(files: readonly EnvFile[], cwd: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file.path), 'utf8');
    } catch (cause) {
      if (file.optional && (cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new GraceError('ERR_GRACE_ENV_FILE', `cannot read env file ${file.path}: ${(cause as Error).message}`, { cause });
    }
    Object.assign(values, parseEnv(text));
  }
  return values;
}

/** Which of `env`'s values came from the files: those equal to what the files say now. */
export function takenFromFiles(env: NodeJS.ProcessEnv, files: readonly EnvFile[], cwd: string): Record<string, string> {
  if (files.length === 0) return {};
  let defined: Record<string, string>;
  try {
    defined = readEnvFiles(files, cwd);
  } catch {
    return {}; // node read it a moment ago; gone now, it cannot tell us anything
  }
  const taken: Record<string, string> = {};
  for (const [key, value] of Object.entries(defined)) if (env[key] === value) taken[key] = value;
  return taken;
}

/**
 * The environment a launch gets: `current` without the values taken from the
 * files (unless the process has changed one since: then it is its own), then
 * the files as they are now beneath it (the real environment wins). Throws ERR_GRACE_ENV_FILE when a
 * required file cannot be read.
 */
export function envWithFiles(current: NodeJS.ProcessEnv, envFiles: EnvFiles | undefined): NodeJS.ProcessEnv {
  if (!envFiles || envFiles.files.length === 0) return { ...current };
  const real: NodeJS.ProcessEnv = { ...current };
  for (const [key, value] of Object.entries(envFiles.taken)) if (real[key] === value) delete real[key];
  return { ...readEnvFiles(envFiles.files, envFiles.cwd), ...real };
}

/** The env file `name=value` came from (the last one defining it so, as the last wins), or undefined: from the real environment. */
export function envFileDefining(name: string, value: string, envFiles: EnvFiles | undefined): string | undefined {
  for (const file of [...(envFiles?.files ?? [])].reverse()) {
    let defined: Record<string, string>;
    try {
      defined = readEnvFiles([file], envFiles!.cwd);
    } catch {
      continue;
    }
    if (name in defined) return defined[name] === value ? file.path : undefined;
  }
  return undefined;
}
