// The hub's two HTTP/WebSocket transports (uWebSockets.js, node:http + ws) implement this one
// interface; everything the hub decides — routes, headers, auth, Origin/Host policy, topics, limits —
// lives above it (src/hub/routes.ts, src/hub/live-socket.ts), so both serve the same bytes.
//
//   client ──► transport (uws.ts | node.ts) ──HubRequest──► RequestHandler ──HubResponse──► transport ──► client
//                     │ upgrade /live ──► LiveHandlers.upgrade → open / message / close
//                     └ publish(topic) ◄── LiveFeed (NOTIFY) ─ fan-out to subscribed sockets

/** A request as the route table sees it: headers copied, body read (bounded), nothing transport-specific. */
export interface HubRequest {
  /** Upper-case method as sent (GET, HEAD, POST, …). */
  readonly method: string;
  /** The path, undecoded, without the query string. */
  readonly path: string;
  /** The raw query string (without `?`). */
  readonly rawQuery: string;
  /** Header value by lower-case name; '' when absent. */
  header(name: string): string;
  readonly remoteAddress: string;
  /** The request body (empty for GET/HEAD); bodies over the transport's limit never reach a handler. */
  readonly body: Buffer;
}

export interface HubResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export type RequestHandler = (req: HubRequest) => Promise<HubResponse>;

/** One /live socket, whatever carries it. */
export interface LiveSocket<D> {
  readonly data: D;
  send(message: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Closes with a WebSocket close code (4000–4999 are the hub's own; see docs/hub.md). */
  close(code: number, reason: string): void;
}

export type UpgradeVerdict<D> = { accept: true; data: D } | { accept: false; response: HubResponse };

export interface LiveHandlers<D> {
  /** Decides synchronously from the handshake request (no body) whether to accept the socket. */
  upgrade(req: HubRequest): UpgradeVerdict<D>;
  open(ws: LiveSocket<D>): void;
  message(ws: LiveSocket<D>, text: string): void;
  /** `code` 1006 means the transport dropped the socket without a close frame (backpressure, idle). */
  close(ws: LiveSocket<D>, code: number): void;
}

export interface TransportLimits {
  /** Largest request body accepted; larger ones get 413 without reaching a handler. */
  maxBodyBytes: number;
  /** Largest WebSocket message accepted from a client. */
  maxPayloadBytes: number;
  /** Bytes queued for one socket past which it is dropped (closed without a close frame: 1006). */
  maxBufferedBytes: number;
  /** A socket that answers no ping for this long is dropped. */
  idleTimeoutSeconds: number;
}

export interface TransportOptions<D> {
  handler: RequestHandler;
  livePath: string;
  live: LiveHandlers<D>;
  limits: TransportLimits;
  /** Unexpected adapter-level failures (a handler that threw, a socket error). */
  onError(err: Error): void;
}

export interface Transport {
  /** What serves requests, e.g. "uWebSockets.js 20.30 (uws_linux_x64_115.node)" or "node:http + ws 8.23.0". */
  readonly name: string;
  listen(host: string, port: number): Promise<number>;
  publish(topic: string, message: string): void;
  numSubscribers(topic: string): number;
  /** Stops listening and closes every socket. Idempotent. */
  close(): Promise<void>;
}

export type TransportKind = 'uws' | 'node';

/** Reason phrases for the status line (uWS writes the line as given). */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols', 200: 'OK', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  421: 'Misdirected Request', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};
