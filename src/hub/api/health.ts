// GET /api/health?vps&app&url&from&to&step — health-check history per URL: checks, failures and
// latency (avg, p95, max) per bucket, uptime percent over the range, and the recent failures
// themselves (to mark them on the chart). Same raw/hourly policy as /api/metrics.
import type { PgPool } from '../../db/pg.js';
import { bucketSeconds, intParam, optionalName, rejectUnknown, requiredName, timeRange, type TimeRange } from './params.js';
import { MAX_POINTS, RAW_MAX_RANGE_MS, rollupColumns, round3 } from './metrics.js';

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

export interface HealthQuery extends TimeRange {
  vps: string;
  app: string;
  url: string | null;
  step: number | null;
}

export interface HealthSeries {
  url: string;
  checks: number;
  failures: number;
  uptimePercent: number | null;
  t: number[];
  checksPerBucket: number[];
  failuresPerBucket: number[];
  latencyAvg: (number | null)[];
  latencyP95: (number | null)[];
  latencyMax: (number | null)[];
}

export interface HealthFailure {
  timestamp: string;
  url: string;
  statusCode: number | null;
  responseTimeMs: number | null;
  errorMessage: string | null;
}

export interface HealthResult {
  vps: string;
  app: string;
  from: string;
  to: string;
  source: 'raw' | 'hourly';
  stepSeconds: number;
  urls: HealthSeries[];
  /** The newest failures in the range (at most 200), always from raw rows. */
  failures: HealthFailure[];
}

export function parseHealthQuery(query: URLSearchParams): HealthQuery {
  rejectUnknown(query, ['vps', 'app', 'url', 'from', 'to', 'step']);
  return {
    vps: requiredName(query, 'vps'),
    app: requiredName(query, 'app'),
    url: optionalName(query, 'url'),
    ...timeRange(query, 86_400_000),
    step: intParam(query, 'step', 1, 31 * 86_400, null),
  };
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
  let source: 'raw' | 'hourly' = 'raw';
  if (q.to.getTime() - q.from.getTime() > RAW_MAX_RANGE_MS) {
    const columns = await rollupColumns(pool, 'health_checks_hourly');
    if (HOURLY_NEEDS.every((c) => columns.has(c))) source = 'hourly';
  }
  const step = bucketSeconds(q, q.step, MAX_POINTS, source === 'hourly' ? 3600 : await checkSpacing(pool, q.vps, q.app));
  const params = [q.vps, q.app, q.url, q.from, q.to];
  const [buckets, failures] = await Promise.all([
    pool.query<{ url: string; t: string; checks: number; failures: number; lat_avg: number | null; lat_p95: number | null; lat_max: number | null }>(
      source === 'raw' ? RAW_SQL : HOURLY_SQL, [...params, step]),
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
    vps: q.vps, app: q.app, from: q.from.toISOString(), to: q.to.toISOString(), source, stepSeconds: step,
    urls: [...byUrl.values()],
    failures: failures.rows.map((f) => ({
      timestamp: f.timestamp.toISOString(), url: f.url, statusCode: f.status_code, responseTimeMs: f.response_time_ms, errorMessage: f.error_message,
    })),
  };
}
