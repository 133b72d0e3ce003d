// GET /api/anomalies?vps&app&series&from&to&open&limit — anomaly episodes found by the hub's detectors
// (alert_anomalies, migration 080), newest first: those that overlap [from, to), or only the open ones.

import type { PgPool } from '../../db/pg.js';
import { describeEpisode } from '../anomaly/engine.js';
import type { Basis } from '../anomaly/detector.js';
import { BadRequest, intParam, optionalName, rejectUnknown, timeRange } from './params.js';

export interface AnomalyEpisode {
  id: number;
  vps: string;
  app: string;
  series: string;
  startedAt: string;
  endedAt: string | null;
  peakAt: string;
  value: number;
  expected: number | null;
  basis: Basis;
  score: number;
  /** One line for a person ("health_latency_ms 840 is 8.4× its usual for Tuesday 14:00 UTC …"). */
  summary: string;
}

export interface AnomalyQuery {
  vps: string | null;
  app: string | null;
  series: string | null;
  from: Date;
  to: Date;
  open: boolean;
  limit: number;
}

export function parseAnomalyQuery(q: URLSearchParams): AnomalyQuery {
  rejectUnknown(q, ['vps', 'app', 'series', 'from', 'to', 'open', 'limit']);
  const open = q.get('open');
  if (open !== null && open !== 'true' && open !== 'false') throw new BadRequest('open must be true or false');
  const { from, to } = timeRange(q, 86_400_000);
  return {
    vps: optionalName(q, 'vps'), app: optionalName(q, 'app'), series: optionalName(q, 'series'), from, to,
    open: open === 'true', limit: intParam(q, 'limit', 1, 1000, 200)!,
  };
}

interface Row {
  id: string; vps_name: string; app_name: string; series: string; started_at: Date; ended_at: Date | null; peak_at: Date;
  value: number; expected: number | null; basis: Basis; score: number;
}

export async function queryAnomalies(pool: PgPool, q: AnomalyQuery): Promise<{ anomalies: AnomalyEpisode[] }> {
  const r = await pool.query<Row>(
    `SELECT id, vps_name, app_name, series, started_at, ended_at, peak_at, value, expected, basis, score
       FROM alert_anomalies
      WHERE ($1::text IS NULL OR vps_name = $1) AND ($2::text IS NULL OR app_name = $2) AND ($3::text IS NULL OR series = $3)
        AND (CASE WHEN $6 THEN ended_at IS NULL
                  ELSE started_at < $5::timestamptz AND (ended_at IS NULL OR ended_at >= $4::timestamptz) END)
      ORDER BY started_at DESC, id DESC LIMIT $7`,
    [q.vps, q.app, q.series, q.from.toISOString(), q.to.toISOString(), q.open, q.limit]);
  return {
    anomalies: r.rows.map((e) => ({
      id: Number(e.id), vps: e.vps_name, app: e.app_name, series: e.series, startedAt: e.started_at.toISOString(),
      endedAt: e.ended_at ? e.ended_at.toISOString() : null, peakAt: e.peak_at.toISOString(), value: e.value, expected: e.expected,
      basis: e.basis, score: e.score,
      summary: describeEpisode({ series: e.series, value: e.value, expected: e.expected, basis: e.basis, score: e.score, peakAt: e.peak_at.getTime() }),
    })),
  };
}
