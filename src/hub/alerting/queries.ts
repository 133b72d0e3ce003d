// The reads behind each rule type. Every per-agent read is a LATERAL index scan on
// (vps_name, app_name, timestamp DESC) with a LIMIT, driven by agent_checkpoints (one row per
// agent), so an evaluation costs O(agents) small index scans whatever the size of the tables.

import { inTransaction, type PgClient, type PgPool } from '../../db/pg.js';

/** A pool or a client inside a transaction. */
export type Queryable = Pick<PgClient, 'query'>;
import type { AlertRule, MetricRule } from './config.js';
import {
  judgeAnomaly, judgeCert, judgeErrorRate, judgeHealth, judgeMetric, judgeSilent,
  type AnomalyRow, type CertRow, type ErrorCountRow, type HealthRow, type MetricRow, type Observation, type SilentRow,
} from './judge.js';
import type { ErrorLine, HostSnapshot } from './render.js';
import { describeEpisode } from '../anomaly/engine.js';

/** Most urls per agent whose last results a health rule can see (rows read = this × max(N, M)). */
const URLS_PER_AGENT = 32;

/**
 * Runs per-agent "latest rows" reads with sorting discouraged. The planner estimates rows per
 * (vps_name, app_name) from the two columns' distinct counts as if they were independent (they are
 * not: an app lives on few VPS), expects ~15 rows instead of thousands, and picks a bitmap scan of
 * the agent's whole day plus a sort. Without sorting it reads each day-partition's
 * (vps_name, app_name, timestamp DESC) index in order and stops at the LIMIT. Measured with 300
 * agents × 2 URLs × 6 h of checks (bench/alerting-evaluation): 345 ms → 23–39 ms per health read.
 */
async function latestRows<T extends object>(pool: PgPool, sql: string, params: unknown[]): Promise<T[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SET LOCAL enable_sort = off');
    return (await client.query<T>(sql, params)).rows;
  });
}

const interval = (ms: number) => `${Math.max(1, Math.ceil(ms / 1000))} seconds`;

/**
 * Whether the agent of checkpoint row `c` runs the check `url` now: always true for an agent that does not
 * store its list of checks (before migration 110), whose checks count for a day after their last result.
 */
const RUNS_URL = (c: string, url: string) =>
  `(${c}.health_checks IS NULL OR ${c}.health_checks @> jsonb_build_array(jsonb_build_object('url', ${url}::text)))`;

/**
 * Open alerts of a check rule on URLs their agent no longer runs (taken out of monitoring.yml): each is
 * recovered. Without this its last failures would hold it open (no result is no news for a check), for
 * good once they are older than a day.
 */
async function noLongerChecked(pool: PgPool, rule: AlertRule): Promise<Observation[]> {
  const r = await pool.query<{ vps_name: string; app_name: string; subject: string }>(
    `SELECT s.vps_name, s.app_name, s.subject
       FROM alert_state s JOIN agent_checkpoints c ON c.vps_name = s.vps_name AND c.app_name = s.app_name
      WHERE s.rule_name = $1 AND s.status <> 'resolved' AND c.health_checks IS NOT NULL AND NOT ${RUNS_URL('c', 's.subject')}`,
    [rule.name]);
  return r.rows.map((row) => ({ vps: row.vps_name, app: row.app_name, subject: row.subject, verdict: 'recover' as const, value: null,
    summary: 'the agent no longer runs this check (removed from its health_checks)', observedAt: null }));
}

export async function observe(pool: PgPool, rule: AlertRule, now: number): Promise<Observation[]> {
  switch (rule.type) {
    case 'health_check': {
      // Only the last max(N, M) results of each url leave the database.
      const keep = Math.max(rule.failures, rule.successes);
      const rows = await latestRows<HealthRow>(pool,
        `SELECT vps_name, app_name, url, timestamp, success, status_code, error_message
           FROM (SELECT h.*, row_number() OVER (PARTITION BY h.vps_name, h.app_name, h.url ORDER BY h.timestamp DESC) AS rn
                   FROM agent_checkpoints c
                   CROSS JOIN LATERAL (
                         SELECT x.vps_name, x.app_name, x.url, x.timestamp, x.success, x.status_code, x.error_message
                           FROM health_checks x
                          WHERE x.vps_name = c.vps_name AND x.app_name = c.app_name AND x.timestamp > now() - interval '1 day'
                            AND ${RUNS_URL('c', 'x.url')}
                          ORDER BY x.timestamp DESC LIMIT $1) h) ranked
          WHERE rn <= $2`,
        [keep * URLS_PER_AGENT, keep]);
      return [...judgeHealth(rule, rows), ...await noLongerChecked(pool, rule)];
    }
    case 'metric':
      // A metric window holds few samples per agent: the default plan is right here.
      return judgeMetric(rule, (await pool.query<MetricRow>(metricSql(rule), [interval(rule.forMs + 15 * 60_000)])).rows);
    case 'agent_silent': {
      const r = await pool.query<SilentRow>(
        `SELECT vps_name, app_name, updated_at, collection_interval,
                extract(epoch FROM now() - updated_at)::float8 AS silent_seconds
           FROM agent_checkpoints`);
      return judgeSilent(rule, r.rows);
    }
    case 'log_error_rate': {
      const r = await pool.query<ErrorCountRow>(
        `SELECT vps_name, app_name, count(*)::int AS lines, max(timestamp) AS last_at
           FROM log_entries
          WHERE timestamp > now() - $1::interval AND level = ANY($2::text[])
          GROUP BY vps_name, app_name`,
        [interval(rule.windowMs), rule.levels]);
      return judgeErrorRate(rule, r.rows);
    }
    case 'cert_expiry': {
      const rows = await latestRows<CertRow>(pool,
        `SELECT c.vps_name, c.app_name, h.url, h.cert_days_left, h.timestamp
           FROM agent_checkpoints c
           CROSS JOIN LATERAL (
                 SELECT DISTINCT ON (x.url) x.url, x.cert_days_left, x.timestamp
                   FROM (SELECT y.url, y.cert_days_left, y.timestamp FROM health_checks y
                          WHERE y.vps_name = c.vps_name AND y.app_name = c.app_name AND y.timestamp > now() - interval '1 day'
                            AND ${RUNS_URL('c', 'y.url')}
                          ORDER BY y.timestamp DESC LIMIT $1) x
                  WHERE x.cert_days_left IS NOT NULL
                  ORDER BY x.url, x.timestamp DESC) h`,
        [URLS_PER_AGENT * 2]);
      return [...judgeCert(rule, rows), ...await noLongerChecked(pool, rule)];
    }
    case 'anomaly': {
      const r = await pool.query<AnomalyRow>(
        `SELECT vps_name, app_name, series, started_at, peak_at, value, expected, basis, score
           FROM alert_anomalies WHERE ended_at IS NULL`);
      return judgeAnomaly(rule, r.rows, now);
    }
  }
}

/** The open anomaly episodes of an agent, described for incident context. */
export async function openAnomalies(pool: Queryable, vps: string, app: string, limit = 5): Promise<string[]> {
  const r = await pool.query<AnomalyRow>(
    `SELECT vps_name, app_name, series, started_at, peak_at, value, expected, basis, score
       FROM alert_anomalies WHERE vps_name = $1 AND app_name = $2 AND ended_at IS NULL
      ORDER BY abs(score) DESC LIMIT $3`, [vps, app, limit]);
  return r.rows.map((e) => `${describeEpisode({ series: e.series, value: e.value, expected: e.expected, basis: e.basis, score: e.score, peakAt: e.peak_at.getTime() })}, since ${e.started_at.toISOString()}`);
}

function metricSql(rule: MetricRule): string {
  // rule.metric is one of METRICS (validated), so it is safe as an identifier. The window reaches
  // 15 minutes past `for` so a breach that began just before the window is still seen as held.
  return `SELECT c.vps_name, c.app_name, m.timestamp, m.value
       FROM agent_checkpoints c
       CROSS JOIN LATERAL (
             SELECT x.timestamp, x.${rule.metric}::float8 AS value FROM vps_metrics x
              WHERE x.vps_name = c.vps_name AND x.app_name = c.app_name AND x.timestamp > now() - $1::interval
              ORDER BY x.timestamp DESC LIMIT 5000) m`;
}

/** `at` comes from a JS Date (milliseconds) while rows keep microseconds: the +1 ms keeps the row `at` was read from. */
export async function errorLinesBefore(pool: Queryable, vps: string, app: string, at: string, limit: number, levels: readonly string[]): Promise<ErrorLine[]> {
  if (limit <= 0) return [];
  const r = await pool.query<{ timestamp: Date; level: string; logger: string | null; message: string }>(
    `SELECT timestamp, level, logger, message FROM log_entries
      WHERE app_name = $2 AND vps_name = $1 AND level = ANY($3::text[])
        AND timestamp < $4::timestamptz + interval '1 millisecond' AND timestamp > $4::timestamptz - interval '1 hour'
      ORDER BY timestamp DESC, id DESC LIMIT $5`,
    [vps, app, levels, at, limit]);
  return r.rows.reverse().map((l) => ({ timestamp: l.timestamp.toISOString(), level: l.level, logger: l.logger, message: l.message }));
}

export async function hostAt(pool: Queryable, vps: string, app: string, at: string): Promise<HostSnapshot | null> {
  const r = await pool.query<{ timestamp: Date; cpu_percent: number | null; memory_percent: number | null; disk_percent: number | null; load_avg_1m: number | null }>(
    `SELECT timestamp, cpu_percent, memory_percent, disk_percent, load_avg_1m FROM vps_metrics
      WHERE vps_name = $1 AND app_name = $2
        AND timestamp BETWEEN $3::timestamptz - interval '10 minutes' AND $3::timestamptz + interval '2 minutes'
      ORDER BY abs(extract(epoch FROM timestamp - $3::timestamptz)) LIMIT 1`,
    [vps, app, at]);
  const m = r.rows[0];
  if (!m) return null;
  return { at: m.timestamp.toISOString(), cpuPercent: m.cpu_percent, memoryPercent: m.memory_percent, diskPercent: m.disk_percent, loadAvg1m: m.load_avg_1m };
}
