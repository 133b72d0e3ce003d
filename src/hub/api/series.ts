// What /api/metrics and /api/health share: one vps/app over a time range, read from raw rows up to
// 7 days and from an hourly rollup table beyond (when it exists and has the columns needed), in at
// most MAX_POINTS buckets. This is the one place that knows that policy.
import type { PgPool } from '../../db/pg.js';
import type { SeriesHeader } from './types.js';
import { bucketSeconds, intParam, rejectUnknown, requiredName, timeRange, type TimeRange } from './params.js';

export const MAX_POINTS = 1000;
export const RAW_MAX_RANGE_MS = 7 * 86_400_000;

export interface SeriesQuery extends TimeRange {
  vps: string;
  app: string;
  step: number | null;
}

/** vps, app, from, to, step, plus the endpoint's `extra` parameters (read by the caller). */
export function parseSeriesQuery(query: URLSearchParams, extra: readonly string[], defaultSpanMs: number): SeriesQuery {
  rejectUnknown(query, ['vps', 'app', ...extra, 'from', 'to', 'step']);
  return {
    vps: requiredName(query, 'vps'),
    app: requiredName(query, 'app'),
    ...timeRange(query, defaultSpanMs),
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
 * Where a range is read from and in what buckets: raw rows up to 7 days; beyond, the rollup table
 * when it has every column in `needs` (`columns` then lists all it has), in buckets of at least an hour;
 * raw buckets are at least `rawMinStep()` seconds.
 */
export async function planSeries(pool: PgPool, q: SeriesQuery, rollup: 'vps_metrics_hourly' | 'health_checks_hourly',
  needs: readonly string[], rawMinStep: () => Promise<number> = async () => 1): Promise<{ header: SeriesHeader; columns: Set<string> }> {
  let source: SeriesHeader['source'] = 'raw';
  let columns = new Set<string>();
  if (q.to.getTime() - q.from.getTime() > RAW_MAX_RANGE_MS) {
    columns = await rollupColumns(pool, rollup);
    if (needs.every((c) => columns.has(c))) source = 'hourly';
  }
  // Raw buckets are never finer than the samples (rawMinStep: the collection interval or the check spacing).
  const stepSeconds = bucketSeconds(q, q.step, MAX_POINTS, source === 'hourly' ? 3600 : await rawMinStep());
  return { header: { vps: q.vps, app: q.app, from: q.from.toISOString(), to: q.to.toISOString(), source, stepSeconds }, columns };
}
