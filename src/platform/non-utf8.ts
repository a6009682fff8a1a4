import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';

/*
 * Node decodes its command line and environment as UTF-8 when it starts:
 * bytes that are not UTF-8 (`caf\xe9` in Latin-1) are U+FFFD in process.argv
 * and process.env, and no Node API takes them as bytes: child_process encodes
 * its string arguments and environment as UTF-8 (nodejs/node#16961, #43672).
 * So a next generation, or a `grace run` worker, is given EF BF BD where this
 * process was given other bytes. JavaScript code sees the same strings in
 * both (U+FFFD already); native code (getenv), /proc/<pid>/cmdline and ps
 * see the change. grace cannot pass them on; it names them, so the change is
 * no mystery. Linux only: /proc/<pid>/cmdline and /environ hold the bytes the
 * process was started with.
 */

/** The arguments and environment variables `pid` was started with that are not UTF-8, described; [] where /proc is not there. */
export function nonUtf8Inputs(pid: number, env: NodeJS.ProcessEnv): string[] {
  const found: string[] = [];
  for (const [i, arg] of entries(`/proc/${pid}/cmdline`)) {
    if (!isUtf8(arg)) found.push(`argument ${i} (${JSON.stringify(arg.toString('utf8'))})`);
  }
  for (const [, variable] of entries(`/proc/${pid}/environ`)) {
    if (isUtf8(variable)) continue;
    const text = variable.toString('utf8');
    const name = text.slice(0, Math.max(0, text.indexOf('=')));
    // One the app has since removed is not passed on.
    if (name && env[name] !== undefined) found.push(`environment variable ${JSON.stringify(name)}`);
  }
  return found;
}

/** The warning to log before starting `who` from this process, or undefined when everything is UTF-8. */
export function nonUtf8Warning(pid: number, env: NodeJS.ProcessEnv, who: string): string | undefined {
  const found = nonUtf8Inputs(pid, env);
  if (found.length === 0) return undefined;
  return `${found.join(', ')} of pid ${pid} ${found.length === 1 ? 'holds bytes that are' : 'hold bytes that are'} not UTF-8: Node reads them as U+FFFD and cannot pass them on as they are, so ${who} gets U+FFFD (EF BF BD) in their place`;
}

function entries(path: string): Array<[number, Buffer]> {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return [];
  }
  const out: Array<[number, Buffer]> = [];
  let start = 0;
  for (let i = 0; start < raw.length; i++) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    out.push([i, raw.subarray(start, end)]);
    start = end + 1;
  }
  return out;
}
