// The I/O around the anomaly engine: read the rows committed since the last run, feed each agent's
// series to its detector, store the episodes. Runs on the alerting leader only, right before each
// evaluation round (so an `anomaly` rule sees what this run found), which keeps several hubs from
// storing an episode twice; and soon after each commit (NOTIFY observ_batch, at most every 5 s), so
// episodes appear within seconds. The warm start runs beside the rounds, which do not wait for it.
//
//   vps_metrics (new rows) ───────────────► cpu_percent, memory_percent, load_avg_1m, disk_io_bps,
//                                            net_bps, app_cpu_percent, app_rss_mb
//   health_checks (complete minutes) ─────► health_latency_ms (mean), health_failure_rate (share failed)
//   log_entries ERROR/FATAL/CRITICAL ─────► log_error_rate (lines per minute, 0 when none)
//          └──► AnomalyEngine ──► alert_anomalies (upsert per episode: opened, peak moved, closed)
//
// Warm start: the first run (after election) replays the last WARM_START_HOURS of rows, so the
// recent baselines and part of the seasonal profiles are learned, and episodes the previous leader
// opened are found again (the same data gives the same episode, the same started_at: the upsert
// matches). Episodes still open from before that window are closed.
//
// Rows read again (each read overlaps the previous by READ_OVERLAP_MS, for rows whose transaction
// committed late) are skipped by the detectors, which take only points after their last one. Rows
// older than that when they arrive (an agent replaying its spool after an outage) are not scored.

import type { PgPool } from '../../db/pg.js';
import { AnomalyEngine, type Episode } from './engine.js';

export const WARM_START_HOURS = 24;
/** Closed episodes are kept this long (deleted by the leader's first run and then daily), like metrics. */
export const EPISODE_KEEP_DAYS = 90;
export const READ_OVERLAP_MS = 120_000;
/** Metric rows read per query; a run reads on while a query comes back full. */
export const READ_LIMIT = 50_000;
/** Minutes of health and log rows read per query (the warm start reads its hours in such steps). */
const MINUTES_PER_READ = 180;
const MINUTE = 60_000;

/** The series each agent gets, in the order docs/anomaly.md lists them. */
export const SERIES = ['cpu_percent', 'memory_percent', 'load_avg_1m', 'disk_io_bps', 'net_bps', 'app_cpu_percent', 'app_rss_mb',
  'health_latency_ms', 'health_failure_rate', 'log_error_rate'] as const;
export type SeriesName = typeof SERIES[number];

export const ERROR_LEVELS = ['ERROR', 'FATAL', 'CRITICAL'];

export interface TrackerRun {
  metricRows: number;
  healthMinutes: number;
  logMinutes: number;
  episodesWritten: number;
  series: number;
  durationMs: number;
}

interface MetricRow {
  vps_name: string; app_name: string; t: string; interval: number | null;
  cpu_percent: number | null; memory_percent: number | null; load_avg_1m: number | null; disk_io_bps: number | null;
  net_bps: number | null; app_cpu_percent: number | null; app_rss_mb: number | null;
}

export class AnomalyTracker {
  readonly engine: AnomalyEngine;
  /** Metrics read up to here (database time, ms); health and log minutes fed up to here (exclusive). */
  private metricsCursor: number | null = null;
  private minuteCursor: number | null = null;
  private running: Promise<TrackerRun> | null = null;
  /** The warm start is done: later runs read only what is new. */
  warm = false;
  private prunedAt = 0;

  constructor(private readonly pool: PgPool, engine = new AnomalyEngine()) {
    this.engine = engine;
  }

  /** One run; concurrent calls share the running one. */
  run(): Promise<TrackerRun> {
    this.running ??= this.runOnce().finally(() => { this.running = null; });
    return this.running;
  }

  private async runOnce(): Promise<TrackerRun> {
    const started = Date.now();
    const now = (await this.pool.query<{ now: string }>(`SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`)).rows[0]!.now;
    const nowMs = Number(now);
    const first = this.metricsCursor === null;
    const warmFrom = nowMs - WARM_START_HOURS * 3_600_000;
    if (first) {
      this.metricsCursor = warmFrom;
      this.minuteCursor = Math.floor(warmFrom / MINUTE) * MINUTE;
    }
    let metricRows = 0;
    // Reads on while a page comes back full and the cursor moves (a page may repeat its overlap only).
    for (let n = READ_LIMIT, before = NaN; n === READ_LIMIT && before !== this.metricsCursor;) {
      before = this.metricsCursor!;
      metricRows += (n = await this.feedMetrics());
    }
    // Complete minutes only, with one minute of slack for batches still in flight.
    const upTo = Math.floor(nowMs / MINUTE) * MINUTE - MINUTE;
    let healthMinutes = 0, logMinutes = 0;
    while (this.minuteCursor! < upTo) {
      const step = await this.feedMinutes(Math.min(upTo, this.minuteCursor! + MINUTES_PER_READ * MINUTE));
      healthMinutes += step.healthMinutes; logMinutes += step.logMinutes;
    }
    const episodes = this.engine.takeChanges();
    await this.store(episodes);
    if (first) {
      // Episodes left open by an earlier leader that the replay did not find again.
      await this.pool.query(`UPDATE alert_anomalies SET ended_at = now(), updated_at = now() WHERE ended_at IS NULL AND started_at < $1`,
        [new Date(warmFrom).toISOString()]);
    }
    if (nowMs - this.prunedAt >= 86_400_000) {
      this.prunedAt = nowMs;
      await this.pool.query(`DELETE FROM alert_anomalies WHERE ended_at < now() - $1 * interval '1 day'`, [EPISODE_KEEP_DAYS]);
    }
    this.warm = true;
    return { metricRows, healthMinutes, logMinutes, episodesWritten: episodes.length, series: this.engine.size, durationMs: Date.now() - started };
  }

  private async feedMetrics(): Promise<number> {
    const since = new Date(this.metricsCursor! - READ_OVERLAP_MS).toISOString();
    const r = await this.pool.query<MetricRow>(
      `SELECT m.vps_name, m.app_name, (extract(epoch FROM m.timestamp) * 1000)::float8 AS t, c.collection_interval AS interval,
              m.cpu_percent, m.memory_percent, m.load_avg_1m,
              (coalesce(m.disk_read_bps, 0) + coalesce(m.disk_write_bps, 0))::float8 AS disk_io_bps,
              (coalesce(m.net_rx_bps, 0) + coalesce(m.net_tx_bps, 0))::float8 AS net_bps,
              m.app_cpu_percent, m.app_rss_mb
         FROM vps_metrics m LEFT JOIN agent_checkpoints c ON c.vps_name = m.vps_name AND c.app_name = m.app_name
        WHERE m.timestamp > $1::timestamptz
        ORDER BY m.timestamp LIMIT $2`, [since, READ_LIMIT]);
    let last = this.metricsCursor!;
    for (const row of r.rows) {
      const t = Number(row.t);
      const interval = row.interval ?? 60;
      for (const series of ['cpu_percent', 'memory_percent', 'load_avg_1m', 'disk_io_bps', 'net_bps', 'app_cpu_percent', 'app_rss_mb'] as const) {
        const v = row[series];
        if (v !== null) this.engine.point(row.vps_name, row.app_name, series, t, Number(v), interval);
      }
      if (t > last) last = t;
    }
    this.metricsCursor = last;
    return r.rows.length;
  }

  private async feedMinutes(upTo: number): Promise<{ healthMinutes: number; logMinutes: number }> {
    const from = this.minuteCursor!;
    if (upTo <= from) return { healthMinutes: 0, logMinutes: 0 };
    const range = [new Date(from).toISOString(), new Date(upTo).toISOString()];
    const health = await this.pool.query<{ vps_name: string; app_name: string; minute: string; latency: number | null; failed: number; total: number }>(
      `SELECT vps_name, app_name, (extract(epoch FROM date_trunc('minute', timestamp)) * 1000)::float8 AS minute,
              avg(response_time_ms)::float8 AS latency, count(*) FILTER (WHERE NOT success)::int AS failed, count(*)::int AS total
         FROM health_checks WHERE timestamp >= $1::timestamptz AND timestamp < $2::timestamptz
        GROUP BY 1, 2, 3 ORDER BY 3`, range);
    const errors = await this.pool.query<{ vps_name: string; app_name: string; minute: string; lines: number }>(
      `SELECT vps_name, app_name, (extract(epoch FROM date_trunc('minute', timestamp)) * 1000)::float8 AS minute, count(*)::int AS lines
         FROM log_entries WHERE timestamp >= $1::timestamptz AND timestamp < $2::timestamptz AND level = ANY($3::text[])
        GROUP BY 1, 2, 3`, [...range, ERROR_LEVELS]);
    // Agents that log: those with any line in the range, or whose checkpoint moved in it. Minutes
    // without error lines are zeros for them (a rate of 0 is data, not a gap).
    const agents = await this.pool.query<{ vps_name: string; app_name: string }>(
      `SELECT vps_name, app_name FROM agent_checkpoints WHERE updated_at >= $1::timestamptz`, [range[0]]);
    const counts = new Map<string, number>();
    for (const e of errors.rows) counts.set(`${e.vps_name}\u0000${e.app_name}\u0000${Number(e.minute)}`, e.lines);
    const keyed = new Map<string, { vps: string; app: string }>();
    for (const a of agents.rows) keyed.set(`${a.vps_name}\u0000${a.app_name}`, { vps: a.vps_name, app: a.app_name });
    for (const e of errors.rows) keyed.set(`${e.vps_name}\u0000${e.app_name}`, { vps: e.vps_name, app: e.app_name });

    // Feed in time order, minute by minute, so every series sees its points in order.
    let healthAt = 0;
    const rows = health.rows;
    let logMinutes = 0;
    for (let m = from; m < upTo; m += MINUTE) {
      while (healthAt < rows.length && Number(rows[healthAt]!.minute) <= m) {
        const h = rows[healthAt++]!;
        const t = Number(h.minute);
        if (h.latency !== null) this.engine.point(h.vps_name, h.app_name, 'health_latency_ms', t, h.latency, 60);
        if (h.total > 0) this.engine.point(h.vps_name, h.app_name, 'health_failure_rate', t, h.failed / h.total, 60);
      }
      for (const [k, a] of keyed) {
        this.engine.point(a.vps, a.app, 'log_error_rate', m, counts.get(`${k}\u0000${m}`) ?? 0, 60);
        logMinutes++;
      }
    }
    this.minuteCursor = upTo;
    return { healthMinutes: rows.length, logMinutes };
  }

  private async store(episodes: Episode[]): Promise<void> {
    if (!episodes.length) return;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    await this.pool.query(
      `INSERT INTO alert_anomalies (vps_name, app_name, series, started_at, ended_at, peak_at, value, expected, basis, score)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
                            $7::float8[], $8::float8[], $9::text[], $10::real[])
       ON CONFLICT (vps_name, app_name, series, started_at) DO UPDATE
          SET ended_at = EXCLUDED.ended_at, peak_at = EXCLUDED.peak_at, value = EXCLUDED.value, expected = EXCLUDED.expected,
              basis = EXCLUDED.basis, score = EXCLUDED.score, updated_at = now()`,
      [episodes.map((e) => e.vps), episodes.map((e) => e.app), episodes.map((e) => e.series), episodes.map((e) => iso(e.startedAt)),
        episodes.map((e) => iso(e.endedAt)), episodes.map((e) => iso(e.peakAt)), episodes.map((e) => e.value),
        episodes.map((e) => e.expected), episodes.map((e) => e.basis), episodes.map((e) => e.score)]);
  }
}
