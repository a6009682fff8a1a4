import type http from 'node:http';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { Server, type Socket } from 'node:net';
import { http as httpModule } from '../platform/builtin.js';
import type { TLSSocket } from 'node:tls';
import type { Pace } from './close-pace.js';
import { endHttp1EventStream, endHttp2EventStream, isHttp1EventStream, isHttp2EventStream } from './event-stream.js';

/*
 * Draining one server, the counterpart of Go's httpdown. HTTP/1.1 has no way to
 * tell a keep-alive client "no more requests here", and closing a connection
 * that looks idle races with the client's next request already on the wire.
 * So once draining, the next response on each connection says
 * `Connection: close` and the connection closes after it; connections that stay
 * idle for `idleGrace` ms are closed (the one remaining race, narrowed to
 * clients that wait that long and then send at the very moment we close).
 *
 * Some connections never finish on their own (docs/long-lived.md). Server-Sent
 * Events are ended as the drain begins (event-stream.ts), in `pace`, so their
 * clients come back a few at a time. An upgraded connection (a WebSocket) is
 * the app's: its WebSocket server closes it (web-sockets.ts), or the app does;
 * one still open at the long-lived bound (`upgradeTimeout`) is closed here,
 * a FIN, then destroyed `idleGrace` later. Every other response, however long,
 * is work in flight: grace cannot tell an endless stream from a slow download,
 * so it is waited for until the deadline (`forceClose`), and counted.
 */

type ServerKind = 'http1' | 'http2' | 'net';

/**
 * How one server drains on a handover or a stop. `gracehttp.serve` uses
 * {@link ConnectionDrainer} unless a target brings its own (a gRPC server's
 * connections belong to grpc-js, which has its own GOAWAY: see grpc.ts).
 */
export interface Drainer {
  /**
   * Stops accepting at once and lets connections finish; resolves once the
   * last one has closed. Closes of long-lived connections go in `pace`.
   */
  drain(idleGrace: number, pace?: Pace): Promise<void>;
  /** Cuts every connection still open; returns how many it cut (reported as `forced`). */
  forceClose(): number;
  /**
   * The long-lived bound has come (`upgradeTimeout` into the drain): queue the
   * close of what is long-lived and still open in `pace`, and say what is left.
   */
  closeLongLived?(pace: Pace): LongLivedLeft;
}

/** What a drain still held at the long-lived bound. */
export interface LongLivedLeft {
  /** Upgraded connections (WebSockets) still open: closed now. */
  upgraded: number;
  /** Responses, HTTP/2 streams or gRPC connections with calls still open: waited for until the deadline. */
  inFlight: number;
}

interface Connection {
  raw: Socket;
  /** The socket carrying HTTP/1 (the TLS socket on https), once known. */
  http: Socket | undefined;
  /**
   * The latest response. Responses go out in request order, so while it is
   * unfinished the connection is busy, and it is the one that should carry
   * `Connection: close` (pipelined responses queued before it still go out).
   */
  newest: http.ServerResponse | undefined;
  /** What `newest` would have said before we made it close, to undo that. */
  newestKeepAlive: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

/** Tracks a server's connections from the start, so that it can later be drained. */
export class ConnectionDrainer implements Drainer {
  private readonly kind: ServerKind;
  /** Plain HTTP/1: the accepted socket carries HTTP itself (TLS wraps it otherwise). */
  private readonly plainHttp: boolean;
  private readonly connections = new Map<Socket, Connection>();
  private readonly sessions = new Set<Http2Session>();
  /** HTTP/2 streams open now, to end the event streams among them. */
  private readonly streams = new Set<ServerHttp2Stream>();
  private draining = false;
  private idleGrace = 0;
  private pace: Pace | undefined;
  private closed: Promise<void> | undefined;

  constructor(readonly server: Server) {
    this.kind = serverKind(server);
    this.plainHttp = this.kind === 'http1' && !isTlsServer(server);
    server.on('connection', this.onConnection);
    server.on('secureConnection', this.onSecureConnection);
    // First, so the app's handler already sees `Connection: close` decided.
    server.prependListener('request', this.onRequest);
    if (this.kind === 'http2') {
      server.on('session', this.onSession);
      server.on('stream', this.onStream);
    }
  }

  /**
   * Stops accepting and starts closing connections as they finish. Resolves when
   * the last connection has closed; call `forceClose()` to stop waiting.
   */
  drain(idleGrace: number, pace?: Pace): Promise<void> {
    if (this.closed) return this.closed;
    this.draining = true;
    this.idleGrace = idleGrace;
    this.pace = pace;
    this.closed = new Promise((resolve) => this.server.once('close', () => resolve()));
    // net's close, not http's: http.Server#close also cuts idle keep-alive
    // connections at once, which is the race described above.
    Server.prototype.close.call(this.server);
    for (const session of this.sessions) session.close();
    this.endEventStreams();
    for (const connection of this.connections.values()) {
      const newest = connection.newest;
      if (newest && responding(connection)) this.closeAfter(connection, newest);
      else this.closeWhenIdle(connection);
    }
    return this.closed;
  }

  closeLongLived(pace: Pace): LongLivedLeft {
    this.pace = pace;
    // Event streams begun since the drain began (their head came later than the request).
    this.endEventStreams();
    let upgraded = 0;
    let inFlight = 0;
    for (const connection of this.connections.values()) {
      if (connection.raw.destroyed) continue;
      if (socketState(connection) === 'detached') {
        upgraded++;
        pace.add(() => this.closeUpgraded(connection));
      } else if (responding(connection) && !isHttp1EventStream(connection.newest!)) inFlight++;
    }
    for (const stream of this.streams) if (!isHttp2EventStream(stream)) inFlight++;
    return { upgraded, inFlight };
  }

  /** Destroys every connection still open; returns how many it destroyed. */
  forceClose(): number {
    this.pace = undefined;
    let forced = 0;
    for (const session of this.sessions) session.destroy();
    for (const connection of this.connections.values()) {
      if (connection.raw.destroyed) continue; // counted by an earlier call
      forced++;
      connection.http?.destroy();
      connection.raw.destroy();
    }
    return forced;
  }

  private readonly onConnection = (raw: Socket) => {
    const connection: Connection = {
      raw,
      http: this.plainHttp ? raw : undefined,
      newest: undefined,
      newestKeepAlive: true,
      idleTimer: undefined,
    };
    this.connections.set(raw, connection);
    raw.once('close', () => {
      clearTimeout(connection.idleTimer);
      this.connections.delete(raw);
    });
    if (this.draining) this.closeWhenIdle(connection);
  };

  private readonly onSecureConnection = (socket: TLSSocket) => {
    // On HTTP/2 servers a TLS connection is usually a session, not HTTP/1.
    const connection = this.kind === 'http1' ? this.connections.get(rawSocketOf(socket)) : undefined;
    if (connection) connection.http = socket;
  };

  // On every request, so it stays small until draining: note the newest
  // response; no listeners on it (they cost ~10% of a hello-world's throughput).
  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.httpVersionMajor >= 2) return; // HTTP/2 streams end with their session.
    const connection = this.connections.get(rawSocketOf(req.socket));
    if (!connection) return;
    connection.http ??= req.socket;
    const previous = connection.newest;
    connection.newest = res;
    if (!this.draining) return;
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    // Pipelined: the close moves to the newest response, so the ones queued
    // before it are still answered.
    if (previous && previous !== res && !previous.headersSent) previous.shouldKeepAlive = connection.newestKeepAlive;
    this.closeAfter(connection, res);
    // An event stream begun while draining (an EventSource back on a kept-alive
    // connection): the app's handler has run by then, and sent its head.
    setImmediate(() => {
      if (isHttp1EventStream(res)) this.pace?.add(() => endHttp1EventStream(res));
    });
  };

  /** `res` is the connection's newest response: it says close, and we look again once it is done. */
  private closeAfter(connection: Connection, res: http.ServerResponse): void {
    if (!res.headersSent) {
      connection.newestKeepAlive = res.shouldKeepAlive;
      res.shouldKeepAlive = false;
    }
    res.once('close', () => this.closeWhenIdle(connection));
  }

  private readonly onStream = (stream: ServerHttp2Stream) => {
    this.streams.add(stream);
    stream.once('close', () => this.streams.delete(stream));
  };

  /** Queues the end of every event stream open now, HTTP/1 and HTTP/2. */
  private endEventStreams(): void {
    const pace = this.pace;
    if (!pace) return;
    for (const { newest } of this.connections.values()) {
      if (newest && isHttp1EventStream(newest)) pace.add(() => endHttp1EventStream(newest));
    }
    for (const stream of this.streams) {
      if (isHttp2EventStream(stream)) pace.add(() => endHttp2EventStream(stream));
    }
  }

  /** An upgraded connection past the bound: a FIN (TLS's close_notify first), destroyed if still open `idleGrace` later. */
  private closeUpgraded(connection: Connection): void {
    const socket = connection.http ?? connection.raw;
    socket.end();
    setTimeout(() => {
      connection.http?.destroy();
      connection.raw.destroy();
    }, this.idleGrace).unref();
  }

  private readonly onSession = (session: Http2Session) => {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    if (this.draining) session.close();
  };

  private closeWhenIdle(connection: Connection): void {
    if (this.kind === 'net' || connection.idleTimer || connection.raw.destroyed || responding(connection)) return;
    // HTTP/2 connections close through their session's GOAWAY instead.
    if (this.kind === 'http2' && !connection.http) return;
    connection.idleTimer = setTimeout(() => {
      connection.idleTimer = undefined;
      if (responding(connection)) return;
      const state = socketState(connection);
      if (state === 'detached') return; // the app's, or the deadline's
      if (state === 'busy') {
        // A response we saw no 'request' for ('checkContinue'): let it say
        // close, and look again later.
        const response = (connection.http as HttpSocket)._httpMessage;
        if (response && !response.headersSent) response.shouldKeepAlive = false;
        this.closeWhenIdle(connection);
        return;
      }
      connection.http?.destroy();
      connection.raw.destroy();
    }, this.idleGrace);
    connection.idleTimer.unref();
  }
}

// Its newest response is unfinished; that response's 'close' looks again.
function responding(connection: Connection): boolean {
  return connection.newest !== undefined && !connection.newest.writableFinished;
}

type HttpSocket = Socket & { parser?: unknown; _httpMessage?: http.ServerResponse | null };

// After an upgrade (WebSocket) or CONNECT, http hands the socket to the app and
// drops its parser: 'detached', the app's to close, or ours at the deadline.
// A response still attached (e.g. after 'checkContinue') means 'busy'.
function socketState(connection: Connection): 'idle' | 'busy' | 'detached' {
  const socket = connection.http as HttpSocket | undefined;
  if (!socket) return 'idle';
  if (socket.parser === null) return 'detached';
  return socket._httpMessage != null ? 'busy' : 'idle';
}

function rawSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}

// tls.Server and its subclasses (https, http2 secure) can add SNI contexts.
function isTlsServer(server: Server): boolean {
  return typeof (server as { addContext?: unknown }).addContext === 'function';
}

function serverKind(server: Server): ServerKind {
  if (typeof (server as { updateSettings?: unknown }).updateSettings === 'function') return 'http2';
  // https.Server is a tls.Server with http's options; telling it so spares every
  // generation loading node:https and node:tls just for an instanceof.
  if (server instanceof httpModule().Server || (isTlsServer(server) && typeof (server as { keepAliveTimeout?: unknown }).keepAliveTimeout === 'number')) return 'http1';
  return 'net';
}
