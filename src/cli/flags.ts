import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../platform/duration.js';
import { GraceError } from '../platform/errors.js';
import { checkCount } from '../supervisor/core/settings.js';

/*
 * The flags of every `grace` command, read one way. node's parseArgs lets a
 * later flag win over an earlier one (`--workers 2 --workers 3` ran 3) and
 * takes an empty value as given (`--pid-file ''` ran with no pid file):
 * here a flag is given once, unless it is one that adds up (`multiple`:
 * --listen, --env-file), and its value is never empty. Numbers are refused
 * by name with their range. Every refusal is ERR_GRACE_USAGE: exit 2, the
 * message, then the command's usage.
 */

export type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** What each flag was given: a boolean, the values of one that adds up, or a string. */
export type FlagValues<T extends FlagOptions> = {
  [K in keyof T]?: T[K] extends { type: 'boolean' } ? boolean : T[K] extends { multiple: true } ? string[] : string;
};

/**
 * parseArgs, strictly, then the rules above. A negative number after a flag
 * that takes a value is that value (`--workers -1`), so the flag's own check
 * refuses it with its range, rather than parseArgs calling it a missing value.
 */
export function parseFlags<T extends FlagOptions>(args: string[], options: T, allowPositionals = false): { values: FlagValues<T>; positionals: string[] } {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i]!)?.[1];
    const next = args[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else joined.push(args[i]!);
  }
  const parsed = parseArgs({ args: joined, options, strict: true, allowPositionals, tokens: true });
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const flag = `--${token.name}`;
    if (seen.has(token.name) && !options[token.name]?.multiple) {
      throw new GraceError('ERR_GRACE_USAGE', `${flag} is given more than once: give it once`);
    }
    seen.add(token.name);
    if (token.value === '') throw new GraceError('ERR_GRACE_USAGE', `${flag} needs a value, got an empty one`);
  }
  return { values: parsed.values as FlagValues<T>, positionals: parsed.positionals };
}

/** A whole number from 1 to `max` (`--workers`, `--surge`, `--standby`, a worker count): the rule is core/settings.ts's. */
export function count(flag: string, value: string | undefined, max: number): number | undefined {
  return value === undefined ? undefined : checkCount(flag, value, max, flag === '--workers' ? ', or max' : '');
}

/** A duration that may be 0 (`--stop-delay`: no delay). */
export function milliseconds(flag: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseDuration(flag, value, 'ERR_GRACE_USAGE');
}

/**
 * A timeout: at least 1 ms. A timeout of 0 is no wait at all (`grace
 * reload --timeout 0` gave up while the reload went on; `--ready-timeout 0`
 * failed every start, a crash loop), and systemd reads 0 as "no timeout":
 * either reading would surprise someone, so it is refused.
 */
export function timeout(flag: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseDuration(flag, value, 'ERR_GRACE_USAGE', { positive: true });
}

/**
 * parseArgs's errors (ERR_PARSE_ARGS_*) as usage errors naming the argument,
 * rather than a TypeError's stack; others as they are.
 */
export function asUsageError(err: Error & { code?: string }, command: string): Error & { code?: string } {
  if (!err.code?.startsWith('ERR_PARSE_ARGS_')) return err;
  const arg = /'([^' ]*)/.exec(err.message)?.[1] ?? '';
  const message =
    err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? `grace ${command} has no option ${arg}`
      : err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
        ? `grace ${command} takes no argument ${JSON.stringify(arg)}${command === 'run' ? ' before --' : ''}`
        : /does not take an argument/.test(err.message)
          ? `${arg} takes no value`
          : `${arg} needs a value`;
  return new GraceError('ERR_GRACE_USAGE', message, { cause: err });
}

/**
 * The pid file a command is given: `--pid-file FILE`, else GRACE_PID_FILE
 * (the flag wins). An empty GRACE_PID_FILE is refused, as an empty
 * `--pid-file` is: `GRACE_PID_FILE=` left in a unit or a shell would
 * otherwise run `grace run` with no pid file while `grace reload` found none.
 */
export function pidFileOf(command: string, flag: string | undefined, env: NodeJS.ProcessEnv, required: boolean): string | undefined {
  if (flag !== undefined) return flag;
  const fromEnv = env.GRACE_PID_FILE;
  if (fromEnv === '') throw new GraceError('ERR_GRACE_USAGE', 'GRACE_PID_FILE is set but empty: set it to the pid file\'s path, or unset it');
  if (fromEnv === undefined && required) throw new GraceError('ERR_GRACE_USAGE', `grace ${command} needs --pid-file FILE (or GRACE_PID_FILE=FILE in its environment)`);
  return fromEnv;
}
