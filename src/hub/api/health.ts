// GET /api/health?vps&app&url&from&to&step — health-check history per URL: checks, failures and
// latency (avg, p95, max) per bucket, uptime percent over the range, and the recent failures
// themselves (to mark them on the chart). Same raw/hourly policy as /api/metrics.
import type { PgPool } from '../../db/pg.js';
import { optionalName } from './params.js';
import { parseSeriesQuery, planSeries, type SeriesQuery } from './series.js';
import type { HealthResult, HealthSeries } from './types.js';
import { round3 } from './metrics.js';

/**
 * Seconds between two results of the most frequently run check, from the app's newest 200 results
 * (an index walk): the floor of a bucket, so that no bucket is finer than the checks.
 */
export async function checkSpacing(pool: PgPool, vps: string, app: string): Promise<number> {
  const r = await pool.query<{ url: string; t: Date }>(
    `SELECT url, timestamp AS t FROM health_checks WHERE vps_name = $1 AND app_name = $2 ORDER BY timestamp DESC LIMIT 200`, [vps, app]);
  const byUrl = new Map<string, number[]>();
  for (const row of r.rows) byUrl.set(row.url, [...(byUrl.get(row.url) ?? []), row.t.getTime()]);
  let spacing = Infinity;
  for (const times of byUrl.values()) {
    if (times.length < 2) continue;
    const gaps = times.slice(1).map((t, i) => times[i]! - t).sort((a, b) => a - b);
    spacing = Math.min(spacing, gaps[Math.floor(gaps.length / 2)]! / 1000); // median: one late check does not widen it
  }
  return Number.isFinite(spacing) ? Math.max(1, Math.round(spacing)) : 1;
}

export interface HealthQuery extends SeriesQuery {
  url: string | null;
}

export function parseHealthQuery(query: URLSearchParams): HealthQuery {
  return { ...parseSeriesQuery(query, ['url'], 86_400_000), url: optionalName(query, 'url') };
}

const RAW_SQL = `
SELECT url, extract(epoch FROM date_bin(make_interval(secs => $6), timestamp, timestamptz 'epoch'))::bigint AS t,
       count(*)::int AS checks, (count(*) FILTER (WHERE NOT success))::int AS failures,
       avg(response_time_ms)::float8 AS lat_avg,
       (percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms))::float8 AS lat_p95,
       max(response_time_ms)::float8 AS lat_max
  FROM health_checks
 WHERE vps_name = $1 AND app_name = $2 AND ($3::text IS NULL OR url = $3) AND timestamp >= $4 AND timestamp < $5
 GROUP BY 1, 2 ORDER BY 1, 2`;

// p95 cannot be re-aggregated exactly from hourly p95s: the max of them is an upper bound, said so in docs.
const HOURLY_SQL = `
SELECT url, extract(epoch FROM date_bin(make_interval(secs => $6), bucket, timestamptz 'epoch'))::bigint AS t,
       sum(checks)::int AS checks, sum(failures)::int AS failures,
       (sum(latency_avg * checks) / nullif(sum(checks) FILTER (WHERE latency_avg IS NOT NULL), 0))::float8 AS lat_avg,
       max(latency_p95)::float8 AS lat_p95,
       max(latency_max)::float8 AS lat_max
  FROM health_checks_hourly
 WHERE vps_name = $1 AND app_name = $2 AND ($3::text IS NULL OR url = $3) AND bucket >= $4 AND bucket < $5
 GROUP BY 1, 2 ORDER BY 1, 2`;

const FAILURES_SQL = `
SELECT timestamp, url, status_code, response_time_ms, error_message
  FROM health_checks
 WHERE vps_name = $1 AND app_name = $2 AND ($3::text IS NULL OR url = $3) AND timestamp >= $4 AND timestamp < $5 AND NOT success
 ORDER BY timestamp DESC LIMIT 200`;

const HOURLY_NEEDS = ['bucket', 'url', 'checks', 'failures', 'latency_avg', 'latency_p95', 'latency_max'];

export async function queryHealth(pool: PgPool, q: HealthQuery): Promise<HealthResult> {
  const { header } = await planSeries(pool, q, 'health_checks_hourly', HOURLY_NEEDS, () => checkSpacing(pool, q.vps, q.app));
  const params = [q.vps, q.app, q.url, q.from, q.to];
  const [buckets, failures] = await Promise.all([
    pool.query<{ url: string; t: string; checks: number; failures: number; lat_avg: number | null; lat_p95: number | null; lat_max: number | null }>(
      header.source === 'raw' ? RAW_SQL : HOURLY_SQL, [...params, header.stepSeconds]),
    pool.query<{ timestamp: Date; url: string; status_code: number | null; response_time_ms: number | null; error_message: string | null }>(FAILURES_SQL, params),
  ]);
  const byUrl = new Map<string, HealthSeries>();
  for (const row of buckets.rows) {
    let s = byUrl.get(row.url);
    if (!s) {
      s = { url: row.url, checks: 0, failures: 0, uptimePercent: null, t: [], checksPerBucket: [], failuresPerBucket: [], latencyAvg: [], latencyP95: [], latencyMax: [] };
      byUrl.set(row.url, s);
    }
    s.checks += row.checks;
    s.failures += row.failures;
    s.t.push(Number(row.t));
    s.checksPerBucket.push(row.checks);
    s.failuresPerBucket.push(row.failures);
    s.latencyAvg.push(round3(row.lat_avg));
    s.latencyP95.push(round3(row.lat_p95));
    s.latencyMax.push(round3(row.lat_max));
  }
  for (const s of byUrl.values()) s.uptimePercent = s.checks ? Math.round(10_000 * (1 - s.failures / s.checks)) / 100 : null;
  return {
    ...header,
    urls: [...byUrl.values()],
    failures: failures.rows.map((f) => ({
      timestamp: f.timestamp.toISOString(), url: f.url, statusCode: f.status_code, responseTimeMs: f.response_time_ms, errorMessage: f.error_message,
    })),
  };
}
