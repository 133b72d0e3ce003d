// GET /api/metrics?vps&app&from&to&step — one vps/app's metric series, downsampled in SQL to at most
// MAX_POINTS buckets (avg and max per bucket), from raw samples for ranges up to 7 days and from the
// hourly rollup table beyond (when it exists). The result is columnar, the shape uPlot draws.
import type { PgPool } from '../../db/pg.js';
import { bucketSeconds, intParam, rejectUnknown, requiredName, timeRange, type TimeRange } from './params.js';

export const MAX_POINTS = 1000;
export const RAW_MAX_RANGE_MS = 7 * 86_400_000;

/** Series the API knows, with their raw column and their rollup columns. Fixed: SQL is built only from this list. */
export const METRIC_SERIES = [
  { key: 'cpu', raw: 'cpu_percent', avg: 'cpu_avg', max: 'cpu_max' },
  { key: 'cpuIowait', raw: 'cpu_iowait', avg: 'cpu_iowait_avg', max: 'cpu_iowait_max' },
  { key: 'memory', raw: 'memory_percent', avg: 'memory_avg', max: 'memory_max' },
  { key: 'swap', raw: 'swap_percent', avg: 'swap_avg', max: 'swap_max' },
  { key: 'disk', raw: 'disk_percent', avg: 'disk_avg', max: 'disk_max' },
  { key: 'load1', raw: 'load_avg_1m', avg: 'load1_avg', max: 'load1_max' },
  { key: 'load5', raw: 'load_avg_5m', avg: 'load5_avg', max: 'load5_max' },
  { key: 'load15', raw: 'load_avg_15m', avg: 'load15_avg', max: 'load15_max' },
  { key: 'netRxBps', raw: 'net_rx_bps', avg: 'net_rx_avg', max: 'net_rx_max' },
  { key: 'netTxBps', raw: 'net_tx_bps', avg: 'net_tx_avg', max: 'net_tx_max' },
  { key: 'diskReadBps', raw: 'disk_read_bps', avg: 'disk_read_avg', max: 'disk_read_max' },
  { key: 'diskWriteBps', raw: 'disk_write_bps', avg: 'disk_write_avg', max: 'disk_write_max' },
  // The app's own processes (migration 050), apart from the host series above.
  { key: 'appCpu', raw: 'app_cpu_percent', avg: 'app_cpu_avg', max: 'app_cpu_max' },
  { key: 'appRssMb', raw: 'app_rss_mb', avg: 'app_rss_avg', max: 'app_rss_max' },
  { key: 'appThreads', raw: 'app_threads', avg: 'app_threads_avg', max: 'app_threads_max' },
  { key: 'appOpenFiles', raw: 'app_open_files', avg: 'app_open_files_avg', max: 'app_open_files_max' },
] as const;

export type MetricKey = (typeof METRIC_SERIES)[number]['key'];

export interface MetricsResult {
  vps: string;
  app: string;
  from: string;
  to: string;
  source: 'raw' | 'hourly';
  stepSeconds: number;
  /** Bucket starts, epoch seconds. */
  t: number[];
  samples: number[];
  series: Partial<Record<MetricKey, { avg: (number | null)[]; max: (number | null)[] }>>;
  /** Restarts of the app's main process per bucket (a sum, not an average); absent when the source has no such column. */
  appRestarts?: number[];
  /** Where the app's processes were found in the newest sample of the range (`unit:…`, `cwd:…`), null when not measured. */
  appSource?: string | null;
}

export interface MetricsQuery extends TimeRange {
  vps: string;
  app: string;
  step: number | null;
}

export function parseMetricsQuery(query: URLSearchParams): MetricsQuery {
  rejectUnknown(query, ['vps', 'app', 'from', 'to', 'step']);
  return {
    vps: requiredName(query, 'vps'),
    app: requiredName(query, 'app'),
    ...timeRange(query, 3_600_000),
    step: intParam(query, 'step', 1, 31 * 86_400, null),
  };
}

/** Columns of a rollup table, cached for a minute (empty when the table does not exist). */
const columnCache = new WeakMap<PgPool, Map<string, { at: number; columns: Set<string> }>>();

export async function rollupColumns(pool: PgPool, table: 'vps_metrics_hourly' | 'health_checks_hourly'): Promise<Set<string>> {
  let perPool = columnCache.get(pool);
  if (!perPool) columnCache.set(pool, perPool = new Map());
  const hit = perPool.get(table);
  if (hit && Date.now() - hit.at < 60_000) return hit.columns;
  const r = await pool.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, [table]);
  const columns = new Set(r.rows.map((row) => row.attname));
  perPool.set(table, { at: Date.now(), columns });
  return columns;
}

/**
 * Where a range is read from: raw samples up to 7 days, the hourly rollup beyond when it exists.
 * Isolated on purpose: the one place that knows the rollup policy.
 */
export async function chooseMetricsSource(pool: PgPool, range: TimeRange): Promise<{ source: 'raw' } | { source: 'hourly'; columns: Set<string> }> {
  if (range.to.getTime() - range.from.getTime() <= RAW_MAX_RANGE_MS) return { source: 'raw' };
  const columns = await rollupColumns(pool, 'vps_metrics_hourly');
  return columns.has('bucket') && columns.has('samples') ? { source: 'hourly', columns } : { source: 'raw' };
}

export async function queryMetrics(pool: PgPool, q: MetricsQuery): Promise<MetricsResult> {
  const choice = await chooseMetricsSource(pool, q);
  const step = bucketSeconds(q, q.step, MAX_POINTS, choice.source === 'hourly' ? 3600 : 1);
  let sql: string;
  let present: (typeof METRIC_SERIES)[number][];
  if (choice.source === 'raw') {
    present = [...METRIC_SERIES];
    sql = `SELECT extract(epoch FROM date_bin(make_interval(secs => $5), timestamp, timestamptz 'epoch'))::bigint AS t, count(*)::int AS samples,
                  ${present.map((s, i) => `avg(${s.raw})::float8 AS a${i}, max(${s.raw})::float8 AS m${i}`).join(', ')},
                  coalesce(sum(app_restarts), 0)::int AS restarts, (array_agg(app_source ORDER BY timestamp DESC) FILTER (WHERE app_source IS NOT NULL))[1] AS app_source
             FROM vps_metrics
            WHERE vps_name = $1 AND app_name = $2 AND timestamp >= $3 AND timestamp < $4
            GROUP BY 1 ORDER BY 1`;
  } else {
    // A rollup table from a later or earlier migration may lack some series: use what is there.
    present = METRIC_SERIES.filter((s) => choice.columns.has(s.avg) && choice.columns.has(s.max));
    sql = `SELECT extract(epoch FROM date_bin(make_interval(secs => $5), bucket, timestamptz 'epoch'))::bigint AS t, sum(samples)::int AS samples,
                  ${present.map((s, i) => `(sum(${s.avg} * samples) / nullif(sum(samples) FILTER (WHERE ${s.avg} IS NOT NULL), 0))::float8 AS a${i}, max(${s.max})::float8 AS m${i}`).join(', ')}
                  ${choice.columns.has('app_restarts') ? ', coalesce(sum(app_restarts), 0)::int AS restarts' : ''}
             FROM vps_metrics_hourly
            WHERE vps_name = $1 AND app_name = $2 AND bucket >= $3 AND bucket < $4
            GROUP BY 1 ORDER BY 1`;
  }
  const r = await pool.query<Record<string, number | null> & { t: string; samples: number; restarts?: number; app_source?: string | null }>(
    sql, [q.vps, q.app, q.from, q.to, step]);
  const series: MetricsResult['series'] = {};
  present.forEach((s, i) => {
    series[s.key] = { avg: r.rows.map((row) => row[`a${i}`] ?? null), max: r.rows.map((row) => row[`m${i}`] ?? null) };
  });
  return {
    vps: q.vps, app: q.app, from: q.from.toISOString(), to: q.to.toISOString(),
    source: choice.source, stepSeconds: step,
    t: r.rows.map((row) => Number(row.t)),
    samples: r.rows.map((row) => row.samples),
    series,
    ...(r.rows.length && r.rows[0]!.restarts !== undefined ? { appRestarts: r.rows.map((row) => row.restarts ?? 0) } : {}),
    ...(choice.source === 'raw' ? { appSource: [...r.rows].reverse().find((row) => row.app_source)?.app_source ?? null } : {}),
  };
}
