import type http from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';

/*
 * Server-Sent Events: a response with `Content-Type: text/event-stream` never
 * ends on its own, and an EventSource reconnects by itself when it does end
 * cleanly. So a drain ends it: a last chunk, then the response's end. The
 * chunk sets the reconnection time (`retry:`), since a browser otherwise
 * waits its default (3 s in Chromium, 5 s in Firefox) before it comes back;
 * the leading blank line ends a line the app may have left unfinished, and
 * dispatches nothing after a whole event. The new value stays with the
 * EventSource until a server sends another `retry:`.
 */

/** What an EventSource waits before it reconnects after a drain ended its stream. */
export const EVENT_STREAM_RETRY_MS = 100;
const GOODBYE = `\nretry: ${EVENT_STREAM_RETRY_MS}\n\n`;

type Http1Response = http.ServerResponse & { _header?: string | null; _last?: boolean };

function isEventStreamType(value: unknown): boolean {
  return typeof value === 'string' && /^\s*text\/event-stream\b/i.test(value);
}

/** An HTTP/1 response that is an event stream, still open. */
export function isHttp1EventStream(res: http.ServerResponse): boolean {
  if (res.writableEnded) return false;
  if (isEventStreamType(res.getHeader('content-type'))) return true;
  // Node internal: `_header` is the head as sent. writeHead(status, headers)
  // sends headers that getHeader() never sees.
  const head = (res as Http1Response)._header;
  return typeof head === 'string' && /\r\ncontent-type:\s*text\/event-stream\b/i.test(head);
}

/** Ends an HTTP/1 event stream with its last chunk; the connection closes after it. */
export function endHttp1EventStream(res: http.ServerResponse): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    // Node internal: `_last` closes the connection once this response is out,
    // where the head already promised keep-alive: the reconnect must not come
    // back on a connection of the generation that is leaving.
    (res as Http1Response)._last = true;
  } else res.shouldKeepAlive = false;
  res.end(GOODBYE);
}

/** An HTTP/2 stream whose response is an event stream, still open. */
export function isHttp2EventStream(stream: ServerHttp2Stream): boolean {
  return !stream.closed && !stream.writableEnded && isEventStreamType(stream.sentHeaders?.['content-type']);
}

/** Ends an HTTP/2 event stream with its last chunk (its session already had GOAWAY). */
export function endHttp2EventStream(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.writableEnded) stream.end(GOODBYE);
}
