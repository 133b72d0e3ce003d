// The uWebSockets.js transport. uWS is not on npm under its own name; two builds are candidates:
// - `@trufflesuite/uws-js-unofficial` 20.30 (a dependency, aliased "uWebSockets.js"): binaries for
//   Node 16, 18 and 20 (ABI 93, 108, 115) on linux/darwin x64/arm64/arm and win32-x64;
// - `@btc-vision/uwebsockets.js` 20.57 (an optional dependency): Node 20, 22, 24, 25 (ABI 115, 127,
//   137, 141), but its Linux binaries need glibc ≥ 2.38 (Debian 13, Ubuntu 24.04 and newer).
// Each binary is required by its path, so a failure shows its real cause (a missing ABI, or the
// dynamic loader's "GLIBC_2.38 not found") rather than the packages' own generic messages. The
// packages' pure-JS fallbacks are never used (tried here: plain HTTP requests were dropped).
//
// Routing is not left to uWS: one `any('/*')` hands every request to the hub's route table (uWS
// 20.57 ranks `/*` above `/api/*`, 20.30 the other way round), and `/live` is the only ws route.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ObservError } from '../../errors.js';
import { statusLine, type HubRequest, type HubResponse, type LiveSocket, type Transport, type TransportOptions } from './types.js';

const require = createRequire(import.meta.url);
type Uws = typeof import('uWebSockets.js');
type UwsResponse = import('uWebSockets.js').HttpResponse;
type UwsRequest = import('uWebSockets.js').HttpRequest;
type UwsSocket<D> = import('uWebSockets.js').WebSocket<SocketData<D>>;

export interface LoadedUws {
  uws: Uws;
  implementation: string;
}

interface Candidate {
  label: string;
  load(binary: string): Uws;
}

const CANDIDATES: Candidate[] = [
  { label: 'uWebSockets.js 20.30 (@trufflesuite/uws-js-unofficial)', load: (binary) => require(`uWebSockets.js/binaries/${binary}`) as Uws },
  {
    label: 'uWebSockets.js 20.57 (@btc-vision/uwebsockets.js)',
    load: (binary) => require(join(dirname(require.resolve('@btc-vision/uwebsockets.js')), binary)) as Uws,
  },
];

function glibcVersion(): string | null {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? null;
}

/** Why one candidate did not load, in one line. */
function cause(err: unknown, binary: string): string {
  const e = err as NodeJS.ErrnoException;
  const first = String(e?.message ?? err).split('\n')[0]!;
  if (e?.code === 'MODULE_NOT_FOUND') {
    return /Cannot find module '@btc-vision/.test(first) ? 'not installed' : `no ${binary} in the package (no build for this Node ABI/platform)`;
  }
  const glibc = /GLIBC_(\d+\.\d+)' not found/.exec(first);
  if (glibc) return `needs glibc ≥ ${glibc[1]}, this system has ${glibcVersion() ?? 'an older one'} (${first})`;
  return first;
}

let loaded: LoadedUws | undefined;
let failures: string[] | undefined;

/** Loads the first uWS build that works here, or throws OBS_ERR_UWS_UNAVAILABLE listing every candidate and its cause. */
export function loadUws(): LoadedUws {
  if (loaded) return loaded;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  if (!failures) {
    failures = [];
    for (const candidate of CANDIDATES) {
      try {
        loaded = { uws: candidate.load(binary), implementation: `${candidate.label} (${binary})` };
        return loaded;
      } catch (err) {
        failures.push(`${candidate.label}: ${cause(err, binary)}`);
      }
    }
  }
  throw new ObservError('OBS_ERR_UWS_UNAVAILABLE',
    `no uWebSockets.js build loads for Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}` +
    `${glibcVersion() ? `, glibc ${glibcVersion()}` : ''}: ${failures.join('; ')}. ` +
    'The hub serves the same routes over node:http + ws instead (--transport node, the default fallback).');
}

interface SocketData<D> {
  data: D;
  socket: UwsLiveSocket<D> | null;
}

class UwsLiveSocket<D> implements LiveSocket<D> {
  closed = false;
  constructor(private readonly ws: UwsSocket<D>, readonly data: D) {}
  send(message: string): void { if (!this.closed) this.ws.send(message, false, false); }
  subscribe(topic: string): void { if (!this.closed) this.ws.subscribe(topic); }
  unsubscribe(topic: string): void { if (!this.closed) this.ws.unsubscribe(topic); }
  close(code: number, reason: string): void { if (!this.closed) this.ws.end(code, reason); }
}

function copyRequest(res: UwsResponse, req: UwsRequest, body: Buffer): HubRequest {
  const headers = new Map<string, string>();
  req.forEach((k, v) => headers.set(k, headers.has(k) ? `${headers.get(k)!}, ${v}` : v));
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    rawQuery: req.getQuery() ?? '',
    header: (name) => headers.get(name) ?? '',
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString().replace(/^::ffff:/, ''),
    body,
  };
}

function writeResponse(res: UwsResponse, method: string, response: HubResponse): void {
  res.cork(() => {
    res.writeStatus(statusLine(response.status));
    for (const [k, v] of Object.entries(response.headers)) res.writeHeader(k, v);
    // HEAD: the length is written by hand; 20.30's endWithoutBody(length) breaks the connection for
    // the next request on it (seen here).
    if (method === 'HEAD') res.writeHeader('content-length', String(Buffer.byteLength(response.body))).endWithoutBody();
    else res.end(response.body);
  });
}

export function uwsTransport<D>(options: TransportOptions<D>): Transport {
  const { uws, implementation } = loadUws();
  const app = uws.App();
  const { limits, live } = options;
  const sockets = new Set<UwsLiveSocket<D>>();

  app.ws<SocketData<D>>(options.livePath, {
    // No per-message compression on either transport: the pushes are small JSON, and compressing
    // per socket would cost the node transport a zlib context per client.
    compression: uws.DISABLED,
    maxPayloadLength: limits.maxPayloadBytes,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    // A slow consumer is closed (no close frame: 1006 on our side) once this much is buffered.
    maxBackpressure: limits.maxBufferedBytes,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      const verdict = live.upgrade(copyRequest(res, req, Buffer.alloc(0)));
      if (!verdict.accept) { writeResponse(res, 'GET', verdict.response); return; }
      res.upgrade<SocketData<D>>({ data: verdict.data, socket: null }, req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const ud = ws.getUserData();
      ud.socket = new UwsLiveSocket(ws, ud.data);
      sockets.add(ud.socket);
      live.open(ud.socket);
    },
    message: (ws, message) => {
      const socket = ws.getUserData().socket;
      if (socket) live.message(socket, Buffer.from(message).toString('utf8'));
    },
    close: (ws, code) => {
      const socket = ws.getUserData().socket;
      if (!socket) return;
      socket.closed = true;
      sockets.delete(socket);
      live.close(socket, code);
    },
  });

  app.any('/*', (res, req) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    const method = req.getMethod().toUpperCase();
    const dispatch = (body: Buffer) => {
      options.handler(copyRequest(res, req, body)).then(
        (response) => { if (!aborted) writeResponse(res, method, response); },
        (err: Error) => { options.onError(err); if (!aborted) writeResponse(res, method, { status: 500, headers: {}, body: '' }); });
    };
    if (method === 'GET' || method === 'HEAD') { dispatch(Buffer.alloc(0)); return; }
    // uWS request objects die when this callback returns: copy what the handler needs before the body arrives.
    const early = copyRequest(res, req, Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (size < 0) return;
      size += chunk.byteLength;
      if (size > limits.maxBodyBytes) {
        size = -1;
        if (!aborted) {
          aborted = true;
          res.cork(() => res.writeStatus(statusLine(413)).writeHeader('content-type', 'application/json; charset=utf-8')
            .writeHeader('x-content-type-options', 'nosniff')
            .end(JSON.stringify({ error: `body larger than ${limits.maxBodyBytes} bytes` }), true));
        }
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        const body = Buffer.concat(chunks);
        options.handler({ ...early, body }).then(
          (response) => { if (!aborted) writeResponse(res, method, response); },
          (err: Error) => { options.onError(err); if (!aborted) writeResponse(res, method, { status: 500, headers: {}, body: '' }); });
      }
    });
  });

  let listenSocket: unknown = null;
  let closing: Promise<void> | null = null;
  return {
    name: implementation,
    listen: (host, port) => new Promise((resolve, reject) => {
      app.listen(host, port, (token) => {
        if (!token) { reject(new ObservError('OBS_ERR_USAGE', `cannot listen on ${host}:${port} (address in use or not available)`)); return; }
        listenSocket = token;
        resolve(uws.us_socket_local_port(token));
      });
    }),
    publish: (topic, message) => { app.publish(topic, message, false, false); },
    numSubscribers: (topic) => app.numSubscribers(topic),
    close() {
      closing ??= (async () => {
        if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
        for (const socket of [...sockets]) socket.close(1001, 'hub shutting down');
        (app as unknown as { close?: () => void }).close?.();
      })();
      return closing;
    },
  };
}
