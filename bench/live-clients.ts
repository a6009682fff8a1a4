// Reconnecting clients of long-lived connections, as browsers and apps run
// them: a WebSocket (`ws`) that reconnects when closed, and an EventSource
// made of http.get (Node 20 has none) that honours `retry:` and reconnects
// when its stream ends. Each connection's first message carries the serving
// pid as {"pid":N} (example/live.ts, test/fixtures/live-app.ts). Shared by
// the tests and bench/long-lived.ts.
import http from 'node:http';
import WebSocket from 'ws';

export type Target = { host: string; port: number };

/** A connection that has not sent its first message by then is given up and tried again (a process may accept and never answer as it dies). */
const FIRST_MESSAGE_TIMEOUT_MS = 5000;

interface Connection {
  /** The pid named by this connection's first message; 0 until it came. */
  pid: number;
  openedAt: number;
}

abstract class Reconnecting {
  /** Every connection, in order; the last is the current one. */
  readonly connections: Connection[] = [];
  /** Failed attempts (refused, reset before the first message). */
  failures = 0;
  protected stopped = false;
  private waiters: Array<() => void> = [];
  /** Called on each connection's first message. */
  onOpen: (pid: number) => void = () => {};

  constructor(protected readonly target: Target) {}

  /** The pid now serving this client, 0 while (re)connecting. */
  get pid(): number {
    return this.connections.at(-1)?.pid ?? 0;
  }

  /** Resolves once connected to a process `accept` likes (the first message came). */
  connectedTo(accept: (pid: number) => boolean, timeoutMs = 15_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.constructor.name}: not connected as wanted within ${timeoutMs} ms (now pid ${this.pid})`)), timeoutMs);
      const check = () => {
        if (this.pid !== 0 && accept(this.pid)) {
          clearTimeout(timer);
          resolve(this.pid);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  stop(): void {
    this.stopped = true;
  }

  protected opened(pid: number): void {
    this.connections.push({ pid, openedAt: performance.now() });
    for (const wake of this.waiters.splice(0)) wake();
    this.onOpen(pid);
  }
}

/** A WebSocket client that reconnects at once when closed (a naive app does; so does the storm). */
export class LiveWebSocket extends Reconnecting {
  /** The close code of each connection that ended. */
  readonly closeCodes: number[] = [];
  private socket: WebSocket | undefined;

  constructor(target: Target, private readonly path = '/ws') {
    super(target);
    this.connect();
  }

  override stop(): void {
    super.stop();
    this.socket?.terminate();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = (this.socket = new WebSocket(`ws://${this.target.host}:${this.target.port}${this.path}`));
    let first = true;
    const giveUp = setTimeout(() => socket.terminate(), FIRST_MESSAGE_TIMEOUT_MS);
    socket.on('message', (data) => {
      if (!first) return;
      first = false;
      clearTimeout(giveUp);
      this.opened((JSON.parse(String(data)) as { pid: number }).pid);
    });
    socket.on('error', () => {});
    socket.on('close', (code) => {
      clearTimeout(giveUp);
      if (first) this.failures++;
      else this.closeCodes.push(code);
      if (!this.stopped) setImmediate(() => this.connect());
    });
  }
}

/** An EventSource: reconnects after its reconnection time once a stream ends, as the spec says. */
export class LiveEventSource extends Reconnecting {
  /** How each stream ended: 'clean' (the response's end), or 'cut' (aborted, reset). */
  readonly ends: Array<'clean' | 'cut'> = [];
  /** The reconnection time, from `retry:` (a browser's default until one came). */
  retryMs = 3000;
  private request: http.ClientRequest | undefined;

  constructor(target: Target, private readonly path = '/events') {
    super(target);
    this.connect();
  }

  override stop(): void {
    super.stop();
    this.request?.destroy();
  }

  private connect(): void {
    if (this.stopped) return;
    let opened = false;
    let ended = false;
    const giveUp = setTimeout(() => request.destroy(), FIRST_MESSAGE_TIMEOUT_MS);
    const again = (how: 'clean' | 'cut') => {
      clearTimeout(giveUp);
      if (ended) return;
      ended = true;
      if (opened) this.ends.push(how);
      else this.failures++;
      // A failed attempt retries too (the new generation accepts on the same socket).
      if (!this.stopped) setTimeout(() => this.connect(), opened ? this.retryMs : 50);
    };
    const request = (this.request = http.get({ ...this.target, path: this.path, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          if (line.startsWith('retry:')) this.retryMs = Number(line.slice(6).trim());
          if (line.startsWith('data:') && !opened) {
            opened = true;
            clearTimeout(giveUp);
            this.opened((JSON.parse(line.slice(5)) as { pid: number }).pid);
          }
        }
      });
      res.on('error', () => {});
      res.on('end', () => again('clean'));
      res.on('close', () => again('cut'));
    }));
    request.on('error', () => again('cut'));
  }
}
