// GET /api/uptime?vps&app — per health check: uptime over the last 24 h, 7 d, 30 d and 90 d, one bar
// per UTC day for 90 days, and the newest 60 results (the heartbeat bar).
//
// Counts come from health_checks_hourly (migration 010, src/ops/rollup.ts) for the hours the rollup
// has folded, and from raw health_checks after the newest folded hour of each check: every check is
// counted once, whichever the retention has kept. Without the rollup table, raw rows only.
// The public status page (api/public-status.ts) reads the same numbers.
import type { CheckUptime } from './types.js';
import type { PgPool } from '../../db/pg.js';
import { optionalName, rejectUnknown, requiredName } from './params.js';
import { rollupColumns } from './series.js';

export const UPTIME_DAYS = 90;
export const HEARTBEATS = 60;
export const UPTIME_WINDOWS = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 } as const;
export type UptimeWindow = keyof typeof UPTIME_WINDOWS;

export interface DayBar {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  checks: number;
  failures: number;
}

export type { CheckUptime } from './types.js';

export interface UptimeQuery {
  app: string;
  vps: string | null;
  /** Only these URLs (null: every check of the app). */
  urls?: readonly string[] | null;
  /** Include the newest results (the public page does not show them). */
  heartbeats?: boolean;
}

export function parseUptimeQuery(q: URLSearchParams): UptimeQuery {
  rejectUnknown(q, ['vps', 'app']);
  return { vps: optionalName(q, 'vps'), app: requiredName(q, 'app'), heartbeats: true };
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

const RAW_HOURS = (since: string) => `
SELECT h.vps_name, h.url, extract(epoch FROM date_bin('1 hour', h.timestamp, timestamptz 'epoch'))::bigint AS hour,
       count(*)::int AS checks, (count(*) FILTER (WHERE NOT h.success))::int AS failures
  FROM health_checks h ${since === 'cut' ? 'LEFT JOIN cut ON cut.vps_name = h.vps_name AND cut.url = h.url' : ''}
 WHERE h.app_name = $1 AND ($2::text IS NULL OR h.vps_name = $2) AND ($4::text[] IS NULL OR h.url = ANY($4))
   AND h.timestamp >= ${since === 'cut' ? `greatest($3, coalesce(cut.cutoff, '-infinity'::timestamptz))` : '$3'}
 GROUP BY 1, 2, 3`;

const WITH_ROLLUP_SQL = `
WITH cut AS (
  SELECT vps_name, url, max(bucket) + interval '1 hour' AS cutoff FROM health_checks_hourly
   WHERE app_name = $1 AND ($2::text IS NULL OR vps_name = $2) AND ($4::text[] IS NULL OR url = ANY($4)) AND bucket >= $3
   GROUP BY 1, 2)
SELECT vps_name, url, extract(epoch FROM bucket)::bigint AS hour, checks, failures FROM health_checks_hourly
 WHERE app_name = $1 AND ($2::text IS NULL OR vps_name = $2) AND ($4::text[] IS NULL OR url = ANY($4)) AND bucket >= $3
UNION ALL ${RAW_HOURS('cut')}`;

const RECENT_SQL = `
SELECT timestamp, success, response_time_ms FROM health_checks
 WHERE vps_name = $1 AND app_name = $2 AND url = $3 AND timestamp > now() - interval '7 days'
 ORDER BY timestamp DESC LIMIT ${HEARTBEATS}`;

const pct = (checks: number, failures: number) => (checks ? Math.round(10_000 * (1 - failures / checks)) / 100 : null);

export async function queryUptime(pool: PgPool, q: UptimeQuery, now = Date.now()): Promise<{ generatedAt: string; checks: CheckUptime[] }> {
  const dayStart = Math.floor(now / DAY) * DAY;
  const since = new Date(dayStart - (UPTIME_DAYS - 1) * DAY);
  const columns = await rollupColumns(pool, 'health_checks_hourly');
  const sql = ['bucket', 'checks', 'failures', 'url'].every((c) => columns.has(c)) ? WITH_ROLLUP_SQL : RAW_HOURS('plain');
  const r = await pool.query<{ vps_name: string; url: string; hour: string; checks: number; failures: number }>(
    sql, [q.app, q.vps, since, q.urls ? [...q.urls] : null]);
  const byCheck = new Map<string, CheckUptime & { hours: { at: number; checks: number; failures: number }[] }>();
  for (const row of r.rows) {
    const key = `${row.vps_name}\u0000${row.url}`;
    let c = byCheck.get(key);
    if (!c) {
      c = { vps: row.vps_name, url: row.url, uptime: { '24h': null, '7d': null, '30d': null, '90d': null },
        counts: { '24h': { checks: 0, failures: 0 }, '7d': { checks: 0, failures: 0 }, '30d': { checks: 0, failures: 0 }, '90d': { checks: 0, failures: 0 } }, recent: [], hours: [],
        days: Array.from({ length: UPTIME_DAYS }, (_, i) => ({ day: new Date(since.getTime() + i * DAY).toISOString().slice(0, 10), checks: 0, failures: 0 })) };
      byCheck.set(key, c);
    }
    const at = Number(row.hour) * 1000;
    c.hours.push({ at, checks: row.checks, failures: row.failures });
    const d = c.days[Math.floor((at - since.getTime()) / DAY)];
    if (d) { d.checks += row.checks; d.failures += row.failures; }
  }
  const currentHour = Math.floor(now / HOUR) * HOUR;
  const out: CheckUptime[] = [];
  for (const c of [...byCheck.values()].sort((a, b) => a.vps.localeCompare(b.vps) || a.url.localeCompare(b.url))) {
    for (const [w, days] of Object.entries(UPTIME_WINDOWS) as [UptimeWindow, number][]) {
      // 24 h = the current hour and the 23 before it; 7 d etc. likewise in whole hours.
      const from = currentHour - (days * 24 - 1) * HOUR;
      let checks = 0;
      let failures = 0;
      for (const h of c.hours) if (h.at >= from) { checks += h.checks; failures += h.failures; }
      c.uptime[w] = pct(checks, failures);
      c.counts[w] = { checks, failures };
    }
    if (q.heartbeats) {
      const recent = await pool.query<{ timestamp: Date; success: boolean; response_time_ms: number | null }>(RECENT_SQL, [c.vps, q.app, c.url]);
      c.recent = recent.rows.reverse().map((x) => ({ t: x.timestamp.toISOString(), ok: x.success, ms: x.response_time_ms }));
    }
    const { hours: _hours, ...rest } = c;
    out.push(rest);
  }
  return { generatedAt: new Date(now).toISOString(), checks: out };
}

export { pct as uptimePercent };
