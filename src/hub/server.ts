// The hub: one uWebSockets.js process serving the built dashboard, the JSON API and /live.
//
//   PostgreSQL ──NOTIFY observ_batch──► LiveFeed (LISTEN, one connection)
//        ▲                                   │ debounced per vps/app
//        │ queries (pool)                    ▼
//   JSON API (/api/*) ◄── HTTP ──┐     uWS publish('fleet', …) ──► WebSocket clients (/live)
//   static dashboard (/)  ◄──────┴── uWebSockets.js App

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { join, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPg, clientConfig, type PgPool, type PgClient } from '../db/pg.js';
import { loadUws, type Uws } from './uws.js';
import { queryFleet } from './api/fleet.js';
import { ObservError } from '../errors.js';

type HttpResponse = import('uWebSockets.js').HttpResponse;
type HttpRequest = import('uWebSockets.js').HttpRequest;
type WebSocket = import('uWebSockets.js').WebSocket<LiveUserData>;

interface LiveUserData {
  topics: Set<string>;
}

export interface HubOptions {
  databaseUrl: string;
  host?: string;
  port?: number;
  /** Directory of the built dashboard (defaults to dist/ui). */
  uiDir?: string;
  log?: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
}

export interface Hub {
  url: string;
  port: number;
  implementation: string;
  close(): Promise<void>;
}

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

// Log text is untrusted: the dashboard renders it as text only, and the CSP forbids inline script.
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

interface StaticFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  immutable: boolean;
}

function loadStatic(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) { walk(rel); continue; }
      const body = readFileSync(join(dir, rel));
      const type = CONTENT_TYPES[extname(entry.name)] ?? 'application/octet-stream';
      const gz = /text|javascript|json|svg/.test(type) && body.length > 512 ? gzipSync(body, { level: 9 }) : null;
      files.set('/' + rel, {
        body, gzip: gz, type,
        etag: '"' + createHash('sha1').update(body).digest('base64url').slice(0, 16) + '"',
        // Bundles are content-hashed (assets/…); index.html must always revalidate.
        immutable: rel.startsWith('assets/'),
      });
    }
  };
  walk('');
  return files;
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const log = options.log ?? ((level, message, context) =>
    process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase(), logger: 'fleet-hub', message, ...(context ? { context } : {}) }) + '\n'));
  const host = options.host ?? '127.0.0.1';
  const { uws, implementation } = loadUws((m) => log('warn', m));
  const pg = loadPg();
  const pool: PgPool = new pg.Pool({ ...clientConfig(options.databaseUrl, { applicationName: 'fleet-hub', queryTimeoutMs: 15_000, statementTimeoutMs: 10_000 }), max: 10 });
  pool.on('error', (err) => log('warn', 'idle database connection failed', { error: err.message }));
  const staticFiles = loadStatic(options.uiDir ?? DEFAULT_UI_DIR);
  if (!staticFiles.has('/index.html')) log('warn', 'dashboard not built (run npm run build); serving the API only');

  const app = uws.App();
  const stats = { wsClients: 0, wsDropped: 0, published: 0 };

  const sendJson = (res: HttpResponse, status: string, body: unknown) => {
    res.cork(() => {
      res.writeStatus(status)
        .writeHeader('content-type', 'application/json; charset=utf-8')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('x-content-type-options', 'nosniff')
        .end(JSON.stringify(body));
    });
  };

  /** Runs an async handler with abort tracking (uWS requires onAborted before any async work). */
  const api = (handler: (query: URLSearchParams, req: HttpRequest) => Promise<unknown>) => (res: HttpResponse, req: HttpRequest) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    const query = new URLSearchParams(req.getQuery() ?? '');
    handler(query, req).then(
      (body) => { if (!aborted) sendJson(res, '200 OK', body); },
      (err: Error & { status?: string }) => {
        if (aborted) return;
        if (err.status) sendJson(res, err.status, { error: err.message });
        else {
          log('error', 'api error', { error: err.message });
          sendJson(res, '500 Internal Server Error', { error: 'internal error' });
        }
      });
  };

  app.get('/api/fleet', api(async (q) => ({
    generatedAt: new Date().toISOString(),
    fleet: await queryFleet(pool, { vps: q.get('vps') ?? undefined, app: q.get('app') ?? undefined }),
  })));
  app.get('/api/status', api(async () => {
    const r = await pool.query<{ now: Date }>('SELECT now()');
    return { ok: true, databaseTime: r.rows[0]!.now.toISOString(), uws: implementation, live: { ...stats } };
  }));
  app.any('/api/*', (res) => sendJson(res, '404 Not Found', { error: 'no such API endpoint' }));

  app.ws<LiveUserData>('/live', {
    compression: uws.SHARED_COMPRESSOR,
    maxPayloadLength: 16 * 1024,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // A slow consumer is skipped once 1 MiB is buffered, and closed past it: counted, not queued forever.
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      res.upgrade<LiveUserData>({ topics: new Set() }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws: WebSocket) => {
      stats.wsClients++;
      ws.subscribe('fleet');
      ws.getUserData().topics.add('fleet');
      ws.send(JSON.stringify({ type: 'hello', topics: ['fleet'] }));
    },
    message: (ws: WebSocket, message: ArrayBuffer) => {
      let msg: { subscribe?: unknown; unsubscribe?: unknown };
      try { msg = JSON.parse(Buffer.from(message).toString('utf8')) as typeof msg; } catch { return; }
      const topicOk = (t: unknown): t is string => typeof t === 'string' && /^(fleet|(vps|app|logs)\/[A-Za-z0-9_.@-]{1,128})$/.test(t);
      if (topicOk(msg.subscribe)) { ws.subscribe(msg.subscribe); ws.getUserData().topics.add(msg.subscribe); }
      if (topicOk(msg.unsubscribe)) { ws.unsubscribe(msg.unsubscribe); ws.getUserData().topics.delete(msg.unsubscribe); }
    },
    close: (_ws: WebSocket, code: number) => {
      stats.wsClients--;
      if (code === 1006 || code === 1009) stats.wsDropped++;
    },
  });

  app.get('/*', (res, req) => {
    let path = req.getUrl();
    if (path === '/' || !extname(path)) path = '/index.html';
    const file = staticFiles.get(path);
    if (!file) {
      res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found'));
      return;
    }
    const inm = req.getHeader('if-none-match');
    const acceptsGzip = /\bgzip\b/.test(req.getHeader('accept-encoding'));
    res.cork(() => {
      if (inm === file.etag) { res.writeStatus('304 Not Modified').writeHeader('etag', file.etag).end(); return; }
      res.writeStatus('200 OK')
        .writeHeader('content-type', file.type)
        .writeHeader('etag', file.etag)
        .writeHeader('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
        .writeHeader('content-security-policy', CSP)
        .writeHeader('x-content-type-options', 'nosniff')
        .writeHeader('referrer-policy', 'no-referrer')
        .writeHeader('vary', 'accept-encoding');
      if (file.gzip && acceptsGzip) res.writeHeader('content-encoding', 'gzip').end(file.gzip);
      else res.end(file.body);
    });
  });

  const live = new LiveFeed(options.databaseUrl, pool, uws, app, stats, log);
  await live.start();

  const listenSocket = await new Promise<unknown>((resolve, reject) => {
    app.listen(host, options.port ?? 8080, (token) => {
      if (token) resolve(token);
      else reject(new ObservError('OBS_ERR_USAGE', `cannot listen on ${host}:${options.port ?? 8080} (address in use or not available)`));
    });
  }).catch(async (err) => { await live.close(); await pool.end(); throw err; });
  const port = uws.us_socket_local_port(listenSocket as never);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    implementation,
    close() {
      if (!closing) {
        closing = (async () => {
          uws.us_listen_socket_close(listenSocket as never);
          await live.close();
          (app as unknown as { close?: () => void }).close?.();
          await pool.end().catch(() => {});
        })();
      }
      return closing;
    },
  };
}

/**
 * LISTEN observ_batch on one dedicated connection; on each notification, re-reads that vps/app's
 * fleet row and publishes it. Notifications for the same vps/app within 100 ms are coalesced.
 * A lost connection is re-established with backoff, and clients are told to refetch.
 */
class LiveFeed {
  private client: PgClient | null = null;
  private closed = false;
  private pending = new Map<string, { vps: string; app: string }>();
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;

  constructor(
    private readonly url: string,
    private readonly pool: PgPool,
    private readonly uws: Uws,
    private readonly app: import('uWebSockets.js').TemplatedApp,
    private readonly stats: { published: number },
    private readonly log: NonNullable<HubOptions['log']>,
  ) {}

  async start(): Promise<void> {
    const pg = loadPg();
    const client = new pg.Client({ ...clientConfig(this.url, { applicationName: 'fleet-hub live', queryTimeoutMs: 10_000 }) });
    client.on('error', (err) => this.reconnect(err.message));
    client.on('end', () => this.reconnect('connection ended'));
    client.on('notification', (n) => {
      if (n.channel !== 'observ_batch' || !n.payload) return;
      try {
        const p = JSON.parse(n.payload) as { vps: string; app: string };
        this.pending.set(`${p.vps}\u0000${p.app}`, { vps: p.vps, app: p.app });
        this.timer ??= setTimeout(() => void this.publish(), 100);
      } catch { /* not ours */ }
    });
    await client.connect();
    await client.query('LISTEN observ_batch');
    this.client = client;
    this.attempts = 0;
  }

  private reconnect(reason: string): void {
    if (this.closed || this.reconnectTimer) return;
    this.client = null;
    const delay = Math.min(30_000, 250 * 2 ** this.attempts++);
    this.log('warn', 'live feed lost its database connection; reconnecting', { reason, inMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.start().then(
        () => { this.app.publish('fleet', JSON.stringify({ type: 'resync' })); },
        (err: Error) => this.reconnect(err.message));
    }, delay);
  }

  private async publish(): Promise<void> {
    this.timer = null;
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const { vps, app } of batch) {
      try {
        const rows = await queryFleet(this.pool, { vps, app });
        if (this.closed) return;
        const msg = JSON.stringify({ type: 'fleet', rows, at: new Date().toISOString() });
        this.app.publish('fleet', msg);
        this.app.publish(`vps/${vps}`, msg);
        this.app.publish(`app/${app}`, msg);
        this.stats.published++;
      } catch (err) {
        this.log('warn', 'live update failed', { error: (err as Error).message });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
  }
}
