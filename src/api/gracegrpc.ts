/** Serving a @grpc/grpc-js server with hot restart and graceful stop (GOAWAY, then the calls in flight finish). */
import { Server } from 'node:net';
import { GraceError } from '../platform/errors.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import type { ServeOptions } from '../generation/options.js';
import { GrpcDrainer, type GrpcServer } from '../serving/grpc.js';
import { start as startTargets, type Graceful, type ServeTarget } from './serve.js';

export type { GrpcServer } from '../serving/grpc.js';

/**
 * A {@link ServeTarget} for a grpc-js server: a `net.Server` that grace listens
 * on (adopting the socket on a handover) and that passes each connection to
 * `grpcServer`, with the gRPC drain. Give it to `gracehttp.serve([...])`
 * beside other servers; `grpcServer` needs no `bindAsync`.
 *
 * @param credentials the `grpc.ServerCredentials` the connections are served
 *   with, e.g. `grpc.ServerCredentials.createInsecure()` or `createSsl(…)`.
 * @example await gracehttp.serve([gracegrpc.target(grpcServer, grpc.ServerCredentials.createInsecure(), 50051), { server: http, listen: 8080 }])
 */
export function target<Credentials>(grpcServer: GrpcServer<Credentials>, credentials: Credentials, listen: ListenSpec): ServeTarget {
  checkShape(grpcServer);
  let injector: ReturnType<GrpcServer<Credentials>['createConnectionInjector']>;
  try {
    injector = grpcServer.createConnectionInjector(credentials);
  } catch (cause) {
    throw new GraceError('ERR_GRACE_OPTIONS', `grpcServer.createConnectionInjector refused the credentials: ${(cause as Error)?.message ?? cause}; pass a grpc.ServerCredentials`, {
      cause,
    });
  }
  const server = new Server((connection) => injector.injectConnection(connection));
  return { server, listen, drainer: new GrpcDrainer(server, grpcServer) };
}

/**
 * Serves one grpc-js server with hot restart and graceful stop, as
 * `gracehttp.serve` does an HTTP server: resolves once this process has
 * finished serving.
 *
 * @example await gracegrpc.serve(grpcServer, grpc.ServerCredentials.createInsecure(), { port: 50051 })
 */
export async function serve<Credentials>(grpcServer: GrpcServer<Credentials>, credentials: Credentials, listen: ListenSpec, options?: ServeOptions): Promise<void> {
  const graceful = await start(grpcServer, credentials, listen, options);
  await graceful.done;
}

/** Like {@link serve}, but resolves once serving with the {@link Graceful} handle. */
export function start<Credentials>(grpcServer: GrpcServer<Credentials>, credentials: Credentials, listen: ListenSpec, options?: ServeOptions): Promise<Graceful> {
  return startTargets([target(grpcServer, credentials, listen)], options);
}

function checkShape(grpcServer: unknown): asserts grpcServer is GrpcServer {
  const missing = (['createConnectionInjector', 'tryShutdown', 'forceShutdown'] as const).filter(
    (method) => typeof (grpcServer as Record<string, unknown> | null)?.[method] !== 'function',
  );
  if (missing.length) {
    throw new GraceError(
      'ERR_GRACE_UNSUPPORTED',
      `gracegrpc needs a @grpc/grpc-js Server (>= 1.10, which has createConnectionInjector); got ${describe(grpcServer)} without ${missing.join(', ')}`,
    );
  }
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return `a ${value.constructor?.name ?? 'object'}`;
}
