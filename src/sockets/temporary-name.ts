import { basename, dirname, join } from 'node:path';
import { crypto } from '../platform/builtin.js';

/*
 * grace binds a unix socket under a temporary name beside its path and
 * renames it into place (unix-socket.ts says why). So a socket listed under
 * such a name is grace's, on its way to (or already at) a path in the same
 * directory: the in-use report and the inherited-address check both
 * recognise it.
 */

const PREFIX = '.grace-';
const TEMPORARY = /^\.grace-[0-9a-f]+$/;

/** A fresh temporary name beside `path`. */
export function temporaryName(path: string): string {
  return join(dirname(path), `${PREFIX}${crypto().randomBytes(6).toString('hex')}`);
}

/** Whether `path` is a name grace binds under before renaming. */
export function isTemporaryName(path: string): boolean {
  return TEMPORARY.test(basename(path));
}
