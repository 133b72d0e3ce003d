// GET /api/alerts — the problems that hold right now, each with since-when:
//   check_failing  the latest result of a health check (within the last hour) failed; since = the first
//                  failure after its last success
//   agent_silent   no batch committed for more than 2 collection intervals; since = last seen
//   disk_full      the latest sample shows a disk (main or a mount) above 90 %; since = the first
//                  sample above 90 % after the last one at or below it
// Rule-based alerting with history (thresholds held for a duration, notifications) lives in
// src/hub/alerting/; this endpoint is the stateless view of "what is wrong now".
import type { PgPool } from '../../db/pg.js';

export const DISK_ALERT_PERCENT = 90;

export type AlertKind = 'check_failing' | 'agent_silent' | 'disk_full';

export interface CurrentAlert {
  kind: AlertKind;
  vps: string;
  app: string;
  since: string | null;
  message: string;
  detail: Record<string, unknown>;
}

const FAILING_SQL = `
SELECT c.vps_name, c.app_name, f.url, f.timestamp, f.status_code, f.error_message, f.response_time_ms,
       (SELECT min(h.timestamp) FROM health_checks h
         WHERE h.vps_name = c.vps_name AND h.app_name = c.app_name AND h.url = f.url
           AND h.timestamp > coalesce((SELECT max(s.timestamp) FROM health_checks s
                                        WHERE s.vps_name = c.vps_name AND s.app_name = c.app_name AND s.url = f.url AND s.success),
                                      '-infinity')) AS since
  FROM agent_checkpoints c
  JOIN LATERAL (SELECT DISTINCT ON (hc.url) hc.url, hc.timestamp, hc.success, hc.status_code, hc.error_message, hc.response_time_ms
                  FROM health_checks hc
                 WHERE hc.vps_name = c.vps_name AND hc.app_name = c.app_name AND hc.timestamp > now() - interval '1 hour'
                 ORDER BY hc.url, hc.timestamp DESC) f ON NOT f.success
 ORDER BY 1, 2, 3`;

const SILENT_SQL = `
SELECT vps_name, app_name, updated_at, collection_interval, extract(epoch FROM now() - updated_at)::float8 AS silent_seconds
  FROM agent_checkpoints
 WHERE now() - updated_at > make_interval(secs => 2 * coalesce(collection_interval, 60))
 ORDER BY updated_at`;

const DISK_SQL = `
SELECT c.vps_name, c.app_name, m.timestamp, m.disk_percent, m.mounts,
       CASE WHEN m.disk_percent > $1 THEN
         (SELECT min(v.timestamp) FROM vps_metrics v
           WHERE v.vps_name = c.vps_name AND v.app_name = c.app_name
             AND v.timestamp > coalesce((SELECT max(w.timestamp) FROM vps_metrics w
                                          WHERE w.vps_name = c.vps_name AND w.app_name = c.app_name AND w.disk_percent <= $1), '-infinity'))
       END AS since
  FROM agent_checkpoints c
  JOIN LATERAL (SELECT v.timestamp, v.disk_percent, v.mounts FROM vps_metrics v
                 WHERE v.vps_name = c.vps_name AND v.app_name = c.app_name
                 ORDER BY v.timestamp DESC LIMIT 1) m ON true
 WHERE m.disk_percent > $1
    OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.mounts) = 'array' THEN m.mounts ELSE '[]'::jsonb END) e
                WHERE (e->>'percent')::float8 > $1)
 ORDER BY 1, 2`;

// For one mount: the first sample above the threshold after the last one at or below it.
const MOUNT_SINCE_SQL = `
SELECT min(v.timestamp) AS since FROM vps_metrics v
 WHERE v.vps_name = $1 AND v.app_name = $2
   AND v.timestamp > coalesce((SELECT max(w.timestamp) FROM vps_metrics w
                                WHERE w.vps_name = $1 AND w.app_name = $2 AND jsonb_typeof(w.mounts) = 'array'
                                  AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.mounts) e
                                               WHERE e->>'mount' = $3 AND (e->>'percent')::float8 <= $4)), '-infinity')`;

interface Mount { mount?: unknown; percent?: unknown; usedGb?: unknown; freeGb?: unknown }

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function queryAlerts(pool: PgPool): Promise<CurrentAlert[]> {
  const [failing, silent, disks] = await Promise.all([
    pool.query<{ vps_name: string; app_name: string; url: string; timestamp: Date; status_code: number | null; error_message: string | null; response_time_ms: number | null; since: Date | null }>(FAILING_SQL),
    pool.query<{ vps_name: string; app_name: string; updated_at: Date; collection_interval: number | null; silent_seconds: number }>(SILENT_SQL),
    pool.query<{ vps_name: string; app_name: string; timestamp: Date; disk_percent: number | null; mounts: unknown; since: Date | null }>(DISK_SQL, [DISK_ALERT_PERCENT]),
  ]);
  const alerts: CurrentAlert[] = [];
  for (const f of failing.rows) {
    alerts.push({
      kind: 'check_failing', vps: f.vps_name, app: f.app_name, since: iso(f.since ?? f.timestamp),
      message: `health check ${f.url} failing: ${f.error_message ?? (f.status_code !== null ? `HTTP ${f.status_code}` : 'failed')}`,
      detail: { url: f.url, lastCheckAt: f.timestamp.toISOString(), statusCode: f.status_code, errorMessage: f.error_message, responseTimeMs: f.response_time_ms },
    });
  }
  for (const s of silent.rows) {
    const interval = s.collection_interval ?? 60;
    alerts.push({
      kind: 'agent_silent', vps: s.vps_name, app: s.app_name, since: s.updated_at.toISOString(),
      message: `agent silent for ${Math.round(s.silent_seconds)} s (more than 2 × ${interval} s collection interval)`,
      detail: { lastSeen: s.updated_at.toISOString(), collectionInterval: interval, silentSeconds: Math.round(s.silent_seconds) },
    });
  }
  for (const d of disks.rows) {
    if (d.disk_percent !== null && d.disk_percent > DISK_ALERT_PERCENT) {
      alerts.push({
        kind: 'disk_full', vps: d.vps_name, app: d.app_name, since: iso(d.since ?? d.timestamp),
        message: `disk ${d.disk_percent.toFixed(1)} % full`,
        detail: { mount: null, percent: d.disk_percent, sampledAt: d.timestamp.toISOString() },
      });
    }
    const mounts = Array.isArray(d.mounts) ? (d.mounts as Mount[]) : [];
    for (const m of mounts) {
      if (typeof m.mount !== 'string' || typeof m.percent !== 'number' || m.percent <= DISK_ALERT_PERCENT) continue;
      // The main disk is usually also in the mount list: report it once.
      if (d.disk_percent !== null && Math.abs(m.percent - d.disk_percent) < 0.05) continue;
      const since = await pool.query<{ since: Date | null }>(MOUNT_SINCE_SQL, [d.vps_name, d.app_name, m.mount, DISK_ALERT_PERCENT]);
      alerts.push({
        kind: 'disk_full', vps: d.vps_name, app: d.app_name, since: iso(since.rows[0]?.since ?? d.timestamp),
        message: `${m.mount} ${m.percent.toFixed(1)} % full`,
        detail: { mount: m.mount, percent: m.percent, sampledAt: d.timestamp.toISOString() },
      });
    }
  }
  alerts.sort((a, b) => (a.since ?? '').localeCompare(b.since ?? '') || a.vps.localeCompare(b.vps) || a.app.localeCompare(b.app));
  return alerts;
}
