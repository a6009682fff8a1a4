/*
 * A command's usage, made from its flag table: parseArgs reads the same
 * table (`flagOptions`), so what `--help` lists is what the command takes.
 * Grouped, at most 80 columns.
 */

/**
 * One flag of a command, as parseArgs reads it and as its usage shows it: a
 * command's table of these is both (run-flags.ts), so the two never disagree.
 */
export interface Flag {
  type: 'string' | 'boolean';
  /** Given more than once, it adds up (`--listen`, `--env-file`). */
  multiple?: true;
  /** What its value is called in the usage (N, MS, FILE); none for a boolean. */
  value?: string;
  /** The heading it is listed under. */
  group: string;
  /** What it does, in a sentence or two; wrapped to the terminal's 80 columns. */
  help: string;
}

export type FlagTable = Readonly<Record<string, Flag>>;

/** A flag table as parseArgs's options. */
export function flagOptions<T extends FlagTable>(table: T): { [K in keyof T]: T[K] extends { multiple: true } ? { type: T[K]['type']; multiple: true } : { type: T[K]['type'] } } {
  return Object.fromEntries(Object.entries(table).map(([name, { type, multiple }]) => [name, multiple ? { type, multiple } : { type }])) as never;
}

const WIDTH = 80;
const TEXT = 6; // where a command's description starts
const TERM = 8; // where a flag starts, under its heading
const TERM_WIDTH = 21;

/**
 * A command's usage from its flag table: the synopsis (every flag, wrapped
 * under the command), `about`, each group of flags with its help, then
 * `sections` (a heading and its rows: signals, exit status) and `notes`.
 */
export function usage(command: string, table: FlagTable, shape: { operands: string; about: string; sections: Array<[string, Array<[string, string]>]>; notes: string }): string {
  // The synopsis: every flag, the lines after the first under the first flag.
  const head = `  ${command}`;
  const lines = [head];
  for (const word of [...Object.entries(table).map(([name, f]) => `[${term(name, f)}]${f.multiple ? '...' : ''}`), ...shape.operands.split(' ')]) {
    const last = lines.at(-1)!;
    if (last !== head && last.length + 1 + word.length > WIDTH) lines.push(`${' '.repeat(head.length)} ${word}`);
    else lines[lines.length - 1] = `${last} ${word}`;
  }
  const groups = new Map<string, Array<[string, string]>>();
  for (const [name, f] of Object.entries(table)) {
    if (!groups.has(f.group)) groups.set(f.group, []);
    groups.get(f.group)!.push([term(name, f), f.help]);
  }
  const parts = [lines.join('\n'), wrap(shape.about, TEXT), ''];
  for (const [heading, rows] of [...groups, ...shape.sections]) parts.push(`${' '.repeat(TEXT)}${heading}:`, ...rows.map(([term, help]) => row(term, help)));
  parts.push('', wrap(shape.notes, TEXT));
  return `\n${parts.join('\n')}\n`;
}

function term(name: string, flag: Flag): string {
  return `--${name}${flag.value ? ` ${flag.value}` : ''}`;
}

function row(what: string, help: string): string {
  const lead = `${' '.repeat(TERM)}${what}`;
  const body = wrap(help, TERM + TERM_WIDTH).trimStart();
  return lead.length < TERM + TERM_WIDTH ? `${lead.padEnd(TERM + TERM_WIDTH)}${body}` : `${lead}\n${wrap(help, TERM + TERM_WIDTH)}`;
}

/** `text` in lines of at most 80 columns, each indented by `indent`. */
function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current && indent + current.length + 1 + word.length > WIDTH) {
      lines.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  if (current) lines.push(current);
  return lines.map((l) => `${' '.repeat(indent)}${l}`).join('\n');
}
