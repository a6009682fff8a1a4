import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Drainer, LongLivedLeft } from './drain.js';

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
 * A connection with no call in flight is not waited for, even when its client
 * never reads (grpc-js's GOAWAY and FIN lie unread, and its FIN never comes):
 * once the drain started, a connection is let go `idleGrace` ms after grace's
 * side of it has finished writing (grpc-js closed the session: its calls are
 * done) or if its client has still sent nothing (no HTTP/2 preface, no TLS
 * handshake), unless the client closed it first. It is not counted as forced.
 *
 * A long server stream (a watch, a feed) never ends on its own, and grpc-js
 * waits for it after GOAWAY: grace cannot end a call, only cut its
 * connection. The app ends it on `shutdown.signal` with status UNAVAILABLE,
 * which clients take as "try again" (docs/long-lived.md); at the long-lived
 * bound grace names the connections still carrying calls, then waits for
 * them until the deadline.
 *
 * Limits, from grpc-js:
 * - `tryShutdown` shuts down the whole grpc-js Server, including ports the app
 *   bound itself with `bindAsync`: the process is draining anyway.
 * - With TLS credentials, grpc-js makes the HTTP/2 session only after the
 *   handshake, inside its TLS socket, which grace does not see. A connection
 *   that sent part of its handshake and stalls is held until the deadline,
 *   then cut and counted; one that completes its handshake during the drain
 *   gets no GOAWAY (grpc-js no longer tracks it): its calls are served until
 *   the deadline, then cut and counted. Plaintext sessions are made as the
 *   connection is injected, so they always get one.
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
  private idleGrace = 0;

  constructor(
    private readonly server: Server,
    private readonly grpcServer: Pick<GrpcServer, 'tryShutdown' | 'forceShutdown'>,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
      // Our side is done writing: after a drain began, only the client's FIN is awaited.
      socket.once('finish', () => {
        if (this.closed) this.letGoLater(socket);
      });
    });
  }

  drain(idleGrace: number): Promise<void> {
    if (this.closed) return this.closed;
    this.idleGrace = idleGrace;
    // net.Server's 'close' comes once it stopped accepting and every connection it accepted has closed.
    this.closed = new Promise((resolve) => this.server.once('close', () => resolve()));
    this.server.close();
    // Its callback may come before the sockets are closed; the server's 'close' says when they are.
    this.grpcServer.tryShutdown(() => {});
    for (const socket of this.connections) this.letGoLater(socket);
    return this.closed;
  }

  /**
   * In `idleGrace` ms, closes the connection if it carries no call: our side
   * finished writing, or the client has sent nothing at all. `bytesRead`
   * counts what the socket read for grpc-js's HTTP/2 or TLS too.
   */
  private letGoLater(socket: Socket): void {
    setTimeout(() => {
      if (!socket.destroyed && (socket.writableFinished || socket.bytesRead === 0)) socket.destroy();
    }, this.idleGrace).unref();
  }

  closeLongLived(): LongLivedLeft {
    let inFlight = 0;
    for (const socket of this.connections) if (!socket.destroyed && !socket.writableFinished && socket.bytesRead > 0) inFlight++;
    return { upgraded: 0, inFlight };
  }

  forceClose(): number {
    const open = [...this.connections].filter((socket) => !socket.destroyed);
    // RST_STREAM(CANCEL) on the sessions grpc-js tracks; then whatever is left.
    this.grpcServer.forceShutdown();
    for (const socket of open) socket.destroy();
    return open.length;
  }
}
