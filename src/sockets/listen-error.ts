import { getSystemErrorMap } from 'node:util';

/**
 * A bind or listen failure shaped like node's own listen errors (code, errno,
 * syscall, address): `listen EACCES: permission denied /run/app.sock`.
 * `cause` is a libuv errno (negative, as node's internals return it) or the
 * error node threw; `address` is what the user asked for (an abstract unix
 * name's NULs are shown as '@'), never a temporary name; `hint` is appended.
 */
export function listenError(cause: number | Error, address: string, hint = ''): NodeJS.ErrnoException {
  const errno = typeof cause === 'number' ? cause : (cause as NodeJS.ErrnoException).errno;
  const known = typeof errno === 'number' ? getSystemErrorMap().get(errno) : undefined;
  const code = typeof cause === 'number' ? (known?.[0] ?? `errno ${cause}`) : ((cause as NodeJS.ErrnoException).code ?? 'EUNKNOWN');
  const description = known?.[1] ?? (typeof cause === 'number' ? 'bind failed' : cause.message);
  const message = `listen ${code}: ${description} ${address.replace(/\0/g, '@')}${hint}`;
  return Object.assign(new Error(message, typeof cause === 'number' ? undefined : { cause }), { code, errno, syscall: 'listen', address });
}
