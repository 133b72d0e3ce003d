// The node:http + ws transport: used where no uWebSockets.js build loads (Node 22/24 on glibc < 2.38,
// say). Same contract as the uWS one (./types.ts): every request goes to the route table, /live
// sockets get pub/sub topics, a socket more than maxBufferedBytes behind is dropped without a close
// frame (1006, as uWS does), one that answers no ping within idleTimeoutSeconds is dropped too.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { WebSocket as WsSocket, WebSocketServer } from 'ws';
import { ObservError } from '../../errors.js';
import { statusLine, type HubRequest, type HubResponse, type LiveSocket, type Transport, type TransportOptions } from './types.js';

const require = createRequire(import.meta.url);

function headerOf(req: IncomingMessage) {
  return (name: string): string => {
    const v = req.headers[name];
    return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
  };
}

function hubRequest(req: IncomingMessage, body: Buffer): HubRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: q < 0 ? url : url.slice(0, q),
    rawQuery: q < 0 ? '' : url.slice(q + 1),
    header: headerOf(req),
    remoteAddress: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    body,
  };
}

function writeResponse(res: ServerResponse, method: string, response: HubResponse): void {
  const body = typeof response.body === 'string' ? Buffer.from(response.body) : response.body;
  res.writeHead(response.status, { ...response.headers, 'content-length': String(body.length) });
  res.end(method === 'HEAD' ? undefined : body);
}

/** A raw HTTP response on an upgrade socket that is refused. */
function refuseUpgrade(socket: Duplex, response: HubResponse): void {
  const body = Buffer.from(response.body);
  const head = [`HTTP/1.1 ${statusLine(response.status)}`, ...Object.entries(response.headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${body.length}`, 'connection: close', '', ''].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head), body]));
}

class NodeLiveSocket<D> implements LiveSocket<D> {
  readonly topics = new Set<string>();
  alive = true;
  constructor(readonly ws: WsSocket, readonly data: D, private readonly transport: NodeTransportState<D>) {}
  send(message: string): void { this.transport.deliver(this, message); }
  subscribe(topic: string): void {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    let set = this.transport.topics.get(topic);
    if (!set) this.transport.topics.set(topic, set = new Set());
    set.add(this);
  }
  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    const set = this.transport.topics.get(topic);
    set?.delete(this);
    if (set && set.size === 0) this.transport.topics.delete(topic);
  }
  close(code: number, reason: string): void { this.ws.close(code, reason); }
}

class NodeTransportState<D> {
  readonly topics = new Map<string, Set<NodeLiveSocket<D>>>();
  readonly sockets = new Set<NodeLiveSocket<D>>();
  constructor(private readonly maxBufferedBytes: number) {}

  deliver(socket: NodeLiveSocket<D>, message: string): void {
    const ws = socket.ws;
    if (ws.readyState !== ws.OPEN) return;
    // bufferedAmount counts what the socket could not hand to the kernel yet: past the cap the client
    // is not reading, and it is dropped rather than buffered without bound (as uWS does with
    // maxBackpressure: the check comes before a send, so one large message still goes out whole).
    if (ws.bufferedAmount > this.maxBufferedBytes) { ws.terminate(); return; }
    ws.send(message);
  }
}

export function nodeTransport<D>(options: TransportOptions<D>): Transport {
  const { WebSocketServer: Wss } = require('ws') as typeof import('ws');
  const wsVersion = (require('ws/package.json') as { version: string }).version;
  const { limits, live } = options;
  const state = new NodeTransportState<D>(limits.maxBufferedBytes);
  const wss: WebSocketServer = new Wss({ noServer: true, maxPayload: limits.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });

  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const respond = (response: HubResponse) => { if (!res.destroyed) writeResponse(res, method, response); };
    const dispatch = (body: Buffer) => {
      options.handler(hubRequest(req, body)).then(respond, (err: Error) => {
        options.onError(err);
        respond({ status: 500, headers: {}, body: '' });
      });
    };
    if (method === 'GET' || method === 'HEAD') { req.resume(); dispatch(Buffer.alloc(0)); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size < 0) return;
      size += chunk.length;
      if (size > limits.maxBodyBytes) {
        size = -1;
        res.setHeader('connection', 'close');
        respond({ status: 413, headers: { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' }, body: JSON.stringify({ error: `body larger than ${limits.maxBodyBytes} bytes` }) });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (size >= 0) dispatch(Buffer.concat(chunks)); });
    req.on('error', () => {});
  });
  server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'); else socket.destroy(); });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const request = hubRequest(req, Buffer.alloc(0));
    if (request.path !== options.livePath || request.header('upgrade').toLowerCase() !== 'websocket') {
      refuseUpgrade(socket, { status: 404, headers: { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' }, body: JSON.stringify({ error: 'no WebSocket here (use /live)' }) });
      return;
    }
    const verdict = live.upgrade(request);
    if (!verdict.accept) { refuseUpgrade(socket, verdict.response); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sock = new NodeLiveSocket<D>(ws, verdict.data, state);
      state.sockets.add(sock);
      ws.on('pong', () => { sock.alive = true; });
      ws.on('message', (data, isBinary) => {
        sock.alive = true;
        live.message(sock, isBinary ? Buffer.from(data as Buffer).toString('utf8') : String(data));
      });
      ws.on('error', () => {});
      ws.once('close', (code) => {
        for (const topic of [...sock.topics]) sock.unsubscribe(topic);
        state.sockets.delete(sock);
        live.close(sock, code);
      });
      live.open(sock);
    });
  });

  // uWS sends pings by itself and drops a socket silent for idleTimeout; the same here.
  const pinger = setInterval(() => {
    for (const sock of state.sockets) {
      if (!sock.alive) { sock.ws.terminate(); continue; }
      sock.alive = false;
      sock.ws.ping();
    }
  }, (limits.idleTimeoutSeconds * 1000) / 2);
  pinger.unref();

  let closing: Promise<void> | null = null;
  return {
    name: `node:http + ws ${wsVersion}`,
    listen: (host, port) => new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ObservError('OBS_ERR_USAGE', `cannot listen on ${host}:${port} (${err.code ?? err.message})`)));
      server.listen(port, host, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    }),
    publish: (topic, message) => {
      const set = state.topics.get(topic);
      if (!set) return;
      for (const sock of [...set]) state.deliver(sock, message);
    },
    numSubscribers: (topic) => state.topics.get(topic)?.size ?? 0,
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(pinger);
        for (const sock of [...state.sockets]) sock.ws.close(1001, 'hub shutting down');
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => { for (const sock of state.sockets) sock.ws.terminate(); server.closeAllConnections(); }, 1000).unref();
      });
      return closing;
    },
  };
}
