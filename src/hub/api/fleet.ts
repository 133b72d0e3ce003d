// GET /api/fleet: one row per vps/app — latest metrics, health status, last seen, staleness, and the
// agent's open alerts (pending/firing rows of alert_state).
//
// `status` follows the alert state machine when alerting runs (statusFromAlerts), not single checks:
//   stale    no batch for more than 2 collection intervals + 15 s, or agent-silent (agent_silent rule) firing
//   down     a health-check alert is firing
//   pending  a health-check alert is pending, or a check's latest result failed (not yet judged)
//   up       otherwise, once the agent sent metrics or checks;   unknown  nothing yet
// Without alerting, `down` means the latest result of some check failed (the earlier rule).
// The latest sample and each check's latest result come from fleet_latest_metrics / fleet_latest_checks
// (migration 060, kept by the inserts), so the query reads O(agents) rows whatever the retention. The
// checks are those the agent runs now (stored with its checkpoint, migration 110), each with its latest
// result or none yet; from an agent older than that, those with a result in the last day. Every part
// takes the vps/app filter, so the live feed's one-agent refresh after each batch reads that agent's
// rows only.
import type { PgPool } from '../../db/pg.js';
import type { FleetAlert, FleetCheck, FleetRow, FleetStatus } from './types.js';

export interface FleetOptions {
  /** Derive `status` from alert_state (true when the hub runs alerting). */
  statusFromAlerts?: boolean;
}

// Three plain reads assembled here: building JSON per agent in the database (json_agg of the checks)
// cost more than the rest of the query together. Each takes the vps/app filter ($1 / $2, null for all).
// Times come as epoch milliseconds (float8): node-postgres parsing a timestamptz into a Date was most of
// the overview's cost at 1,000 agents (docs/scale.md).
const FILTER = (t: string) => `($1::text IS NULL OR ${t}vps_name = $1) AND ($2::text IS NULL OR ${t}app_name = $2)`;

const AGENTS_SQL = `
WITH restarts AS (
        -- Partial index vps_metrics_app_restarts: only rows with a restart are read.
        SELECT vps_name, app_name, sum(app_restarts) AS restarts FROM vps_metrics
         WHERE app_restarts > 0 AND timestamp > now() - interval '1 day' AND ${FILTER('')}
         GROUP BY vps_name, app_name)
SELECT c.vps_name, c.app_name, date_part('epoch', c.updated_at) * 1000 AS updated_at, c.collection_interval,
       (now() - c.updated_at) > make_interval(secs => 2 * coalesce(c.collection_interval, 60) + 15) AS stale,
       date_part('epoch', m.timestamp) * 1000 AS metrics_at, m.cpu_percent, m.memory_percent, m.memory_mb, m.disk_percent, m.disk_gb,
       m.load_avg_1m, m.load_avg_5m, m.load_avg_15m,
       m.app_source, m.app_processes, m.app_cpu_percent, m.app_rss_mb, m.app_threads, m.app_open_files,
       coalesce(rs.restarts, 0)::int AS app_restarts_24h
  FROM agent_checkpoints c
  LEFT JOIN fleet_latest_metrics m ON m.vps_name = c.vps_name AND m.app_name = c.app_name
  LEFT JOIN restarts rs ON rs.vps_name = c.vps_name AND rs.app_name = c.app_name
 WHERE ${FILTER('c.')}
 ORDER BY c.vps_name, c.app_name`;

// An agent that stores its list of checks with its checkpoint (migration 110) shows exactly those: with
// their latest results, or none yet. An older agent's checks are those with a result in the last day.
const CHECKS_SQL = `
SELECT c.vps_name, c.app_name, k.url, l.success, l.status_code, l.response_time_ms, l.error_message,
       date_part('epoch', l.timestamp) * 1000 AS timestamp, k."interval" AS interval_s, k.timeout AS timeout_s
  FROM agent_checkpoints c
 CROSS JOIN LATERAL jsonb_to_recordset(c.health_checks) AS k(url text, "interval" integer, timeout integer)
  LEFT JOIN fleet_latest_checks l ON l.vps_name = c.vps_name AND l.app_name = c.app_name AND l.url = k.url
 WHERE c.health_checks IS NOT NULL AND ${FILTER('c.')}
UNION ALL
SELECT l.vps_name, l.app_name, l.url, l.success, l.status_code, l.response_time_ms, l.error_message,
       date_part('epoch', l.timestamp) * 1000 AS timestamp, NULL::integer AS interval_s, NULL::integer AS timeout_s
  FROM fleet_latest_checks l
  LEFT JOIN agent_checkpoints c ON c.vps_name = l.vps_name AND c.app_name = l.app_name
 WHERE c.health_checks IS NULL AND l.timestamp > now() - interval '1 day' AND ${FILTER('l.')}
 ORDER BY url`;

const ALERTS_SQL = `
SELECT vps_name, app_name, rule_name, rule_type, status, subject, severity, date_part('epoch', coalesce(firing_since, pending_since)) * 1000 AS since
  FROM alert_state
 WHERE status <> 'resolved' AND ${FILTER('')}
 ORDER BY rule_name, subject`;

const iso = (ms: number) => new Date(ms).toISOString();

/** The key of an agent in maps of the fleet (vps and app never hold a NUL). */
export const fleetKey = (vps: string, app: string): string => `${vps}\u0000${app}`;

/** Rows of several agents, in their order, grouped by agent. */
function groupByAgent<R extends { vps_name: string; app_name: string }, T>(rows: R[], map: (row: R) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = fleetKey(r.vps_name, r.app_name);
    const list = out.get(k);
    if (list) list.push(map(r)); else out.set(k, [map(r)]);
  }
  return out;
}

interface CheckDbRow {
  vps_name: string; app_name: string; url: string; success: boolean | null; status_code: number | null; response_time_ms: number | null;
  error_message: string | null; timestamp: number | null; interval_s: number | null; timeout_s: number | null;
}
interface AlertDbRow {
  vps_name: string; app_name: string; rule_name: string; rule_type: string; status: 'pending' | 'firing'; subject: string;
  severity: string; since: number | null;
}

interface FleetDbRow {
  vps_name: string; app_name: string; updated_at: number; collection_interval: number | null; stale: boolean;
  metrics_at: number | null; cpu_percent: number | null; memory_percent: number | null; memory_mb: number | null;
  disk_percent: number | null; disk_gb: number | null; load_avg_1m: number | null; load_avg_5m: number | null;
  load_avg_15m: number | null;
  app_source: string | null; app_processes: number | null; app_cpu_percent: number | null; app_rss_mb: number | null;
  app_threads: number | null; app_open_files: number | null; app_restarts_24h: number;
}

/** A card's status from its row (see the header); the fleet cache recomputes it as time passes. */
export function fleetStatus(row: Pick<FleetRow, 'stale' | 'alerts' | 'checks' | 'metricsAt'>, fromAlerts: boolean): FleetStatus {
  const firing = (type: string) => row.alerts.some((a) => a.type === type && a.status === 'firing');
  if (row.stale || (fromAlerts && firing('agent_silent'))) return 'stale';
  if (fromAlerts) {
    if (firing('health_check')) return 'down';
    // A failed latest result is where the machine starts (a pending verdict): shown as pending, not down.
    if (row.alerts.some((a) => a.type === 'health_check' && a.status === 'pending') || row.checks.some((c) => c.success === false)) return 'pending';
  } else if (row.checks.some((c) => c.success === false)) return 'down';
  return row.checks.some((c) => c.success !== null) || row.metricsAt ? 'up' : 'unknown';
}

/** No batch for more than 2 collection intervals + 15 s (the SQL's `stale`, for a row already read). */
export function isStale(lastSeen: string, collectionInterval: number | null, nowMs: number): boolean {
  return nowMs - Date.parse(lastSeen) > (2 * (collectionInterval ?? 60) + 15) * 1000;
}

export async function queryFleet(pool: PgPool, filter: { vps?: string; app?: string } = {}, options: FleetOptions = {}): Promise<FleetRow[]> {
  const params = [filter.vps ?? null, filter.app ?? null];
  const [agents, checks, alerts] = await Promise.all([
    pool.query<FleetDbRow>(AGENTS_SQL, params),
    pool.query<CheckDbRow>(CHECKS_SQL, params),
    pool.query<AlertDbRow>(ALERTS_SQL, params),
  ]);
  const checksOf = groupByAgent(checks.rows, (c): FleetCheck => ({ url: c.url, success: c.success, statusCode: c.status_code,
    responseTimeMs: c.response_time_ms, errorMessage: c.error_message, timestamp: c.timestamp === null ? null : iso(c.timestamp),
    intervalSeconds: c.interval_s, timeoutSeconds: c.timeout_s }));
  const alertsOf = groupByAgent(alerts.rows, (a): FleetAlert => ({ rule: a.rule_name, type: a.rule_type, status: a.status,
    subject: a.subject, severity: a.severity, since: a.since === null ? null : iso(a.since) }));
  return agents.rows.map((row) => {
    const k = fleetKey(row.vps_name, row.app_name);
    const out: FleetRow = {
      vps: row.vps_name,
      app: row.app_name,
      lastSeen: iso(row.updated_at),
      collectionInterval: row.collection_interval,
      stale: row.stale,
      status: 'unknown',
      alerts: alertsOf.get(k) ?? [],
      metricsAt: row.metrics_at === null ? null : iso(row.metrics_at),
      cpuPercent: row.cpu_percent,
      memoryPercent: row.memory_percent,
      memoryMb: row.memory_mb,
      diskPercent: row.disk_percent,
      diskGb: row.disk_gb,
      loadAvg1m: row.load_avg_1m,
      loadAvg5m: row.load_avg_5m,
      loadAvg15m: row.load_avg_15m,
      appMetrics: row.app_source === null ? null : {
        source: row.app_source, processes: row.app_processes, cpuPercent: row.app_cpu_percent, rssMb: row.app_rss_mb,
        threads: row.app_threads, openFiles: row.app_open_files, restarts24h: row.app_restarts_24h,
      },
      checks: checksOf.get(k) ?? [],
    };
    out.status = fleetStatus(out, options.statusFromAlerts ?? false);
    return out;
  });
}
