/*
 * NODE_OPTIONS as node reads it (src/node_options.cc, ParseNodeOptionsEnvVar):
 * arguments are separated by spaces (only ' ', not tabs or newlines); a
 * double quote starts or ends a quoted part, in which spaces are kept and a
 * backslash takes the next character as it is. Grace changes a user's
 * NODE_OPTIONS only by cutting out whole arguments or putting one in front,
 * and keeps every other byte as it was: a path with two spaces in it stays a
 * path with two spaces.
 */

/** One argument: its value as node sees it, and where it is in the string (`end` excluded). */
export interface NodeOptionSpan {
  arg: string;
  start: number;
  end: number;
}

/** The arguments of a NODE_OPTIONS value, as node splits it, with their spans. */
export function nodeOptionSpans(value: string): NodeOptionSpan[] {
  const spans: NodeOptionSpan[] = [];
  let current: NodeOptionSpan | undefined;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    let c = value[i]!;
    if (c === '\\' && quoted && i + 1 < value.length) {
      c = value[++i]!;
    } else if (c === ' ' && !quoted) {
      current = undefined;
      continue;
    } else if (c === '"') {
      quoted = !quoted;
      current ??= pushed(spans, i);
      current.end = i + 1;
      continue;
    }
    current ??= pushed(spans, i);
    current.arg += c;
    current.end = i + 1;
  }
  return spans;
}

function pushed(spans: NodeOptionSpan[], start: number): NodeOptionSpan {
  const span = { arg: '', start, end: start };
  spans.push(span);
  return span;
}

/**
 * `value` without the arguments `drop` picks (given each argument and the one
 * after it); `drop` says how many arguments go from there (0, 1 or 2). A run
 * of cut arguments goes with the spaces after it (before it, at the end), so
 * the rest is byte for byte what it was.
 */
export function withoutNodeOptions(value: string, drop: (arg: string, next: string | undefined) => number): string {
  const spans = nodeOptionSpans(value);
  const cut = spans.map(() => false);
  for (let i = 0; i < spans.length; i++) {
    const count = Math.min(drop(spans[i]!.arg, spans[i + 1]?.arg), spans.length - i);
    for (let k = 0; k < count; k++) cut[i + k] = true;
    if (count > 0) i += count - 1;
  }
  let out = value;
  // From the end, so that earlier spans keep their places.
  for (let last = spans.length - 1; last >= 0; last--) {
    if (!cut[last]) continue;
    let first = last;
    while (first > 0 && cut[first - 1]) first--;
    const after = spans[last + 1];
    const before = spans[first - 1];
    const [from, to] = after ? [spans[first]!.start, after.start] : before ? [before.end, spans[last]!.end] : [spans[first]!.start, spans[last]!.end];
    out = out.slice(0, from) + out.slice(to);
    last = first;
  }
  return out;
}

/** `value` as one NODE_OPTIONS argument: quoted (with `"` and `\` escaped) when it holds a space, a quote or a backslash. */
export function quoteNodeOption(value: string): string {
  return /[ "\\]/.test(value) || value === '' ? `"${value.replace(/["\\]/g, '\\$&')}"` : value;
}
