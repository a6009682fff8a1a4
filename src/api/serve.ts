import type { Server } from 'node:net';
import type { Drainer } from '../serving/drain.js';
import { GraceError } from '../platform/errors.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import type { ServeTarget } from '../generation/context.js';
import { Graceful } from '../generation/graceful.js';
import type { ServeOptions, ServeSeams } from '../generation/options.js';

export { Graceful } from '../generation/graceful.js';
export type { ServeTarget, GracefulEvents } from '../generation/context.js';
export type { StopReason } from '../lifecycle/lifecycle.js';

type ServeArgs = [server: Server, listen?: ListenSpec, options?: ServeOptions] | [targets: ServeTarget[], options?: ServeOptions];

/**
 * Serves until this generation is done, then resolves. Listens (adopting
 * inherited sockets), handles the restart and stop signals, and drains.
 * Rejects if listening or the ready hook fails.
 *
 * With no listen spec (`serve(server)`), it adopts the inherited socket when
 * there is exactly one (systemd, `grace run`), whatever its address, else
 * listens on `PORT` from the environment, else rejects with ERR_GRACE_LISTEN_SPEC.
 *
 * @example await gracehttp.serve(server, { port: 8080 })
 * @example await gracehttp.serve(server) // under `grace run --listen :8080`, or PORT=8080
 * @example await gracehttp.serve([{ server: api, listen: 8080 }, { server: admin, listen: '/run/admin.sock' }])
 */
export async function serve(...args: ServeArgs): Promise<void> {
  const graceful = await start(...args);
  await graceful.done;
}

/** Like {@link serve}, but resolves once serving with the {@link Graceful} handle (events, restart, stop, done). */
export function start(...args: ServeArgs): Promise<Graceful> {
  return startWith({}, ...args);
}

/** `start` against stand-ins for the process; internal (`gracehttp` does not export it). */
export async function startWith(seams: ServeSeams, ...args: ServeArgs): Promise<Graceful> {
  const [targets, options] = normalize(args);
  const graceful = new Graceful(targets, options, seams);
  await graceful.start();
  return graceful;
}

function normalize(args: ServeArgs): [Array<{ server: Server; listen: ListenSpec | undefined; drainer?: Drainer }>, ServeOptions] {
  if (Array.isArray(args[0])) {
    const targets = args[0];
    if (targets.length === 0) throw new GraceError('ERR_GRACE_OPTIONS', 'serve() needs at least one { server, listen }');
    if (targets.some((t) => t.listen === undefined)) {
      throw new GraceError('ERR_GRACE_LISTEN_SPEC', 'serve([{ server, listen }, …]) needs a listen spec for each server; only serve(server) has a default');
    }
    return [targets, (args[1] as ServeOptions | undefined) ?? {}];
  }
  const [server, listen, options] = args as [Server, ListenSpec | undefined, ServeOptions | undefined];
  return [[{ server, listen }], options ?? {}];
}
