// GET /api/fleet: one row per vps/app — latest metrics, health status, last seen, staleness, and the
// agent's open alerts (pending/firing rows of alert_state).
//
// `status` follows the alert state machine when alerting runs (statusFromAlerts), not single checks:
//   stale    no batch for more than 2 collection intervals + 15 s, or agent-silent (agent_silent rule) firing
//   down     a health-check alert is firing
//   pending  a health-check alert is pending, or a check's latest result failed (not yet judged)
//   up       otherwise, once the agent sent metrics or checks;   unknown  nothing yet
// Without alerting, `down` means the latest result of some check failed (the earlier rule).
// The latest result per health-check URL is taken from the agent's newest 500 results of the last day
// (an index walk, not a day of rows per agent): a URL checked less than once per 500 results is missed.
import type { PgPool } from '../../db/pg.js';
import type { FleetAlert, FleetCheck, FleetRow, FleetStatus } from './types.js';

export interface FleetOptions {
  /** Derive `status` from alert_state (true when the hub runs alerting). */
  statusFromAlerts?: boolean;
}

const FLEET_SQL = `
SELECT c.vps_name, c.app_name, c.updated_at, c.collection_interval,
       (now() - c.updated_at) > make_interval(secs => 2 * coalesce(c.collection_interval, 60) + 15) AS stale,
       m.timestamp AS metrics_at, m.cpu_percent, m.memory_percent, m.memory_mb, m.disk_percent, m.disk_gb,
       m.load_avg_1m, m.load_avg_5m, m.load_avg_15m,
       m.app_source, m.app_processes, m.app_cpu_percent, m.app_rss_mb, m.app_threads, m.app_open_files,
       coalesce(rs.restarts, 0)::int AS app_restarts_24h,
       coalesce(h.checks, '[]'::jsonb) AS checks, coalesce(al.alerts, '[]'::jsonb) AS alerts
  FROM agent_checkpoints c
  LEFT JOIN LATERAL (
        SELECT * FROM vps_metrics v
         WHERE v.vps_name = c.vps_name AND v.app_name = c.app_name
         ORDER BY v.timestamp DESC LIMIT 1) m ON true
  LEFT JOIN LATERAL (
        -- Partial index vps_metrics_app_restarts: only rows with a restart are read.
        SELECT sum(r.app_restarts) AS restarts FROM vps_metrics r
         WHERE r.vps_name = c.vps_name AND r.app_name = c.app_name AND r.app_restarts > 0
           AND r.timestamp > now() - interval '1 day') rs ON true
  LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('url', x.url, 'success', x.success, 'statusCode', x.status_code,
                 'responseTimeMs', x.response_time_ms, 'errorMessage', x.error_message, 'timestamp', x.timestamp) ORDER BY x.url) AS checks
          FROM (SELECT DISTINCT ON (r.url) r.*
                  FROM (SELECT hc.* FROM health_checks hc
                         WHERE hc.vps_name = c.vps_name AND hc.app_name = c.app_name
                           AND hc.timestamp > now() - interval '1 day'
                         ORDER BY hc.timestamp DESC LIMIT 500) r
                 ORDER BY r.url, r.timestamp DESC) x) h ON true
  LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('rule', a.rule_name, 'type', a.rule_type, 'status', a.status, 'subject', a.subject,
                 'severity', a.severity, 'since', coalesce(a.firing_since, a.pending_since)) ORDER BY a.rule_name, a.subject) AS alerts
          FROM alert_state a
         WHERE a.vps_name = c.vps_name AND a.app_name = c.app_name AND a.status <> 'resolved') al ON true
 WHERE ($1::text IS NULL OR c.vps_name = $1) AND ($2::text IS NULL OR c.app_name = $2)
 ORDER BY c.vps_name, c.app_name`;

interface FleetDbRow {
  vps_name: string; app_name: string; updated_at: Date; collection_interval: number | null; stale: boolean;
  metrics_at: Date | null; cpu_percent: number | null; memory_percent: number | null; memory_mb: number | null;
  disk_percent: number | null; disk_gb: number | null; load_avg_1m: number | null; load_avg_5m: number | null;
  load_avg_15m: number | null; checks: FleetCheck[]; alerts: (Omit<FleetAlert, 'since'> & { since: string | null })[];
  app_source: string | null; app_processes: number | null; app_cpu_percent: number | null; app_rss_mb: number | null;
  app_threads: number | null; app_open_files: number | null; app_restarts_24h: number;
}

function statusOf(row: FleetDbRow, fromAlerts: boolean): FleetStatus {
  const firing = (type: string) => row.alerts.some((a) => a.type === type && a.status === 'firing');
  if (row.stale || (fromAlerts && firing('agent_silent'))) return 'stale';
  if (fromAlerts) {
    if (firing('health_check')) return 'down';
    // A failed latest result is where the machine starts (a pending verdict): shown as pending, not down.
    if (row.alerts.some((a) => a.type === 'health_check' && a.status === 'pending') || row.checks.some((c) => !c.success)) return 'pending';
  } else if (row.checks.some((c) => !c.success)) return 'down';
  return row.checks.length || row.metrics_at ? 'up' : 'unknown';
}

export async function queryFleet(pool: PgPool, filter: { vps?: string; app?: string } = {}, options: FleetOptions = {}): Promise<FleetRow[]> {
  const r = await pool.query<FleetDbRow>(FLEET_SQL, [filter.vps ?? null, filter.app ?? null]);
  return r.rows.map((row) => {
    const status = statusOf(row, options.statusFromAlerts ?? false);
    return {
      vps: row.vps_name,
      app: row.app_name,
      lastSeen: row.updated_at.toISOString(),
      collectionInterval: row.collection_interval,
      stale: row.stale,
      status,
      alerts: row.alerts.map((a) => ({ ...a, since: a.since ? new Date(a.since).toISOString() : null })),
      metricsAt: row.metrics_at ? row.metrics_at.toISOString() : null,
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
      checks: row.checks,
    };
  });
}
