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
import { createPool, type PgPool } from '../db/pg.js';
import { loadUws } from './uws.js';
import { queryFleet } from './api/fleet.js';
import { parseMetricsQuery, queryMetrics } from './api/metrics.js';
import { parseHealthQuery, queryHealth } from './api/health.js';
import { parseLogQuery, searchLogs } from './api/logs.js';
import { queryAlerts } from './api/alerts.js';
import { BadRequest, optionalName, rejectUnknown } from './api/params.js';
import { alertsApi, parseEventQuery, startAlerting } from './alerting/index.js';
import { startMaintenance } from '../ops/maintenance.js';
import { LiveFeed, type LiveStats } from './live.js';
import { parseUptimeQuery, queryUptime } from './api/uptime.js';
import { cachedPublicStatus, loadStatusPage, parseStatusPage, type StatusPageConfig, type StatusPageInput } from './api/public-status.js';
import { resolveAuth, SessionAuth, type AuthConfig } from './auth.js';
import { ConfigError, ObservError } from '../errors.js';

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
  /**
   * Password/token for the dashboard. Defaults to OBSERV_HUB_PASSWORD_HASH / OBSERV_HUB_PASSWORD.
   * Required on a non-loopback host; optional (but enforced when given) on loopback.
   */
  auth?: AuthConfig;
  /** Per-connection cap on bytes buffered for a /live client; past it the client is dropped (default 1 MiB). */
  liveMaxBufferedBytes?: number;
  /** Rule-based alerting (src/hub/alerting): on by default, with built-in rules when no file is given. */
  alerting?: boolean;
  /** Alert rules and channels (YAML, see docs/alerting.md); default $OBSERV_ALERTS_FILE. */
  alertsFile?: string;
  /** Public URL of the dashboard, for links in notifications (default $OBSERV_HUB_PUBLIC_URL, else the listen URL). */
  publicUrl?: string;
  /**
   * The public status page (/status, /api/public/status; src/hub/api/public-status.ts): a YAML file or
   * its parsed form. Default $OBSERV_STATUS_PAGE; off when neither is given.
   */
  statusPage?: string | StatusPageInput;
  /** How often the live feed re-reads liveness and alert state for open pages (default 5000 ms). */
  liveTickMs?: number;
  /** Partition upkeep, rollups and retention on a schedule (src/ops/maintenance): on by default. */
  maintenance?: boolean;
  log?: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
}

export interface HubStats extends LiveStats {
  wsClients: number;
  /** Connections closed by the hub because they fell behind by more than liveMaxBufferedBytes. */
  wsDropped: number;
}

export interface Hub {
  url: string;
  port: number;
  implementation: string;
  authRequired: boolean;
  stats: Readonly<HubStats>;
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

const TOPIC = /^(fleet|(vps|app|logs)\/[^\u0000-\u001f\u007f]{1,256})$/;
const MAX_BODY_BYTES = 8 * 1024;

export async function startHub(options: HubOptions): Promise<Hub> {
  const log = options.log ?? ((level, message, context) =>
    process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase(), logger: 'fleet-hub', message, ...(context ? { context } : {}) }) + '\n'));
  const host = options.host ?? '127.0.0.1';
  const auth = await resolveAuth(host, isLoopback(host), options.auth);
  const statusPageSource = options.statusPage ?? (process.env.OBSERV_STATUS_PAGE || undefined);
  const statusPage: StatusPageConfig | null = statusPageSource === undefined ? null
    : typeof statusPageSource === 'string' ? await loadStatusPage(statusPageSource) : parseStatusPage(statusPageSource);
  const { uws, implementation } = loadUws((m) => log('warn', m));
  const pool: PgPool = createPool(options.databaseUrl, { applicationName: 'fleet-hub', queryTimeoutMs: 15_000, statementTimeoutMs: 10_000, max: 10 },
    (err) => log('warn', 'database connection failed', { error: err.message }));
  const staticFiles = loadStatic(options.uiDir ?? DEFAULT_UI_DIR);
  if (!staticFiles.has('/index.html')) log('warn', 'dashboard not built (run npm run build); serving the API only');

  const app = uws.App();
  const stats: HubStats = { wsClients: 0, wsDropped: 0, published: 0, logLinesPushed: 0 };
  const maxBuffered = options.liveMaxBufferedBytes ?? 1024 * 1024;
  // A card's status follows the alert state machine when this hub runs alerting (see api/fleet.ts).
  const fleetOptions = { statusFromAlerts: options.alerting ?? true };
  const liveTickMs = options.liveTickMs ?? 5000;
  const live = new LiveFeed(options.databaseUrl, pool, {
    publish: (topic, message) => app.publish(topic, message),
    numSubscribers: (topic) => app.numSubscribers(topic),
  }, stats, log, fleetOptions);

  const sendJson = (res: HttpResponse, status: string, body: unknown, headers: Record<string, string> = {}) => {
    res.cork(() => {
      res.writeStatus(status)
        .writeHeader('content-type', 'application/json; charset=utf-8')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('x-content-type-options', 'nosniff');
      for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
      res.end(body === null ? '' : JSON.stringify(body));
    });
  };

  const failed = (res: HttpResponse, err: Error & { status?: string }) => {
    if (err.status) sendJson(res, err.status, { error: err.message });
    else {
      log('error', 'api error', { error: err.message });
      sendJson(res, '500 Internal Server Error', { error: 'internal error' });
    }
  };

  /**
   * Runs an async GET handler: session check and query parsing happen synchronously (uWS request
   * objects die at the first await), then abort tracking guards the response.
   */
  const api = (handler: (query: URLSearchParams) => Promise<unknown>) => (res: HttpResponse, req: HttpRequest) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    if (auth && !auth.check(req.getHeader('cookie'))) { sendJson(res, '401 Unauthorized', { error: 'log in first (POST /api/session)' }); return; }
    const query = new URLSearchParams(req.getQuery() ?? '');
    Promise.resolve(query).then(handler).then(
      (body) => { if (!aborted) sendJson(res, '200 OK', body); },
      (err: Error & { status?: string }) => { if (!aborted) failed(res, err); });
  };

  app.get('/api/session', (res, req) => {
    sendJson(res, '200 OK', { authRequired: auth !== null, authenticated: auth === null || auth.check(req.getHeader('cookie')) });
  });
  app.post('/api/session', (res, req) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    if (!auth) { sendJson(res, '200 OK', { authRequired: false, authenticated: true }); return; }
    if (!/^application\/json\b/.test(req.getHeader('content-type'))) { sendJson(res, '415 Unsupported Media Type', { error: 'send {"password": "…"} as application/json' }); return; }
    const secure = req.getHeader('x-forwarded-proto') === 'https';
    const client = Buffer.from(res.getRemoteAddressAsText()).toString();
    readBody(res, MAX_BODY_BYTES).then(async (body) => {
      let password: unknown;
      try { password = (JSON.parse(body.toString('utf8')) as { password?: unknown }).password; } catch { throw new BadRequest('body must be JSON: {"password": "…"}'); }
      if (typeof password !== 'string' || !password) throw new BadRequest('password is required');
      const session = await auth.login(password, client);
      if (aborted) return;
      if (session === 'throttled') sendJson(res, '429 Too Many Requests', { error: 'too many failed attempts; wait a minute' });
      else if (session === null) sendJson(res, '401 Unauthorized', { error: 'wrong password' });
      else sendJson(res, '200 OK', { authRequired: true, authenticated: true }, { 'set-cookie': SessionAuth.cookie(session, secure) });
    }).catch((err: Error & { status?: string }) => { if (!aborted) failed(res, err); });
  });
  app.del('/api/session', (res, req) => {
    auth?.logout(req.getHeader('cookie'));
    sendJson(res, '200 OK', { authRequired: auth !== null, authenticated: auth === null }, { 'set-cookie': SessionAuth.clearCookie() });
  });

  app.get('/api/fleet', api(async (q) => {
    rejectUnknown(q, ['vps', 'app']);
    return { generatedAt: new Date().toISOString(), fleet: await queryFleet(pool, { vps: optionalName(q, 'vps') ?? undefined, app: optionalName(q, 'app') ?? undefined }, fleetOptions) };
  }));
  app.get('/api/metrics', api((q) => queryMetrics(pool, parseMetricsQuery(q))));
  app.get('/api/health', api((q) => queryHealth(pool, parseHealthQuery(q))));
  app.get('/api/logs', api((q) => searchLogs(pool, parseLogQuery(q))));
  app.get('/api/alerts', api(async (q) => {
    rejectUnknown(q, []);
    return { generatedAt: new Date().toISOString(), alerts: await queryAlerts(pool) };
  }));
  app.get('/api/status', api(async () => {
    const r = await pool.query<{ now: Date }>('SELECT now()');
    return { ok: true, databaseTime: r.rows[0]!.now.toISOString(), uws: implementation, authRequired: auth !== null, live: { ...stats } };
  }));
  // Rule-based alerting: history, rules (read-only), deliveries and acknowledgements.
  const alerts = alertsApi(pool);
  app.get('/api/alerts/history', api((q) => alerts.events(parseEventQuery(q))));
  app.get('/api/alert-events', api((q) => alerts.events(parseEventQuery(q))));
  app.get('/api/alert-rules', api(() => alerts.rules()));
  app.get('/api/alerts/open', api((q) => {
    rejectUnknown(q, ['status', 'vps', 'app']);
    return alerts.alerts({ status: q.get('status') ?? undefined, vps: optionalName(q, 'vps') ?? undefined, app: optionalName(q, 'app') ?? undefined });
  }));
  app.get('/api/alert-deliveries', api((q) => {
    rejectUnknown(q, ['status', 'limit']);
    const limit = q.get('limit');
    return alerts.deliveries({ status: q.get('status') ?? undefined, limit: limit === null ? undefined : Number(limit) });
  }));
  app.post('/api/alerts/:id/ack', (res, req) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    if (auth && !auth.check(req.getHeader('cookie'))) { sendJson(res, '401 Unauthorized', { error: 'log in first (POST /api/session)' }); return; }
    const id = Number(req.getParameter(0));
    readBody(res, MAX_BODY_BYTES).then(async (raw) => {
      if (!Number.isInteger(id) || id <= 0) throw new BadRequest('alert id must be a positive integer');
      let body: { by?: string; comment?: string } = {};
      if (raw.length) {
        try { body = JSON.parse(raw.toString('utf8')) as typeof body; } catch { throw new BadRequest('body must be JSON: {"by": "…", "comment": "…"}'); }
      }
      const result = await alerts.ack(id, { by: typeof body.by === 'string' ? body.by : undefined, comment: typeof body.comment === 'string' ? body.comment : undefined });
      if (!aborted) sendJson(res, '200 OK', result);
    }).catch((err: Error & { status?: string }) => { if (!aborted) failed(res, err); });
  });
  // ── Dashboard routes (uptime per check; the public status page) ──────────────────────────────────
  app.get('/api/uptime', api((q) => queryUptime(pool, parseUptimeQuery(q))));
  // Public: no session needed, even with auth on; answers only what the status-page file names,
  // recomputed at most every 15 s whatever the traffic.
  const publicStatus = statusPage ? cachedPublicStatus(pool, statusPage, fleetOptions) : null;
  app.get('/api/public/status', (res, req) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    if (req.getQuery()) { sendJson(res, '400 Bad Request', { error: 'this endpoint takes no parameters' }); return; }
    if (!publicStatus) { sendJson(res, '404 Not Found', { error: 'the status page is not enabled (set OBSERV_STATUS_PAGE to a status-page file, see docs/hub.md)' }); return; }
    publicStatus().then(
      (body) => { if (!aborted) sendJson(res, '200 OK', body); },
      (err: Error) => { if (!aborted) { log('error', 'public status failed', { error: err.message }); sendJson(res, '500 Internal Server Error', { error: 'status unavailable' }); } });
  });
  // ── end of dashboard routes ───────────────────────────────────────────────────────────────────────
  app.any('/api/*', (res) => sendJson(res, '404 Not Found', { error: 'no such API endpoint' }));

  app.ws<LiveUserData>('/live', {
    compression: uws.SHARED_COMPRESSOR,
    maxPayloadLength: 16 * 1024,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // A slow consumer is skipped once this much is buffered, and closed: counted, not queued forever.
    maxBackpressure: maxBuffered,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      if (auth) {
        // SameSite=Strict already keeps the cookie off cross-site handshakes; the Origin check is a second lock.
        const origin = req.getHeader('origin');
        const hostHeader = req.getHeader('host');
        if (!auth.check(req.getHeader('cookie')) || (origin && originHost(origin) !== hostHeader)) {
          res.cork(() => res.writeStatus('401 Unauthorized').end());
          return;
        }
      }
      res.upgrade<LiveUserData>({ topics: new Set() }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws: WebSocket) => {
      stats.wsClients++;
      ws.subscribe('fleet');
      ws.getUserData().topics.add('fleet');
      ws.send(JSON.stringify({ type: 'hello', topics: ['fleet'], tickMs: liveTickMs, at: new Date().toISOString() }));
    },
    message: (ws: WebSocket, message: ArrayBuffer) => {
      let msg: { subscribe?: unknown; unsubscribe?: unknown };
      try { msg = JSON.parse(Buffer.from(message).toString('utf8')) as typeof msg; } catch { return; }
      const topics = ws.getUserData().topics;
      const topicOk = (t: unknown): t is string => typeof t === 'string' && TOPIC.test(t);
      if (topicOk(msg.subscribe) && !topics.has(msg.subscribe) && topics.size < 64) {
        if (msg.subscribe.startsWith('logs/') && app.numSubscribers(msg.subscribe) === 0) live.watchLogs(msg.subscribe.slice('logs/'.length));
        ws.subscribe(msg.subscribe);
        topics.add(msg.subscribe);
      }
      if (topicOk(msg.unsubscribe)) { ws.unsubscribe(msg.unsubscribe); topics.delete(msg.unsubscribe); }
      ws.send(JSON.stringify({ type: 'subscribed', topics: [...topics] }));
    },
    close: (_ws: WebSocket, code: number) => {
      stats.wsClients--;
      // uWS closes a socket past maxBackpressure without a close frame: code 1006 from our side.
      if (code === 1006) stats.wsDropped++;
    },
  });

  app.get('/*', (res, req) => {
    let path = req.getUrl();
    if (path === '/status' || path === '/status/') path = '/status.html'; // the public status page (dashboard routes)
    else if (path === '/' || !extname(path)) path = '/index.html';
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

  await live.start().catch(async (err: Error) => {
    await pool.end().catch(() => {});
    throw new ObservError('OBS_ERR_DB_UNREACHABLE', `the hub cannot LISTEN on the database: ${err.message}`, { cause: err });
  });
  live.startTicker(liveTickMs);

  const listenSocket = await new Promise<unknown>((resolve, reject) => {
    app.listen(host, options.port ?? 8080, (token) => {
      if (token) resolve(token);
      else reject(new ObservError('OBS_ERR_USAGE', `cannot listen on ${host}:${options.port ?? 8080} (address in use or not available)`));
    });
  }).catch(async (err) => { await live.close(); await pool.end(); throw err; });
  const port = uws.us_socket_local_port(listenSocket as never);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;

  // Background work. Alerting runs its rules on one leader among all hubs (advisory lock); the
  // maintenance jobs take their own lock. Neither may keep the dashboard from serving.
  let alerting: { stop(): Promise<void> } | null = null;
  if (options.alerting ?? true) {
    alerting = await startAlerting({
      databaseUrl: options.databaseUrl, pool, log,
      configFile: options.alertsFile ?? (process.env.OBSERV_ALERTS_FILE || undefined),
      dashboardUrl: options.publicUrl ?? (process.env.OBSERV_HUB_PUBLIC_URL || url),
    }).catch((err: Error) => {
      if (err instanceof ConfigError) throw err;
      log('error', 'alerting did not start', { error: err.message });
      return null;
    });
  }
  const maintenance = (options.maintenance ?? true) ? startMaintenance({ pool, log }) : null;
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    implementation,
    authRequired: auth !== null,
    stats,
    close() {
      if (!closing) {
        closing = (async () => {
          uws.us_listen_socket_close(listenSocket as never);
          await alerting?.stop();
          await maintenance?.stop();
          await live.close();
          (app as unknown as { close?: () => void }).close?.();
          await pool.end().catch(() => {});
        })();
      }
      return closing;
    },
  };
}

function originHost(origin: string): string | null {
  try { return new URL(origin).host; } catch { return null; }
}

/** Reads a request body up to `limit` bytes (uWS hands it over in chunks that must be copied). */
function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > limit) { reject(new BadRequest(`body larger than ${limit} bytes`)); return; }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}
