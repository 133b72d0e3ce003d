// The hub side of anomaly detection against real PostgreSQL: rows in → episodes stored once, read
// back over the API, fired by an `anomaly` rule and quoted in other alerts' context.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { agentSeen, testPool } from '../alerting/helpers.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/pg.js';
import { hubFor, getJson, store, sample } from '../hub/fixtures.js';
import { startHub } from '../../src/hub/server.js';
import { AnomalyTracker } from '../../src/hub/anomaly/tracker.js';
import { evaluateOnce } from '../../src/hub/alerting/evaluator.js';
import { parseAlertConfig, type AnomalyRule } from '../../src/hub/alerting/config.js';
import { describeEpisode } from '../../src/hub/anomaly/engine.js';
import type { PgClient } from '../../src/db/pg.js';

/**
 * 20 hours of per-minute samples of web1/shop: cpu around 20 (deterministic wiggle), memory flat;
 * cpu at 90 for the minutes in [spikeFrom, spikeTo) minutes ago.
 */
async function history(db: PgClient, spikeFrom: number, spikeTo: number): Promise<void> {
  await agentSeen(db, 'web1', 'shop');
  await db.query(
    `INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, memory_percent, disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps)
     SELECT date_trunc('minute', now()) - g * interval '1 minute', 'web1', 'shop',
            CASE WHEN g <= $1 AND g > $2 THEN 90 ELSE 20 + 2 * sin(g * 1.7) END, 50, 1000, 1000, 5000, 5000
       FROM generate_series(1, 20 * 60) g`, [spikeFrom, spikeTo]);
}

const rows = (db: PgClient) => db.query<{ series: string; started_at: Date; ended_at: Date | null; value: number; expected: number; basis: string; score: number }>(
  'SELECT series, started_at, ended_at, value, expected, basis, score FROM alert_anomalies ORDER BY started_at');

test('a spike in stored metrics becomes one closed episode, and a second leader warm-starting finds the same one', async (t: TestContext) => {
  const db = await testDatabase(t);
  const pool = testPool(t, db.url);
  await history(db.client, 40, 35);
  const run = await new AnomalyTracker(pool).run();
  assert.ok(run.metricRows >= 1200, JSON.stringify(run));
  const first = (await rows(db.client)).rows;
  assert.equal(first.length, 1, JSON.stringify(first));
  const e = first[0]!;
  assert.equal(e.series, 'cpu_percent');
  assert.ok(Date.now() - e.started_at.getTime() <= 41 * 60_000 && Date.now() - e.started_at.getTime() >= 34 * 60_000, e.started_at.toISOString());
  assert.notEqual(e.ended_at, null, 'cleared after the spike');
  assert.equal(e.value, 90);
  assert.ok(Math.abs(e.expected - 20) < 3, String(e.expected));
  assert.ok(e.score > 5);
  // A new leader replays the same history: the same episode, updated in place, not a second one;
  // and it deletes episodes that ended more than 90 days ago.
  await db.client.query(`INSERT INTO alert_anomalies (vps_name, app_name, series, started_at, ended_at, peak_at, value, expected, basis, score)
                         VALUES ('web1', 'shop', 'net_bps', now() - interval '100 days', now() - interval '99 days', now() - interval '100 days', 1, 1, 'recent', 9)`);
  await new AnomalyTracker(pool).run();
  assert.deepEqual((await rows(db.client)).rows.map((r) => r.series), ['cpu_percent']);
});

test('an open episode fires an anomaly rule with "× its usual", other alerts carry it as context, and it resolves when the episode ends', async (t: TestContext) => {
  const db = await testDatabase(t);
  const pool = testPool(t, db.url);
  await history(db.client, 4, 0);
  const tracker = new AnomalyTracker(pool);
  await tracker.run();
  const open = (await rows(db.client)).rows;
  assert.equal(open.length, 1);
  assert.equal(open[0]!.ended_at, null, 'still unusual now');
  const config = parseAlertConfig(`default_rules: false
rules:
  - { name: unusual, type: anomaly, series: [cpu_*, health_*] }
  - { name: unusual-memory, type: anomaly, series: memory_percent }
  - { name: cpu-high, type: metric, condition: "cpu_percent > 80" }
`, 'alerts.yml', { warn: (m) => { throw new Error(m); } });
  const report = await evaluateOnce({ pool, config, dashboardUrl: 'http://hub' });
  assert.deepEqual(report.errors, []);
  const states = await db.client.query<{ rule_name: string; subject: string; status: string; summary: string }>(
    `SELECT rule_name, subject, status, summary FROM alert_state ORDER BY rule_name`);
  const byRule = new Map(states.rows.map((r) => [r.rule_name, r]));
  assert.equal(byRule.get('unusual')?.status, 'firing');
  assert.equal(byRule.get('unusual')?.subject, 'cpu_percent');
  assert.match(byRule.get('unusual')!.summary, /^cpu_percent 90 is 4\.\d+× its usual over the last hour \(expected 2\d(\.\d+)?, [\d.]+σ above\)$/);
  assert.equal(byRule.has('unusual-memory'), false, 'memory is not unusual');
  const ctx = await db.client.query<{ context: { anomalies?: string[] } }>(`SELECT context FROM alert_events WHERE rule_name = 'cpu-high' AND kind = 'firing'`);
  assert.equal(ctx.rows.length, 1);
  assert.match(ctx.rows[0]!.context.anomalies?.[0] ?? '', /^cpu_percent 90 is .* its usual .*, since \d{4}-/);
  const own = await db.client.query<{ context: { anomalies?: string[] } }>(`SELECT context FROM alert_events WHERE rule_name = 'unusual' AND kind = 'firing'`);
  assert.deepEqual(own.rows[0]!.context.anomalies, [], 'an anomaly alert does not repeat its own episode as context');

  await db.client.query('UPDATE alert_anomalies SET ended_at = now()');
  await evaluateOnce({ pool, config, dashboardUrl: 'http://hub' });
  const after = await db.client.query<{ status: string }>(`SELECT status FROM alert_state WHERE rule_name = 'unusual'`);
  assert.equal(after.rows[0]!.status, 'resolved');
});

test('anomaly rules are validated: series globs, for, min_score', () => {
  const parse = (rule: string) => parseAlertConfig(`default_rules: false\nrules:\n  - ${rule}\n`, 'alerts.yml', { warn: () => {} });
  const rule = parse('{ name: a, type: anomaly, series: health_latency_ms, for: 5m, min_score: 8 }').rules[0] as AnomalyRule;
  assert.deepEqual({ type: rule.type, series: rule.series, forMs: rule.forMs, minScore: rule.minScore },
    { type: 'anomaly', series: ['health_latency_ms'], forMs: 300_000, minScore: 8 });
  assert.throws(() => parse('{ name: a, type: anomaly, for: soon }'), /alerts\.yml:3 rules\[0\]\.for must be a duration/);
  assert.throws(() => parse('{ name: a, type: anomaly, min_score: -1 }'), /alerts\.yml:3 rules\[0\]\.min_score must be ≥ 0/);
});

test('GET /api/anomalies lists the episodes overlapping a range, or the open ones, newest first', async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { alerting: false });
  await db.client.query(
    `INSERT INTO alert_anomalies (vps_name, app_name, series, started_at, ended_at, peak_at, value, expected, basis, score) VALUES
       ('web1', 'shop', 'health_latency_ms', now() - interval '3 hours', now() - interval '170 minutes', now() - interval '175 minutes', 840, 100, 'weekly', 9.1),
       ('web1', 'shop', 'cpu_percent', now() - interval '10 minutes', NULL, now() - interval '9 minutes', 95, 30, 'daily', 7),
       ('web2', 'shop', 'cpu_percent', now() - interval '5 minutes', NULL, now() - interval '5 minutes', 95, 30, 'recent', 7)`);
  type Body = { anomalies: { series: string; vps: string; endedAt: string | null; summary: string }[] };
  const all = await getJson<Body>(`${hub.url}/api/anomalies?vps=web1&app=shop&from=${new Date(Date.now() - 4 * 3_600_000).toISOString()}`);
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.anomalies.map((a) => a.series), ['cpu_percent', 'health_latency_ms']);
  assert.match(all.body.anomalies[1]!.summary, /^health_latency_ms 840 is 8\.4× its usual for \w+day \d\d:00 UTC \(expected 100, 9\.1σ above\)$/);
  const recent = await getJson<Body>(`${hub.url}/api/anomalies?vps=web1&from=${new Date(Date.now() - 3_600_000).toISOString()}`);
  assert.deepEqual(recent.body.anomalies.map((a) => a.series), ['cpu_percent']);
  const open = await getJson<Body>(`${hub.url}/api/anomalies?open=true`);
  assert.deepEqual(open.body.anomalies.map((a) => a.vps).sort(), ['web1', 'web2']);
  assert.equal((await getJson(`${hub.url}/api/anomalies?open=maybe`)).status, 400);
  assert.equal((await getJson(`${hub.url}/api/anomalies?colour=red`)).status, 400);
});

test('an episode is described against the baseline that judged it', () => {
  const peakAt = Date.UTC(2026, 0, 6, 14, 20); // a Tuesday
  assert.equal(describeEpisode({ series: 'health_latency_ms', value: 800, expected: 100, basis: 'weekly', score: 12.34, peakAt }),
    'health_latency_ms 800 is 8× its usual for Tuesday 14:00 UTC (expected 100, 12.3σ above)');
  assert.equal(describeEpisode({ series: 'net_bps', value: 10, expected: 100, basis: 'daily', score: -6, peakAt }),
    'net_bps 10 is 10× below its usual for 14:00 UTC (expected 100, 6σ below)');
  assert.equal(describeEpisode({ series: 'cpu_percent', value: 30, expected: 25, basis: 'recent', score: 5.5, peakAt }),
    'cpu_percent 30 is above its usual over the last hour (expected 25, 5.5σ above)');
});

test('the leader reads committed batches as they arrive, without waiting for the next evaluation round', async (t: TestContext) => {
  const db = await testDatabase(t);
  // 90 minutes of calm cpu before the hub starts: its warm start learns them.
  await agentSeen(db.client, 'web1', 'shop');
  await db.client.query(
    `INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent)
     SELECT date_trunc('minute', now()) - g * interval '1 minute', 'web1', 'shop', 20 + 2 * sin(g * 1.7) FROM generate_series(3, 92) g`);
  const dir = mkdtempSync(join(tmpdir(), 'observ-anomaly-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Rounds an hour apart: only a commit can make the detectors read the spike below in time.
  writeFileSync(join(dir, 'alerts.yml'), 'evaluation_interval: 1h\nleader_poll_interval: 100ms\ndefault_rules: false\n');
  const hub = await startHub({ databaseUrl: db.url, host: '127.0.0.1', port: 0, log: () => {}, alertsFile: join(dir, 'alerts.yml'), maintenance: false });
  t.after(() => hub.close());
  // The warm start closes episodes left open from before its window: seen closed, it has run.
  await db.client.query(`INSERT INTO alert_anomalies (vps_name, app_name, series, started_at, peak_at, value, expected, basis, score)
                         VALUES ('old', 'shop', 'net_bps', now() - interval '2 days', now() - interval '2 days', 1, 1, 'recent', 9)`);
  await eventually(async () => (await db.client.query(`SELECT 1 FROM alert_anomalies WHERE vps_name = 'old' AND ended_at IS NOT NULL`)).rowCount,
    'the warm start', 20_000);
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  await store(db.client, 'web1', 'shop', { metrics: [sample(new Date(minute - 120_000).toISOString(), { cpuPercent: 95 }), sample(new Date(minute - 60_000).toISOString(), { cpuPercent: 96 })] });
  const found = await eventually(async () => {
    const r = await getJson<{ anomalies: { series: string; value: number }[] }>(`${hub.url}/api/anomalies?open=true&vps=web1&series=cpu_percent`);
    return r.body.anomalies.length ? r.body.anomalies : undefined;
  }, 'the episode of the committed spike', 20_000);
  assert.equal(found[0]!.series, 'cpu_percent');
});
