/*
 * Text grace prints to a terminal that came from a file or another process
 * (a pid file's fields, error messages quoting them) may hold escape
 * sequences: printed raw, they would move the cursor, retitle the window or
 * worse. These escape every control character (C0, DEL, C1) as \xNN, so what
 * was in the file is shown, never acted on.
 */

// C0 controls, DEL and C1 controls; a newline too, where one line is expected.
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const CONTROL_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/g;

const escape = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** One line of text with every control character shown as `\xNN`. */
export function printable(text: string): string {
  return text.replace(CONTROL, escape);
}

/** Lines of text (newlines kept) with every other control character shown as `\xNN`. */
export function printableLines(text: string): string {
  return text.replace(CONTROL_BUT_NEWLINE, escape);
}

/**
 * JSON for a terminal: JSON.stringify already escapes C0 controls in strings;
 * DEL and C1 it leaves raw, so they are escaped here (`\u009b`), still valid JSON.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A word as a POSIX shell reads it: as is where it can be, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
