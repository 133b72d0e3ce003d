// The public status page: GET /api/public/status (and the page /status that draws it). Opt-in: off
// unless a status-page file is given (hub option statusPage, `observ hub --status-page FILE`, or
// $OBSERV_STATUS_PAGE). Served without login even when auth is on, so it exposes only what the file
// names, under the names the file gives: no VPS names, URLs, alert summaries, metrics or log text.
//
//   title: Acme status
//   services:
//     - name: Shop                 # shown name (required)
//       app: shop                  # the agent's app name (required)
//       vps: vps-eu-1              # optional: only this VPS (default: every VPS of the app)
//       checks:                    # optional: only these health-check URLs (default: all of the app's)
//         - http://127.0.0.1:8000/health
//
// Per service: the current state (operational / degraded / down / no data, from the alert state
// machine), uptime over 24 h / 7 d / 30 d / 90 d with a bar per UTC day, and incidents of the last 90
// days from the alert history (health-check and agent-silent alerts: start, end, duration).
import { readFileSync } from 'node:fs';
import type { PgPool } from '../../db/pg.js';
import { ConfigError, ObservError, type ConfigIssue } from '../../errors.js';
import { queryFleet } from './fleet.js';
import { queryUptime, uptimePercent, UPTIME_DAYS, UPTIME_WINDOWS, type UptimeWindow } from './uptime.js';

export interface StatusService {
  name: string;
  app: string;
  vps: string | null;
  checks: string[] | null;
}

export interface StatusPageConfig {
  title: string;
  services: StatusService[];
}

/** What a caller may pass (vps and checks optional); parseStatusPage validates it like a file. */
export interface StatusPageInput {
  title?: string;
  services: { name: string; app: string; vps?: string | null; checks?: string[] | null }[];
}

export type PublicState = 'operational' | 'degraded' | 'down' | 'unknown';

export interface PublicStatus {
  title: string;
  generatedAt: string;
  state: PublicState;
  services: {
    name: string;
    state: PublicState;
    uptime: Record<UptimeWindow, number | null>;
    /** One per UTC day, oldest first; uptime null on a day without checks. */
    days: { day: string; uptime: number | null }[];
  }[];
  incidents: { service: string; title: string; startedAt: string; resolvedAt: string | null; durationSeconds: number }[];
}

const NAME_MAX = 200;

/** Validates a status-page config (parsed YAML or an object); every problem names its field. */
export function parseStatusPage(raw: unknown, file = 'status page'): StatusPageConfig {
  const issues: ConfigIssue[] = [];
  const fail = (path: string, message: string) => issues.push({ file, line: null, path, message });
  const text = (v: unknown, path: string, required: boolean): string | null => {
    if (v === undefined || v === null) { if (required) fail(path, 'is required'); return null; }
    if (typeof v !== 'string' || !v.trim() || v.length > NAME_MAX) { fail(path, `must be text of 1 to ${NAME_MAX} characters`); return null; }
    return v;
  };
  const out: StatusPageConfig = { title: 'Status', services: [] };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail('(top)', 'must be a mapping with title and services');
    throw new ConfigError(issues);
  }
  const top = raw as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'title' && k !== 'services') fail(k, 'is not a known key (title, services)');
  out.title = text(top.title, 'title', false) ?? 'Status';
  if (!Array.isArray(top.services) || !top.services.length) fail('services', 'must be a list of at least one service (name, app, optional vps and checks)');
  else top.services.forEach((s: unknown, i) => {
    const p = `services[${i}]`;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) { fail(p, 'must be a mapping with name and app'); return; }
    const m = s as Record<string, unknown>;
    for (const k of Object.keys(m)) if (!['name', 'app', 'vps', 'checks'].includes(k)) fail(`${p}.${k}`, 'is not a known key (name, app, vps, checks)');
    const name = text(m.name, `${p}.name`, true);
    const app = text(m.app, `${p}.app`, true);
    const vps = text(m.vps, `${p}.vps`, false);
    let checks: string[] | null = null;
    if (m.checks !== undefined && m.checks !== null) {
      if (!Array.isArray(m.checks) || !m.checks.length) fail(`${p}.checks`, 'must be a list of health-check URLs');
      else checks = m.checks.map((c, j) => text(c, `${p}.checks[${j}]`, true) ?? '');
    }
    if (name && out.services.some((o) => o.name === name)) fail(`${p}.name`, `repeats the name ${JSON.stringify(name)}`);
    if (name && app) out.services.push({ name, app, vps, checks });
  });
  if (issues.length) throw new ConfigError(issues);
  return out;
}

export async function loadStatusPage(file: string): Promise<StatusPageConfig> {
  let body: string;
  try { body = readFileSync(file, 'utf8'); } catch (err) {
    throw new ObservError('OBS_ERR_CONFIG_NOT_FOUND', `status page file ${file} cannot be read: ${(err as Error).message}`);
  }
  const { parse } = await import('yaml');
  let raw: unknown;
  try { raw = parse(body); } catch (err) {
    throw new ConfigError([{ file, line: null, path: '(file)', message: `is not valid YAML: ${(err as Error).message.split('\n')[0]}` }]);
  }
  return parseStatusPage(raw, file);
}

const INCIDENT_TITLE: Record<string, string> = { health_check: 'Service unavailable', agent_silent: 'Monitoring data missing' };

const INCIDENTS_SQL = `
SELECT f.alert_id, f.episode, f.rule_type, f.timestamp AS started_at,
       (SELECT min(r.timestamp) FROM alert_events r
         WHERE r.alert_id = f.alert_id AND r.episode = f.episode AND r.kind = 'resolved') AS resolved_at
  FROM alert_events f
 WHERE f.kind = 'firing' AND f.timestamp >= $4 AND f.app_name = $1 AND ($2::text IS NULL OR f.vps_name = $2)
   AND (f.rule_type = 'agent_silent' OR (f.rule_type = 'health_check' AND ($3::text[] IS NULL OR f.subject = ANY($3))))
   -- a late firing notice (after a maintenance window) repeats the episode's firing event: count the first
   AND NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = f.alert_id AND e.episode = f.episode AND e.kind = 'firing' AND e.id < f.id)
 ORDER BY f.timestamp DESC LIMIT 100`;

const RANK: PublicState[] = ['operational', 'unknown', 'degraded', 'down'];
const worst = (states: PublicState[]): PublicState => states.reduce((a, b) => (RANK.indexOf(b) > RANK.indexOf(a) ? b : a), 'operational');

export async function queryPublicStatus(pool: PgPool, config: StatusPageConfig, options: { statusFromAlerts: boolean }, now = Date.now()): Promise<PublicStatus> {
  const since = new Date(Math.floor(now / 86_400_000) * 86_400_000 - (UPTIME_DAYS - 1) * 86_400_000);
  const services: PublicStatus['services'] = [];
  const incidents: PublicStatus['incidents'] = [];
  for (const s of config.services) {
    const [rows, uptime, inc] = await Promise.all([
      queryFleet(pool, { app: s.app, vps: s.vps ?? undefined }, options),
      queryUptime(pool, { app: s.app, vps: s.vps, urls: s.checks }, now),
      pool.query<{ rule_type: string; started_at: Date; resolved_at: Date | null }>(INCIDENTS_SQL, [s.app, s.vps, s.checks, since]),
    ]);
    const wanted = (url: string) => s.checks === null || s.checks.includes(url);
    const states = rows.map((r): PublicState => {
      const alerts = r.alerts.filter((a) => a.type === 'health_check' && wanted(a.subject));
      if (r.status === 'stale') return 'unknown';
      if (options.statusFromAlerts) {
        if (alerts.some((a) => a.status === 'firing')) return 'down';
        if (alerts.some((a) => a.status === 'pending')) return 'degraded';
      } else if (r.checks.some((c) => wanted(c.url) && c.success === false)) return 'down';
      return r.checks.some((c) => wanted(c.url) && c.success !== null) ? 'operational' : 'unknown';
    });
    const days = Array.from({ length: UPTIME_DAYS }, (_, i) => {
      let checks = 0;
      let failures = 0;
      for (const c of uptime.checks) { checks += c.days[i]!.checks; failures += c.days[i]!.failures; }
      return { day: new Date(since.getTime() + i * 86_400_000).toISOString().slice(0, 10), uptime: uptimePercent(checks, failures) };
    });
    const combined = {} as Record<UptimeWindow, number | null>;
    for (const w of Object.keys(UPTIME_WINDOWS) as UptimeWindow[]) {
      combined[w] = uptimePercent(uptime.checks.reduce((n, c) => n + c.counts[w].checks, 0), uptime.checks.reduce((n, c) => n + c.counts[w].failures, 0));
    }
    services.push({ name: s.name, state: rows.length ? worst(states) : 'unknown', uptime: combined, days });
    for (const i of inc.rows) {
      const end = i.resolved_at ?? null;
      incidents.push({
        service: s.name, title: INCIDENT_TITLE[i.rule_type] ?? 'Incident', startedAt: i.started_at.toISOString(),
        resolvedAt: end ? end.toISOString() : null,
        durationSeconds: Math.max(0, Math.round(((end ? end.getTime() : now) - i.started_at.getTime()) / 1000)),
      });
    }
  }
  incidents.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  return { title: config.title, generatedAt: new Date(now).toISOString(), state: worst(services.map((s) => s.state)), services, incidents: incidents.slice(0, 100) };
}

/**
 * The public endpoint's answer, computed at most once per `ttlMs` however many visitors ask (it is
 * served without login: its cost must not grow with the traffic). A failed computation is not kept.
 */
export function cachedPublicStatus(db: PgPool | ((work: (pool: PgPool) => Promise<PublicStatus>) => Promise<PublicStatus>),
  config: StatusPageConfig, options: { statusFromAlerts: boolean }, ttlMs = 15_000): () => Promise<PublicStatus> {
  // A function runs the read where the hub sends dashboard reads (the read replica when there is one).
  const run = typeof db === 'function' ? db : (work: (pool: PgPool) => Promise<PublicStatus>) => work(db);
  let cached: { at: number; value: Promise<PublicStatus> } | null = null;
  return () => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    const value = run((pool) => queryPublicStatus(pool, config, options));
    const entry = { at: Date.now(), value };
    cached = entry;
    value.catch(() => { if (cached === entry) cached = null; });
    return value;
  };
}
