import { isIPv6, type ListenOptions } from 'node:net';
import { resolve } from 'node:path';
import { GraceError } from '../platform/errors.js';

/**
 * What an app asks to listen on: a port (`8080`, `'8080'`, `':8080'`), a
 * `'host:port'` (`'127.0.0.1:8080'`, `'localhost:8080'`, `'[::1]:8080'`), a
 * unix socket path (a string that is absolute, starts with `./` or contains a
 * `/`), or Node's own `ListenOptions` (`{ port, host }` or `{ path }`, where a
 * relative path is taken as given, against the working directory).
 */
export type ListenSpec = number | string | ListenOptions;

/** A spec reduced to what identifies a socket, plus the name it travels under. */
export type ParsedListenSpec =
  | {
      kind: 'tcp';
      /** Normalized for matching: undefined for every interface. */
      host: string | undefined;
      /** What to bind: '0.0.0.0' stays IPv4-only; undefined lets node choose (:: dual stack). */
      bindHost: string | undefined;
      port: number;
      name: string;
      options: ListenOptions;
    }
  | { kind: 'unix'; path: string; name: string; options: ListenOptions };

// Hosts that mean "every interface": `:8080`, `0.0.0.0:8080` and `[::]:8080` are
// one request as far as matching inherited sockets goes, as in Go's grace.
const ANY_HOSTS = new Set(['', '0.0.0.0', '::', '::0']);

const HOST_PORT = /^(?:\[([^\]]*)\]|([^/:]*)):(\d+)$/;
// A DNS name or an IPv4 address: letters, digits, hyphens and dots.
const HOST_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The string forms, for error messages. */
export const STRING_FORMS =
  'a port ("8080" or ":8080"), "host:port" ("127.0.0.1:8080", "localhost:8080", "[::1]:8080") or a unix socket path (absolute, starting with ./, or containing /)';

/** Checks a spec and reduces it to what identifies the socket. Throws ERR_GRACE_LISTEN_SPEC naming a bad one. */
export function parseListenSpec(spec: ListenSpec): ParsedListenSpec {
  if (typeof spec === 'number') return tcp(undefined, checkPort(spec, spec), {});
  if (typeof spec === 'string') return parseString(spec);
  if (spec === null || typeof spec !== 'object') {
    throw specError(spec, 'expected a port, "host:port", a unix socket path or { port, host } / { path }');
  }
  if ('fd' in spec || 'handle' in spec) {
    throw specError(spec, 'grace adopts inherited sockets itself; pass { port, host } or { path }, not fd/handle');
  }
  const { port, host, path, ...rest } = spec;
  if (typeof path === 'string') {
    if (port !== undefined) throw specError(spec, 'give either path or port, not both');
    return unix(path, rest);
  }
  const portNumber = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (portNumber === undefined || (port as unknown) === '' || Number.isNaN(portNumber)) throw missingPort(spec, port);
  return tcp(host, checkPort(portNumber, spec), rest);
}

// `{ port: process.env.PORT }` with PORT unset: node would bind a random port;
// refused by name, with the likely cause, rather than as "invalid spec {}".
function missingPort(spec: ListenOptions, port: unknown): GraceError {
  const fields = Object.entries(spec).map(([key, value]) => `${key}: ${value === undefined || Number.isNaN(value) ? String(value) : JSON.stringify(value)}`);
  const what = port === '' ? 'an empty string' : String(port);
  return new GraceError(
    'ERR_GRACE_LISTEN_SPEC',
    `invalid listen spec { ${fields.join(', ')} }: the port is ${what}, as { port: process.env.PORT } gives when PORT is not set; set it, or give a default (e.g. process.env.PORT ?? 8080)`,
  );
}

// A string must say which it is: a bare word ('localhost', 'undefined', '8080 ')
// is a mistake far more often than a socket file in the working directory.
function parseString(spec: string): ParsedListenSpec {
  if (/^\d+$/.test(spec)) return tcp(undefined, checkPort(Number(spec), spec), {});
  if (URL_LIKE.test(spec)) throw specError(spec, `a URL is not a listen spec; expected ${STRING_FORMS}`);
  if (isUnixPath(spec)) return unix(spec, {});
  const match = HOST_PORT.exec(spec);
  if (!match) throw specError(spec, `expected ${STRING_FORMS}`);
  const [, bracketed, plain, port] = match;
  if (bracketed !== undefined && !isIPv6(bracketed)) throw specError(spec, 'only an IPv6 address goes in brackets, as in "[::1]:8080"');
  if (plain !== undefined && plain !== '' && !HOST_NAME.test(plain)) throw specError(spec, `"${plain}" is not a host name or IP address; expected ${STRING_FORMS}`);
  return tcp(bracketed ?? plain, checkPort(Number(port), spec), {});
}

/** A string names a unix socket when it is a path: absolute, ./relative, or with a directory. (A leading NUL: Linux's abstract namespace.) */
function isUnixPath(spec: string): boolean {
  return spec.startsWith('/') || spec.startsWith('./') || spec.startsWith('../') || spec.includes('/') || spec.startsWith('\0');
}

function tcp(host: string | undefined, port: number, options: ListenOptions): ParsedListenSpec {
  const normalized = host === undefined || ANY_HOSTS.has(host) ? undefined : host.toLowerCase();
  const bindHost = host === undefined || host === '' ? undefined : host;
  return { kind: 'tcp', host: normalized, bindHost, port, name: `tcp:${normalized ?? ''}:${port}`, options };
}

function unix(path: string, options: ListenOptions): ParsedListenSpec {
  // Abstract sockets (Linux, leading NUL) have no file and no directory.
  const full = path.startsWith('\0') ? path : resolve(path);
  return { kind: 'unix', path: full, name: `unix:${full}`, options };
}

function checkPort(port: unknown, spec: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw specError(spec, 'the port must be an integer from 0 to 65535');
  }
  return port;
}

function specError(spec: unknown, expected: string): GraceError {
  const shown = typeof spec === 'number' ? String(spec) : JSON.stringify(spec);
  return new GraceError('ERR_GRACE_LISTEN_SPEC', `invalid listen spec ${shown}: ${expected}`);
}

/**
 * The spec a LISTEN_FDNAMES name grace gave stands for (`tcp:host:port`,
 * `unix:/path`); undefined for any other name (systemd's unit names).
 */
export function specFromName(name: string | undefined): ParsedListenSpec | undefined {
  if (name?.startsWith('unix:')) return unix(name.slice('unix:'.length), {});
  if (!name?.startsWith('tcp:')) return undefined;
  const rest = name.slice('tcp:'.length);
  const colon = rest.lastIndexOf(':');
  const port = Number(rest.slice(colon + 1));
  if (colon < 0 || !/^\d+$/.test(rest.slice(colon + 1)) || port > 65535) return undefined;
  return tcp(rest.slice(0, colon) || undefined, port, {});
}

/** The default of serve(server) with no spec: adopt the one inherited socket. */
export const ONLY_INHERITED = Symbol('the only inherited socket');

const PASS_ONE = 'pass one, e.g. serve(server, { port: 8080 })';

/**
 * Where `serve(server)` listens when given no spec: the inherited socket (from
 * systemd, `grace run` or the previous generation) when there is exactly one,
 * whatever its address; else `PORT` from the environment, on every interface.
 * Throws ERR_GRACE_LISTEN_SPEC when there is neither, or PORT is not a port.
 */
export function defaultListenSpec(inherited: number, env: NodeJS.ProcessEnv): typeof ONLY_INHERITED | number {
  if (inherited === 1) return ONLY_INHERITED;
  const port = env.PORT;
  if (port !== undefined && port !== '') {
    if (!/^\d+$/.test(port) || Number(port) > 65535) {
      throw new GraceError('ERR_GRACE_LISTEN_SPEC', `serve(server) was given no listen spec, and PORT=${JSON.stringify(port)} in the environment is not a port (0 to 65535); ${PASS_ONE}`);
    }
    return Number(port);
  }
  const sockets = inherited === 0 ? 'no inherited socket (LISTEN_FDS)' : `${inherited} inherited sockets (one is adopted only when it is the only one)`;
  throw new GraceError('ERR_GRACE_LISTEN_SPEC', `serve(server) was given no listen spec, and there is nothing to default to: ${sockets} and no PORT in the environment; ${PASS_ONE}`);
}

/** A spec as a short human label, for logs. */
export function describeSpec(spec: ParsedListenSpec): string {
  if (spec.kind === 'unix') return spec.path;
  const host = spec.host === undefined ? '' : spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return `${host}:${spec.port}`;
}
