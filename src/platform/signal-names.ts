import { constants } from 'node:os';
import { GraceError } from './errors.js';

// Signals no process can catch: a handler for them is refused by the OS (uv_signal_start EINVAL).
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

/** A list of signals to handle (`stopSignals`, `Shutdown.handleSignals`'s `signals`): each a catchable signal, once. */
export function checkSignals(name: string, value: readonly unknown[]): NodeJS.Signals[] {
  const names = value.map((v, i) => signalName(`${name}[${i}]`, v, 'a signal name'));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new GraceError('ERR_GRACE_OPTIONS', `${name} names ${twice} twice: give each signal once`);
  return names;
}

export function signalName(name: string, value: unknown, what: string): NodeJS.Signals {
  if (typeof value !== 'string' || !Object.hasOwn(constants.signals, value)) {
    throw new GraceError('ERR_GRACE_OPTIONS', `${name} must be ${what}, like 'SIGTERM' (one of os.constants.signals); got ${describe(value)}`);
  }
  if (UNCATCHABLE.has(value)) throw new GraceError('ERR_GRACE_OPTIONS', `${name} cannot be ${value}: no process can catch it`);
  return value as NodeJS.Signals;
}

function describe(value: unknown): string {
  return typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
}
