import type { Log } from '../platform/logger.js';
import { ClosePace } from './close-pace.js';
import type { Drainer, LongLivedLeft } from './drain.js';
import { closeWebSocketClients, type WebSocketServerLike } from './web-sockets.js';

/*
 * One drain's long-lived connections, across every server of the process
 * (docs/long-lived.md has the whole story):
 * - as the drain begins, the event streams (queued by each drainer) and the
 *   clients of the app's WebSocket servers are closed, spread over a window
 *   (close-pace.ts) so that their clients reconnect a few at a time;
 * - at the long-lived bound (`upgradeTimeout` into the drain), upgraded
 *   connections still open are closed too, spread the same way, and what
 *   still holds the drain (responses, streams, gRPC calls) is named, with
 *   what ends it: it is waited for until the deadline, then cut and counted.
 * None of these closes is forced: a stop that went this way exits 0.
 */

export interface LongLivedOptions {
  webSockets: readonly WebSocketServerLike[];
  upgradeTimeout: number;
  reconnectSpread: number;
  /** The deadline of the whole stop (for the words of the warning). */
  shutdownTimeout: number;
}

export class LongLivedClosing {
  /** Where drainers queue the closes due as the drain begins. */
  readonly pace: ClosePace;
  private bound: ClosePace | undefined;
  private boundTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: LongLivedOptions,
    private readonly log: Log,
  ) {
    this.pace = new ClosePace(options.reconnectSpread);
  }

  /**
   * Every drainer has begun (and queued its event streams): close the
   * WebSocket clients, start closing, and arm the long-lived bound.
   */
  begin(drainers: readonly Drainer[]): void {
    const { pace, options } = this;
    const streams = pace.size;
    const webSocketClients = closeWebSocketClients(options.webSockets, pace);
    if (pace.size > 0) {
      this.log.info(`closing ${pace.size} long-lived connection(s) over ${Math.round(pace.spreadMs)} ms: ${webSocketClients} WebSocket client(s) with 1001 going away, ${streams} event stream(s)`, {
        event: 'long-lived-closing',
        webSockets: webSocketClients,
        eventStreams: streams,
        spreadMs: pace.spreadMs,
      });
    }
    pace.start();
    this.boundTimer = setTimeout(() => this.atBound(drainers), options.upgradeTimeout).unref();
  }

  /** The drain is over (or cut at the deadline): nothing more to close. */
  end(): void {
    clearTimeout(this.boundTimer);
    this.pace.cancel();
    this.bound?.cancel();
  }

  private atBound(drainers: readonly Drainer[]): void {
    const { options } = this;
    this.bound = new ClosePace(options.reconnectSpread);
    const left: LongLivedLeft = { upgraded: 0, inFlight: 0 };
    for (const drainer of drainers) {
      const some = drainer.closeLongLived?.(this.bound);
      left.upgraded += some?.upgraded ?? 0;
      left.inFlight += some?.inFlight ?? 0;
    }
    this.bound.start();
    const after = `${options.upgradeTimeout} ms into the drain`;
    if (left.upgraded > 0 && options.webSockets.length === 0) {
      this.log.warn(
        `closing ${left.upgraded} upgraded connection(s) (WebSockets) still open ${after}; their clients see 1006. ` +
          'To close them at once with 1001 going away, give grace your WebSocket server: serve(server, listen, { webSockets: wss })',
        { event: 'upgraded-closed', count: left.upgraded, upgradeTimeout: options.upgradeTimeout },
      );
    } else if (left.upgraded > 0) {
      this.log.info(`closing ${left.upgraded} WebSocket connection(s) whose close handshake had not finished ${after}`, {
        event: 'upgraded-closed',
        count: left.upgraded,
        upgradeTimeout: options.upgradeTimeout,
      });
    }
    if (left.inFlight > 0) {
      this.log.warn(
        `${left.inFlight} response(s), stream(s) or gRPC call(s) still open ${after}: waiting for them until the deadline (${options.shutdownTimeout} ms). ` +
          'One that never ends (a chunked stream, a gRPC server stream) must be ended by the app on shutdown.signal: see docs/long-lived.md',
        { event: 'long-lived-in-flight', count: left.inFlight, shutdownTimeout: options.shutdownTimeout },
      );
    }
  }
}
