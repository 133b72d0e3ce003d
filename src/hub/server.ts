// The hub: one route table (./routes.ts) over one of two transports (./transport: uWebSockets.js
// where a build loads, else node:http + ws), serving the built dashboard, the JSON API and /live.
//
//   PostgreSQL ──NOTIFY observ_batch──► LiveFeed (LISTEN, one connection)
//        ▲                                   │ debounced per vps/app
//        │ queries: pool (fleet, metrics,    ▼
//        │  health, alerts, live)      transport.publish('fleet', …) ──► WebSocket clients (/live)
//        │ searchPool (log search only)
//        │ (with OBSERV_DB_READ_URL, charts, health, uptime, log search and the public status page read
//        │  a streaming replica instead: ./read-replica.ts)
//   JSON API (/api/*) ◄── RouteTable ◄── transport (uws | node) ◄── HTTP
//   static dashboard (/) ◄──┘

import { fileURLToPath } from 'node:url';
import { createPool, redactUrl, type PgPool } from '../db/pg.js';
import { FleetCache } from './fleet-cache.js';
import { NO_REPLICA, ReadReplica } from './read-replica.js';
import { parseMetricsQuery, queryMetrics } from './api/metrics.js';
import { parseHealthQuery, queryHealth } from './api/health.js';
import { parseLogQuery, searchLogs } from './api/logs.js';
import { BadRequest, optionalName, rejectUnknown } from './api/params.js';
import { parseAnomalyQuery, queryAnomalies } from './api/anomalies.js';
import { alertsApi, ackNote, parseAlertsQuery, parseEventQuery, startAlerting, type Alerting } from './alerting/index.js';
import { startMaintenance } from '../ops/maintenance.js';
import { LiveFeed, type LiveStats } from './live.js';
import { parseUptimeQuery, queryUptime } from './api/uptime.js';
import { parseDeploymentsQuery, queryDeployments } from './api/deployments.js';
import { cachedPublicStatus, loadStatusPage, parseStatusPage, type StatusPageConfig, type StatusPageInput } from './api/public-status.js';
import { clientKey, loginFields, readCookie, requestUser, resolveAuth, SESSION_COOKIE, SessionAuth, trustProxyHops, type AuthConfig } from './auth.js';
import { ConfigError, ObservError } from '../errors.js';
import { createTransport, parseTransportChoice, type TransportChoice } from './transport/index.js';
import type { HubRequest, HubResponse, LiveSocket, UpgradeVerdict } from './transport/types.js';
import {
  allowedHosts, ClientLimiter, crossOrigin, CSP, hostAllowed, isLoopback, json, RouteTable, SECURITY_HEADERS, statusOf,
  type RouteRequest,
} from './routes.js';
import { StaticFiles } from './static.js';

export { isLoopback, CSP };

interface LiveUserData {
  topics: Set<string>;
  client: string;
  /** The session the socket was opened with (auth on), so that logout and expiry close it. */
  session: string | null;
}

export interface HubOptions {
  databaseUrl: string;
  /**
   * A streaming replica for dashboard reads (charts, health, uptime, log search, public status); default
   * $OBSERV_DB_READ_URL. Writes, LISTEN/NOTIFY, the fleet overview and alerting stay on databaseUrl.
   */
  readDatabaseUrl?: string;
  /** How often the replica's state and lag are read (default 5000 ms). */
  readReplicaCheckMs?: number;
  host?: string;
  port?: number;
  /** Directory of the built dashboard (defaults to dist/ui). */
  uiDir?: string;
  /**
   * Password/token for the dashboard. Defaults to OBSERV_HUB_PASSWORD_HASH / OBSERV_HUB_PASSWORD.
   * Required on a non-loopback host; optional (but enforced when given) on loopback.
   */
  auth?: AuthConfig;
  /** 'uws', 'node' or 'auto' (default $OBSERV_HUB_TRANSPORT, else auto: uWS where a build loads). */
  transport?: TransportChoice;
  /** Per-connection cap on bytes buffered for a /live client; past it the client is dropped (default 1 MiB). */
  liveMaxBufferedBytes?: number;
  /** Open /live sockets at most (default 1,000); more get 503. */
  liveMaxClients?: number;
  /** Open /live sockets per client address at most (default 100); more get 429. */
  liveMaxClientsPerAddress?: number;
  /** Host header values accepted besides the loopback names (default $OBSERV_HUB_ALLOWED_HOSTS, comma-separated). */
  allowedHosts?: string[];
  /** Believe one proxy's X-Forwarded-For (default: $OBSERV_HUB_TRUST_PROXY, the number of proxies in front). */
  trustProxy?: boolean;
  /** Rule-based alerting (src/hub/alerting): on by default, with built-in rules when no file is given. */
  alerting?: boolean;
  /** Alert rules and channels (YAML, see docs/alerting.md); default $OBSERV_ALERTS_FILE. */
  alertsFile?: string;
  /**
   * The public status page (/status, /api/public/status; src/hub/api/public-status.ts): a YAML file or
   * its parsed form. Default $OBSERV_STATUS_PAGE; off when neither is given.
   */
  statusPage?: string | StatusPageInput;
  /** How often the live feed re-reads liveness and alert state for open pages (default 5000 ms). */
  liveTickMs?: number;
  /** Public URL of the dashboard, for links in notifications (default $OBSERV_HUB_PUBLIC_URL, else the listen URL). */
  publicUrl?: string;
  /** Partition upkeep, rollups and retention on a schedule (src/ops/maintenance): on by default. */
  maintenance?: boolean;
  log?: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
}

export interface HubStats extends LiveStats {
  wsClients: number;
  /** Connections closed by the hub because they fell behind by more than liveMaxBufferedBytes. */
  wsDropped: number;
  /** Upgrades refused because a connection cap was reached. */
  wsRefused: number;
}

export interface Hub {
  url: string;
  port: number;
  /** The transport serving requests, e.g. "node:http + ws 8.23.0". */
  implementation: string;
  /** Why that transport (a uWS build loads, was chosen, or every uWS build tried and its failure). */
  transportReason: string;
  authRequired: boolean;
  stats: Readonly<HubStats>;
  close(): Promise<void>;
}

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TOPIC = /^(fleet|(vps|app|logs)\/[^\u0000-\u001f\u007f]{1,256})$/;
const MAX_BODY_BYTES = 8 * 1024;
const MAX_TOPICS_PER_SOCKET = 64;
/** Close codes the hub sends on /live (docs/hub.md). */
export const LIVE_CLOSE = { loggedOut: 4401, tooManyTopics: 4408, shuttingDown: 1001 } as const;

export async function startHub(options: HubOptions): Promise<Hub> {
  const log = options.log ?? ((level, message, context) =>
    process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase(), logger: 'fleet-hub', message, ...(context ? { context } : {}) }) + '\n'));
  const host = options.host ?? '127.0.0.1';
  const auth = await resolveAuth(host, isLoopback(host), options.auth);
  const statusPageSource = options.statusPage ?? (process.env.OBSERV_STATUS_PAGE || undefined);
  const statusPage: StatusPageConfig | null = statusPageSource === undefined ? null
    : typeof statusPageSource === 'string' ? await loadStatusPage(statusPageSource) : parseStatusPage(statusPageSource);
  // A card's status follows the alert state machine when this hub runs alerting (see api/fleet.ts).
  const fleetOptions = { statusFromAlerts: options.alerting ?? true };
  const liveTickMs = options.liveTickMs ?? 5000;
  const transportChoice = options.transport ?? parseTransportChoice(process.env.OBSERV_HUB_TRANSPORT, 'OBSERV_HUB_TRANSPORT');
  // Proxies in front of the hub whose X-Forwarded-For may be believed (OBSERV_HUB_TRUST_PROXY=N, docs/security.md).
  const proxyHops = options.trustProxy === undefined ? trustProxyHops() : options.trustProxy ? 1 : 0;
  const clientOf = (req: HubRequest) => clientKey(req.remoteAddress, req.header('x-forwarded-for') || undefined, proxyHops);
  const extraHosts = options.allowedHosts ?? (process.env.OBSERV_HUB_ALLOWED_HOSTS ?? '').split(',').filter(Boolean);
  const publicUrl = options.publicUrl ?? (process.env.OBSERV_HUB_PUBLIC_URL || undefined);
  if (publicUrl) { try { extraHosts.push(new URL(publicUrl).host); } catch { /* validated where it is used */ } }

  const onPoolError = (err: Error) => log('warn', 'database connection failed', { error: err.message });
  const pool: PgPool = createPool(options.databaseUrl, { applicationName: 'fleet-hub', queryTimeoutMs: 15_000, statementTimeoutMs: 10_000, max: 10 }, onPoolError);
  // The fleet overview from memory, kept current by the live feed; a full read at most every two ticks
  // (docs/scale.md: at 1,000 agents a read of the whole fleet is ~16-22 ms, from memory ~2 serialised).
  const fleetCache = new FleetCache(pool, fleetOptions, 2 * liveTickMs);
  // Log search gets its own few connections, so that no search load can take the fleet view's or the live feed's.
  const searchPool: PgPool = createPool(options.databaseUrl, { applicationName: 'fleet-hub search', queryTimeoutMs: 15_000, statementTimeoutMs: 10_000, max: 3 }, onPoolError);
  const readUrl = options.readDatabaseUrl ?? (process.env.OBSERV_DB_READ_URL || undefined);
  if (readUrl !== undefined) checkReadUrl(readUrl, options.readDatabaseUrl !== undefined ? 'readDatabaseUrl' : 'OBSERV_DB_READ_URL');
  const replica = readUrl ? new ReadReplica({ url: readUrl, primary: { reads: pool, search: searchPool }, log, checkEveryMs: options.readReplicaCheckMs }) : null;
  /** A dashboard read: on the replica when one is given and answers, else on the primary. */
  const reads = <T>(kind: 'reads' | 'search', work: (p: PgPool) => Promise<T>): Promise<T> =>
    replica ? replica.run(kind, work) : work(kind === 'reads' ? pool : searchPool);
  const replicaStatus = () => replica?.status() ?? NO_REPLICA;
  const staticFiles = new StaticFiles(options.uiDir ?? DEFAULT_UI_DIR);
  if (!staticFiles.hasIndex) log('warn', 'dashboard not built (run npm run build); serving the API only');

  const stats: HubStats = { wsClients: 0, wsDropped: 0, wsRefused: 0, published: 0, logLinesPushed: 0 };
  const maxBuffered = options.liveMaxBufferedBytes ?? 1024 * 1024;
  const maxClients = options.liveMaxClients ?? 1000;
  const maxClientsPerAddress = options.liveMaxClientsPerAddress ?? 100;
  const apiLimiter = new ClientLimiter(16, 256, 'requests');
  const searchLimiter = new ClientLimiter(2, 12, 'log searches');
  const hosts = allowedHosts(host, extraHosts);

  const authorized = (req: HubRequest) => !auth || auth.check(req.header('cookie'));
  const unauthorized = () => json(401, { error: 'log in first (POST /api/session)' });

  // ---- routes ----
  const routes = new RouteTable();
  /** A JSON GET endpoint: auth, then the handler under the per-client limit. */
  const api = (handler: (query: URLSearchParams, req: RouteRequest) => Promise<unknown> | unknown, limiter = apiLimiter) =>
    async (req: RouteRequest): Promise<HubResponse> => {
      if (!authorized(req)) return unauthorized();
      return json(200, await limiter.run(req.client, async () => handler(req.query, req)));
    };
  /** A state-changing JSON POST (the policy already required application/json): auth, then the handler with the user. */
  const action = (handler: (req: RouteRequest, user: string) => Promise<unknown>) =>
    async (req: RouteRequest): Promise<HubResponse> => {
      const user = requestUser(auth, req.header('cookie'));
      if (user === null) return unauthorized();
      return json(200, await apiLimiter.run(req.client, async () => handler(req, user)));
    };

  routes.get('/api/session', (req) => {
    const user = requestUser(auth, req.header('cookie'));
    return json(200, { authRequired: auth !== null, authenticated: user !== null, user });
  });
  routes.post('/api/session', async (req) => {
    if (!auth) return json(200, { authRequired: false, authenticated: true });
    const { password, name } = loginFields(parseJsonBody(req.body));
    const session = await auth.login(password, req.client, name);
    if (session === 'throttled') return json(429, { error: 'too many failed attempts; wait a minute' });
    if (session === null) return json(401, { error: 'wrong password' });
    const secure = req.header('x-forwarded-proto') === 'https';
    return json(200, { authRequired: true, authenticated: true, user: name }, { 'set-cookie': SessionAuth.cookie(session, secure) });
  });
  routes.del('/api/session', (req) => {
    const session = readCookie(req.header('cookie'), SESSION_COOKIE);
    auth?.logout(req.header('cookie'));
    if (session) closeSessionSockets(session);
    return json(200, { authRequired: auth !== null, authenticated: auth === null }, { 'set-cookie': SessionAuth.clearCookie() });
  });

  routes.get('/api/fleet', api(async (q) => {
    rejectUnknown(q, ['vps', 'app']);
    return { generatedAt: new Date().toISOString(), fleet: await fleetCache.fleet({ vps: optionalName(q, 'vps') ?? undefined, app: optionalName(q, 'app') ?? undefined }) };
  }));
  routes.get('/api/metrics', api((q) => { const p = parseMetricsQuery(q); return reads('reads', (db) => queryMetrics(db, p)); }));
  routes.get('/api/health', api((q) => { const p = parseHealthQuery(q); return reads('reads', (db) => queryHealth(db, p)); }));
  routes.get('/api/logs', api((q) => { const p = parseLogQuery(q); return reads('search', (db) => searchLogs(db, p)); }, searchLimiter));
  routes.get('/api/status', api(async () => {
    const r = await pool.query<{ now: Date }>('SELECT now()');
    return { ok: true, databaseTime: r.rows[0]!.now.toISOString(), transport: transport.name, uws: transport.name, authRequired: auth !== null,
      live: { ...stats }, readReplica: replicaStatus() };
  }));
  // Where dashboard reads go and how far behind the replica is (the dashboard shows a lag past 5 s).
  routes.get('/api/read-replica', api((q) => { rejectUnknown(q, []); return replicaStatus(); }));
  // Rule-based alerting: history, rules (read-only), deliveries and acknowledgements.
  const alerts = alertsApi(pool);
  routes.get('/api/alerts/history', api((q) => alerts.events(parseEventQuery(q))));
  routes.get('/api/alert-events', api((q) => alerts.events(parseEventQuery(q))));
  routes.get('/api/alert-rules', api(() => alerts.rules()));
  // Anomaly episodes (src/hub/anomaly, stored by the alerting leader).
  routes.get('/api/anomalies', api((q) => queryAnomalies(pool, parseAnomalyQuery(q))));
  // One alert model (the rules engine): /api/alerts is an alias of /api/alerts/open.
  routes.get('/api/alerts/open', api((q) => alerts.alerts(parseAlertsQuery(q))));
  routes.get('/api/alerts', api((q) => alerts.alerts(parseAlertsQuery(q))));
  routes.get('/api/alert-deliveries', api((q) => {
    rejectUnknown(q, ['status', 'limit']);
    const limit = q.get('limit');
    return alerts.deliveries({ status: q.get('status') ?? undefined, limit: limit === null ? undefined : Number(limit) });
  }));
  // Acknowledgements are recorded as the request's user (auth.ts requestUser: the name given at login, or "local" on loopback).
  routes.post('/api/alerts/:id/ack', action(async (req, user) => {
    const id = Number(req.params[0]);
    if (!/^\d{1,15}$/.test(req.params[0]!) || !Number.isSafeInteger(id) || id <= 0) throw new BadRequest('alert id must be a positive integer');
    return alerts.ack(id, { by: user, comment: ackNote(parseJsonBody(req.body)) });
  }));
  routes.post('/api/alert-channels/:name/test', action(async (req, user) => {
    if (!alerting) throw new BadRequest('alerting is not running on this hub (started with alerting off, or it failed to start)');
    return alerting.testChannel(req.params[0]!, user);
  }));

  let alerting: Alerting | null = null;

  // ---- dashboard routes (uptime per check; the public status page) ----
  routes.get('/api/uptime', api((q) => { const p = parseUptimeQuery(q); return reads('reads', (db) => queryUptime(db, p)); }));
  // Deploys (migration 070): markers on the charts and the detail view's list.
  routes.get('/api/deployments', api((q) => { const p = parseDeploymentsQuery(q); return reads('reads', (db) => queryDeployments(db, p)); }));
  // Public: no session needed, even with auth on; answers only what the status-page file names,
  // recomputed at most every 15 s whatever the traffic.
  const publicStatus = statusPage ? cachedPublicStatus((work) => reads('reads', work), statusPage, fleetOptions) : null;
  routes.get('/api/public/status', async (req) => {
    if (req.rawQuery) throw new BadRequest('this endpoint takes no parameters');
    if (!publicStatus) return json(404, { error: 'the status page is not enabled (set OBSERV_STATUS_PAGE to a status-page file, see docs/hub.md)' });
    return json(200, await publicStatus());
  });
  // ---- end of dashboard routes ----

  // ---- request policy, then the route table, then the dashboard ----
  const handle = async (req: HubRequest): Promise<HubResponse> => {
    const response = await route(req).catch((err: unknown) => {
      const status = statusOf(err);
      if (status && status < 500) return json(status, { error: (err as Error).message });
      log('error', 'api error', { path: req.path, error: (err as Error).message });
      return json(500, { error: 'internal error' });
    });
    Object.assign(response.headers, SECURITY_HEADERS);
    response.headers['content-security-policy'] ??= CSP;
    if (req.header('x-forwarded-proto') === 'https') response.headers['strict-transport-security'] = 'max-age=31536000';
    return response;
  };

  const route = async (req: HubRequest): Promise<HubResponse> => {
    if (!hostAllowed(req.header('host'), hosts)) {
      return json(421, { error: `this hub does not answer to Host ${JSON.stringify(req.header('host').slice(0, 100))}; add it to OBSERV_HUB_ALLOWED_HOSTS if it is yours` });
    }
    const isApi = req.path === '/api' || req.path.startsWith('/api/');
    if ((isApi || req.method !== 'GET' && req.method !== 'HEAD') && crossOrigin(req)) {
      return json(403, { error: 'cross-origin requests are refused (open the dashboard from this hub itself)' });
    }
    const match = routes.match(req.method, req.path);
    if (match && 'handler' in match) {
      if (req.method === 'POST' && !/^application\/json\s*(;|$)/i.test(req.header('content-type'))) {
        return json(415, { error: 'send the request body as application/json' });
      }
      return match.handler({ ...req, query: new URLSearchParams(req.rawQuery), params: match.params, client: clientOf(req) });
    }
    if (match) return json(405, { error: `${req.method} is not allowed here` }, { allow: match.allow.join(', ') });
    if (isApi) return json(404, { error: 'no such API endpoint' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: `${req.method} is not allowed here` }, { allow: 'GET, HEAD' });
    return staticFiles.serve(req) ?? { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'not found' };
  };

  // ---- /live ----
  const sockets = new Set<LiveSocket<LiveUserData>>();
  const perAddress = new Map<string, number>();
  const closeSessionSockets = (session: string) => {
    for (const ws of sockets) if (ws.data.session === session) ws.close(LIVE_CLOSE.loggedOut, 'logged out');
  };
  /** A live log tail nobody listens to any more frees its state in the live feed. */
  const releaseTopic = (topic: string) => {
    if (topic.startsWith('logs/') && transport.numSubscribers(topic) === 0) live.unwatchLogs(topic.slice('logs/'.length));
  };
  const refuse = (status: number, error: string): UpgradeVerdict<LiveUserData> => ({ accept: false, response: json(status, { error }, { ...SECURITY_HEADERS }) });
  const live = new LiveFeed(options.databaseUrl, pool, {
    publish: (topic, message) => transport.publish(topic, message),
    numSubscribers: (topic) => transport.numSubscribers(topic),
  }, stats, log, fleetOptions, fleetCache, () => alerting?.rowsCommitted());

  const { transport, reason } = createTransport<LiveUserData>(transportChoice, {
    handler: handle,
    livePath: '/live',
    limits: { maxBodyBytes: MAX_BODY_BYTES, maxPayloadBytes: 16 * 1024, maxBufferedBytes: maxBuffered, idleTimeoutSeconds: 120 },
    onError: (err) => log('error', 'request failed', { error: err.message }),
    live: {
      upgrade: (req) => {
        if (!hostAllowed(req.header('host'), hosts)) return refuse(421, 'Host not allowed');
        // Browsers always send Origin on a WebSocket handshake: only the dashboard's own origin may open one.
        if (crossOrigin(req)) return refuse(403, 'cross-origin WebSocket refused');
        if (!authorized(req)) return refuse(401, 'log in first (POST /api/session)');
        const client = clientOf(req);
        if (sockets.size >= maxClients) { stats.wsRefused++; return refuse(503, `the hub has ${maxClients} live connections already`); }
        if ((perAddress.get(client) ?? 0) >= maxClientsPerAddress) { stats.wsRefused++; return refuse(429, `at most ${maxClientsPerAddress} live connections per client`); }
        return { accept: true, data: { topics: new Set(), client, session: auth ? readCookie(req.header('cookie'), SESSION_COOKIE) : null } };
      },
      open: (ws) => {
        sockets.add(ws);
        perAddress.set(ws.data.client, (perAddress.get(ws.data.client) ?? 0) + 1);
        stats.wsClients++;
        ws.subscribe('fleet');
        ws.data.topics.add('fleet');
        ws.send(JSON.stringify({ type: 'hello', topics: ['fleet'], tickMs: liveTickMs, at: new Date().toISOString() }));
      },
      message: (ws, text) => {
        let msg: { subscribe?: unknown; unsubscribe?: unknown };
        try { msg = JSON.parse(text) as typeof msg; } catch { return; }
        if (typeof msg !== 'object' || msg === null) return;
        const topics = ws.data.topics;
        const topicOk = (t: unknown): t is string => typeof t === 'string' && TOPIC.test(t);
        let ready: Promise<void> | null = null;
        if (topicOk(msg.subscribe) && !topics.has(msg.subscribe)) {
          if (topics.size >= MAX_TOPICS_PER_SOCKET) { ws.close(LIVE_CLOSE.tooManyTopics, `at most ${MAX_TOPICS_PER_SOCKET} topics per connection`); return; }
          if (msg.subscribe.startsWith('logs/') && transport.numSubscribers(msg.subscribe) === 0) ready = live.watchLogs(msg.subscribe.slice('logs/'.length));
          ws.subscribe(msg.subscribe);
          topics.add(msg.subscribe);
        }
        if (topicOk(msg.unsubscribe) && topics.delete(msg.unsubscribe)) { ws.unsubscribe(msg.unsubscribe); releaseTopic(msg.unsubscribe); }
        // A live tail is confirmed once its starting point is read: every line committed after
        // "subscribed" reaches the client.
        const confirm = () => ws.send(JSON.stringify({ type: 'subscribed', topics: [...topics] }));
        if (ready) void ready.then(confirm); else confirm();
      },
      close: (ws, code) => {
        if (!sockets.delete(ws)) return;
        // The transport drops the socket's subscriptions after this handler; a tail it alone kept is freed once it is gone.
        for (const topic of ws.data.topics) if (topic.startsWith('logs/')) setImmediate(() => releaseTopic(topic));
        const left = (perAddress.get(ws.data.client) ?? 1) - 1;
        if (left <= 0) perAddress.delete(ws.data.client); else perAddress.set(ws.data.client, left);
        stats.wsClients--;
        // A socket dropped past maxBackpressure gets no close frame: code 1006 from our side.
        if (code === 1006) stats.wsDropped++;
      },
    },
  });

  // Sessions expire: their sockets are closed within a minute, as a logout closes them at once.
  const sessionSweep = auth ? setInterval(() => {
    for (const ws of sockets) if (ws.data.session && !auth.check(`${SESSION_COOKIE}=${ws.data.session}`)) ws.close(LIVE_CLOSE.loggedOut, 'session expired');
  }, 60_000) : null;
  sessionSweep?.unref();

  const cleanup = async () => {
    if (sessionSweep) clearInterval(sessionSweep);
    await transport.close();
    await live.close();
    await replica?.close();
    await Promise.all([pool.end().catch(() => {}), searchPool.end().catch(() => {})]);
  };

  await live.start().catch(async (err: Error) => {
    await cleanup();
    throw new ObservError('OBS_ERR_DB_UNREACHABLE', `the hub cannot LISTEN on the database: ${err.message}`, { cause: err });
  });
  live.startTicker(liveTickMs);
  // The first check decides where reads go; until it answers they go to the primary.
  await replica?.start();
  const port = await transport.listen(host, options.port ?? 8080).catch(async (err) => { await cleanup(); throw err; });
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  log('info', `listening on ${url} over ${transport.name}`, { transport: transport.name, why: reason });

  // Background work. Alerting runs its rules on one leader among all hubs (advisory lock); the
  // maintenance jobs take their own lock. Neither may keep the dashboard from serving.
  if (options.alerting ?? true) {
    alerting = await startAlerting({
      databaseUrl: options.databaseUrl, pool, log,
      configFile: options.alertsFile ?? (process.env.OBSERV_ALERTS_FILE || undefined),
      dashboardUrl: publicUrl ?? url,
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
    implementation: transport.name,
    transportReason: reason,
    authRequired: auth !== null,
    stats,
    close() {
      closing ??= (async () => {
        await alerting?.stop();
        await maintenance?.stop();
        await cleanup();
      })();
      return closing;
    },
  };
}

/** OBSERV_DB_READ_URL must name a PostgreSQL server; anything else is a configuration error at start. */
function checkReadUrl(url: string, source: string): void {
  let ok = false;
  try { ok = /^postgres(ql)?:$/.test(new URL(url).protocol); } catch { /* not a URL */ }
  if (!ok) throw new ConfigError([{ file: source === 'OBSERV_DB_READ_URL' ? 'environment' : 'hub options', line: null, path: source,
    message: `must be a postgresql:// URL of a streaming replica (got ${JSON.stringify(redactUrl(url))})` }]);
}

/** A JSON object body; an empty body is {}. */
function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (!body.length) return {};
  let parsed: unknown;
  try { parsed = JSON.parse(body.toString('utf8')); } catch { throw new BadRequest('body must be a JSON object'); }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('body must be a JSON object');
  return parsed as Record<string, unknown>;
}
