import { GraceError } from '../platform/errors.js';
import type { Pace } from './close-pace.js';

/*
 * The app's WebSocket servers, handed to grace (`webSockets`) so that a drain
 * closes their clients the WebSocket way: a close frame with 1001 "going
 * away", the client's answer, then the connection's end; a client reconnects
 * at once, to the generation now accepting. grace knows an upgraded
 * connection without them, but not the protocol on it: all it could do is
 * close the socket (the client sees 1006, abnormal).
 *
 * Known by shape, since the libraries are the app's dependencies, not grace's:
 * - `ws`' WebSocketServer: `clients`, a Set of WebSockets (its clientTracking,
 *   on by default); each open one gets `close(1001, 'going away')`, and ws
 *   ends the connection once the client answered.
 * - socket.io's Server: `engine.clients`, engine.io's sockets by id (a
 *   protected member in its types); each open one gets `close()`, which closes its
 *   transport (a WebSocket, or the pending long-poll). socket.io clients
 *   reconnect after a transport close (not after a server-side disconnect()).
 */

/** A client of `ws`' WebSocketServer, by the members grace uses. */
export interface WebSocketClientLike {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
}

/** A connection of engine.io (under socket.io), by the members grace uses. */
export interface EngineClientLike {
  readonly readyState: string;
  close(): void;
}

/**
 * A WebSocket server grace can close the clients of at a drain: `ws`'
 * `WebSocketServer` (with `clientTracking`, the default) or socket.io's
 * `Server` (whose `engine.clients`, {@link EngineClientLike}s by id, are
 * looked up when it drains).
 */
export type WebSocketServerLike = { clients: Iterable<WebSocketClientLike> } | { engine: object };

const WS_OPEN = 1;
const GOING_AWAY = 1001;

/** `webSockets` as given: one server or a list, each of a known shape. */
export function checkWebSocketServers(name: string, value: unknown): WebSocketServerLike[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  list.forEach((server, i) => {
    if (kindOf(server) === undefined) {
      const where = Array.isArray(value) ? `${name}[${i}]` : name;
      throw new GraceError(
        'ERR_GRACE_OPTIONS',
        `${where} must be a WebSocket server: ws' WebSocketServer (with clientTracking on, the default) or socket.io's Server; got ${describe(server)}`,
      );
    }
  });
  return list as WebSocketServerLike[];
}

/** Queues the close of every open client of `servers` in `pace`; returns how many. */
export function closeWebSocketClients(servers: readonly WebSocketServerLike[], pace: Pace): number {
  let count = 0;
  for (const server of servers) {
    if (kindOf(server) === 'ws') {
      for (const client of (server as { clients: Iterable<WebSocketClientLike> }).clients) {
        if (client.readyState !== WS_OPEN) continue;
        count++;
        pace.add(() => {
          if (client.readyState === WS_OPEN) client.close(GOING_AWAY, 'going away');
        });
      }
      continue;
    }
    const { clients } = (server as { engine: { clients: Record<string, EngineClientLike> } }).engine;
    for (const client of Object.values(clients)) {
      if (client.readyState !== 'open') continue;
      count++;
      pace.add(() => {
        if (client.readyState === 'open') client.close();
      });
    }
  }
  return count;
}

function kindOf(server: unknown): 'ws' | 'socket.io' | undefined {
  if (typeof server !== 'object' || server === null) return undefined;
  const { clients, engine } = server as { clients?: unknown; engine?: { clients?: unknown } };
  if (clients !== null && typeof clients === 'object' && Symbol.iterator in clients) return 'ws';
  if (typeof engine === 'object' && engine !== null && typeof engine.clients === 'object' && engine.clients !== null) return 'socket.io';
  return undefined;
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  const name = value.constructor?.name;
  const what = !name || name === 'Object' ? 'an object' : `a ${name}`;
  return `${what} with neither clients (ws, clientTracking on) nor engine.clients (socket.io)`;
}
