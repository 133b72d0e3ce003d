// GET /api/metrics?vps&app&from&to&step — one vps/app's metric series, downsampled in SQL to at most
// MAX_POINTS buckets (avg and max per bucket), from raw samples for ranges up to 7 days and from the
// hourly rollup table beyond (when it exists). The result is columnar, the shape uPlot draws.
import type { PgPool } from '../../db/pg.js';
import { parseSeriesQuery, planSeries, type SeriesQuery } from './series.js';
import type { MetricKey, MetricsResult } from './types.js';

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
] as const satisfies readonly { key: MetricKey; raw: string; avg: string; max: string }[];

export type MetricsQuery = SeriesQuery;

export function parseMetricsQuery(query: URLSearchParams): MetricsQuery {
  return parseSeriesQuery(query, [], 3_600_000);
}

/**
 * The agent's collection interval (seconds), the floor of a bucket: a bucket finer than the samples
 * would show a lone sample as its own avg and max. 1 when the agent is unknown.
 */
export async function collectionInterval(pool: PgPool, vps: string, app: string): Promise<number> {
  const r = await pool.query<{ collection_interval: number | null }>(
    'SELECT collection_interval FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2', [vps, app]);
  return Math.max(1, r.rows[0]?.collection_interval ?? 1);
}

/** Three decimals are more than any chart shows, and a third of the bytes of a float8's 15 digits. */
export const round3 = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 1000) / 1000);

export async function queryMetrics(pool: PgPool, q: MetricsQuery): Promise<MetricsResult> {
  const { header, columns } = await planSeries(pool, q, 'vps_metrics_hourly', ['bucket', 'samples'], () => collectionInterval(pool, q.vps, q.app));
  const step = header.stepSeconds;
  let sql: string;
  let present: (typeof METRIC_SERIES)[number][];
  if (header.source === 'raw') {
    present = [...METRIC_SERIES];
    sql = `SELECT extract(epoch FROM date_bin(make_interval(secs => $5), timestamp, timestamptz 'epoch'))::bigint AS t, count(*)::int AS samples,
                  ${present.map((s, i) => `avg(${s.raw})::float8 AS a${i}, max(${s.raw})::float8 AS m${i}`).join(', ')},
                  coalesce(sum(app_restarts), 0)::int AS restarts, (array_agg(app_source ORDER BY timestamp DESC) FILTER (WHERE app_source IS NOT NULL))[1] AS app_source
             FROM vps_metrics
            WHERE vps_name = $1 AND app_name = $2 AND timestamp >= $3 AND timestamp < $4
            GROUP BY 1 ORDER BY 1`;
  } else {
    // A rollup table from a later or earlier migration may lack some series: use what is there.
    present = METRIC_SERIES.filter((s) => columns.has(s.avg) && columns.has(s.max));
    sql = `SELECT extract(epoch FROM date_bin(make_interval(secs => $5), bucket, timestamptz 'epoch'))::bigint AS t, sum(samples)::int AS samples,
                  ${present.map((s, i) => `(sum(${s.avg} * samples) / nullif(sum(samples) FILTER (WHERE ${s.avg} IS NOT NULL), 0))::float8 AS a${i}, max(${s.max})::float8 AS m${i}`).join(', ')}
                  ${columns.has('app_restarts') ? ', coalesce(sum(app_restarts), 0)::int AS restarts' : ''}
             FROM vps_metrics_hourly
            WHERE vps_name = $1 AND app_name = $2 AND bucket >= $3 AND bucket < $4
            GROUP BY 1 ORDER BY 1`;
  }
  const r = await pool.query<Record<string, number | null> & { t: string; samples: number; restarts?: number; app_source?: string | null }>(
    sql, [q.vps, q.app, q.from, q.to, step]);
  const series: MetricsResult['series'] = {};
  present.forEach((s, i) => {
    series[s.key] = { avg: r.rows.map((row) => round3(row[`a${i}`])), max: r.rows.map((row) => round3(row[`m${i}`])) };
  });
  return {
    ...header,
    t: r.rows.map((row) => Number(row.t)),
    samples: r.rows.map((row) => row.samples),
    series,
    ...(r.rows.length && r.rows[0]!.restarts !== undefined ? { appRestarts: r.rows.map((row) => row.restarts ?? 0) } : {}),
    ...(header.source === 'raw' ? { appSource: [...r.rows].reverse().find((row) => row.app_source)?.app_source ?? null } : {}),
  };
}
