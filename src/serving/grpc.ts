import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Drainer } from './drain.js';

/*
 * Serving a @grpc/grpc-js server. grpc-js binds its own ports, which grace
 * cannot hand over; since 1.10 (gRFC L114) it also takes connections accepted
 * elsewhere: `createConnectionInjector(credentials)`. So grace listens with a
 * plain net.Server, as for any server, and injects each connection it accepts;
 * grpc-js does TLS and HTTP/2 on it, and owns the session from then on.
 *
 * Draining is therefore grpc-js's: `tryShutdown` sends GOAWAY on every session
 * and waits for the calls in flight (Go's GracefulStop); `forceShutdown` cuts
 * them. grace's HTTP drain would only stop accepting and wait: a gRPC client
 * keeps sending calls on its open connection until it hears GOAWAY. What
 * grace keeps is the count: a drain is over once every connection it injected
 * has closed, and a connection cut at the deadline is counted as `forced`.
 *
 * Limits, from grpc-js:
 * - `tryShutdown` shuts down the whole grpc-js Server, including ports the app
 *   bound itself with `bindAsync`: the process is draining anyway.
 * - With TLS credentials, grpc-js makes the HTTP/2 session only after the
 *   handshake. A connection accepted just before the drain and still
 *   handshaking when it begins gets no GOAWAY (grpc-js no longer tracks it):
 *   its calls are served until the deadline, then cut and counted. Plaintext
 *   sessions are made as the connection is injected, so they always get one.
 * - grpc-js's `forceShutdown` destroys only the sessions it tracks (with
 *   channelz on, the default); grace destroys every injected connection left.
 */

/**
 * The methods of a @grpc/grpc-js `Server` (>= 1.10) that grace uses, by shape:
 * grpc-js is the app's dependency, not grace's. `Credentials` is the app's
 * `grpc.ServerCredentials`.
 */
export interface GrpcServer<Credentials = unknown> {
  createConnectionInjector(credentials: Credentials): { injectConnection(connection: Duplex): void };
  tryShutdown(callback: (error?: Error) => void): void;
  forceShutdown(): void;
}

/** The gRPC drain: GOAWAY through grpc-js, and the injected connections counted. */
export class GrpcDrainer implements Drainer {
  private readonly connections = new Set<Socket>();
  private closed: Promise<void> | undefined;

  constructor(
    private readonly server: Server,
    private readonly grpcServer: Pick<GrpcServer, 'tryShutdown' | 'forceShutdown'>,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
  }

  drain(): Promise<void> {
    if (this.closed) return this.closed;
    // net.Server's 'close' comes once it stopped accepting and every connection it accepted has closed.
    this.closed = new Promise((resolve) => this.server.once('close', () => resolve()));
    this.server.close();
    // Its callback may come before the sockets are closed; the server's 'close' says when they are.
    this.grpcServer.tryShutdown(() => {});
    return this.closed;
  }

  forceClose(): number {
    const open = [...this.connections].filter((socket) => !socket.destroyed);
    // RST_STREAM(CANCEL) on the sessions grpc-js tracks; then whatever is left.
    this.grpcServer.forceShutdown();
    for (const socket of open) socket.destroy();
    return open.length;
  }
}
