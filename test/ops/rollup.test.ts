import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { runRollup } from '../../src/ops/rollup.js';
import { applyRetention } from '../../src/ops/retention.js';
import type { PgClient } from '../../src/db/pg.js';
import { runCli } from './run-cli.js';


/** Metrics every minute of the hour `hoursAgo` hours before the current one, cpu 1..60. */
async function metricsHour(client: PgClient, hoursAgo: number, vps = 'vps1'): Promise<void> {
  await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, memory_percent, disk_percent, load_avg_1m, net_rx_bps, net_tx_bps)
    SELECT date_trunc('hour', now()) - $1 * interval '1 hour' + (g - 1) * interval '1 minute', $2, 'shop', g, 50, 70, g / 10.0, 1000, 2000
      FROM generate_series(1, 60) g`, [hoursAgo, vps]);
}

/** 100 health checks in one completed hour, latencies 1..100 ms, every tenth failing. */
async function healthHour(client: PgClient, hoursAgo: number): Promise<void> {
  await client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, response_time_ms, success)
    SELECT date_trunc('hour', now()) - $1 * interval '1 hour' + g * interval '30 seconds', 'vps1', 'shop', 'http://127.0.0.1:8000/health',
           CASE WHEN g % 10 = 0 THEN 500 ELSE 200 END, g, g % 10 <> 0
      FROM generate_series(1, 100) g`, [hoursAgo]);
}

test('folds each completed hour of metrics into one hourly row per vps and app', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(3, 1)');
  await metricsHour(db.client, 3);
  await metricsHour(db.client, 3, 'vps2');
  const results = await runRollup(db.client);
  assert.deepEqual(results.find((r) => r.source === 'vps_metrics'), { source: 'vps_metrics', ranges: 1, hours: 1, rowsUpserted: 2 });
  const r = await db.client.query(`SELECT samples, cpu_avg, cpu_min, cpu_max, memory_avg, disk_max, load1_max, net_rx_avg, net_tx_avg,
                                          bucket = date_trunc('hour', now()) - interval '3 hours' AS right_bucket
                                     FROM vps_metrics_hourly WHERE vps_name = 'vps1'`);
  assert.equal(r.rowCount, 1);
  const row = r.rows[0];
  assert.equal(row.samples, 60);
  assert.equal(row.cpu_avg, 30.5);
  assert.equal(row.cpu_min, 1);
  assert.equal(row.cpu_max, 60);
  assert.equal(row.memory_avg, 50);
  assert.equal(row.disk_max, 70);
  assert.ok(Math.abs(row.load1_max - 6) < 1e-6);
  assert.equal(row.net_rx_avg, 1000);
  assert.equal(row.net_tx_avg, 2000);
  assert.equal(row.right_bucket, true);
});

test('summarises health checks per url and hour with failures and latency percentiles', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(3, 1)');
  await healthHour(db.client, 2);
  await runRollup(db.client);
  const r = await db.client.query('SELECT checks, failures, latency_avg, latency_p50, latency_p95, latency_p99, latency_max FROM health_checks_hourly');
  assert.equal(r.rowCount, 1);
  const row = r.rows[0];
  assert.equal(row.checks, 100);
  assert.equal(row.failures, 10);
  assert.equal(row.latency_avg, 50.5);
  assert.equal(row.latency_p50, 50.5);
  assert.ok(Math.abs(row.latency_p95 - 95.05) < 1e-9, String(row.latency_p95));
  assert.ok(Math.abs(row.latency_p99 - 99.01) < 1e-9, String(row.latency_p99));
  assert.equal(row.latency_max, 100);
});

test('a second run rebuilds nothing, and late rows rebuild only their hour', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(3, 1)');
  await metricsHour(db.client, 3);
  await metricsHour(db.client, 1);
  const first = (await runRollup(db.client)).find((r) => r.source === 'vps_metrics')!;
  assert.equal(first.hours, 2);
  assert.equal(first.ranges, 2, 'hours 3 and 1 are not consecutive: two ranges');

  // Runs within the slack re-read the last minutes of ingestion; an idle fleet's later runs rebuild nothing.
  await db.client.query("UPDATE observ_maintenance SET watermark = now() + interval '1 hour' WHERE job LIKE 'rollup:%'");
  assert.equal((await runRollup(db.client)).find((r) => r.source === 'vps_metrics')!.hours, 0);

  // A spool replayed after an outage: a row for three hours ago, stored now.
  await db.client.query("UPDATE observ_maintenance SET watermark = now() - interval '1 hour' WHERE job LIKE 'rollup:%'");
  await db.client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent)
                         VALUES (date_trunc('hour', now()) - interval '3 hours' + interval '30 seconds', 'vps1', 'shop', 100)`);
  await db.client.query("UPDATE vps_metrics SET ingested_at = now() - interval '2 hours' WHERE cpu_percent < 100");
  const late = (await runRollup(db.client)).find((r) => r.source === 'vps_metrics')!;
  assert.equal(late.hours, 1);
  const r = await db.client.query(`SELECT samples, cpu_max FROM vps_metrics_hourly WHERE bucket = date_trunc('hour', now()) - interval '3 hours'`);
  assert.deepEqual(r.rows[0], { samples: 61, cpu_max: 100 });
});

test('rows of the hour in progress are left for the run after it completes', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(3, 1)');
  await metricsHour(db.client, 2);
  // Half an hour ahead: in the current hour, or the next one, but never in a completed hour.
  await db.client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES (now() + interval '30 minutes', 'vps1', 'shop', 5)`);
  await runRollup(db.client);
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM vps_metrics_hourly')).rows[0].n), 1);
  // The watermark stays before that row, so the next run after its hour still sees it.
  const w = await db.client.query(`SELECT m.watermark <= (SELECT min(ingested_at) FROM vps_metrics WHERE timestamp > now()) AS held
                                     FROM observ_maintenance m WHERE job = 'rollup:vps_metrics'`);
  assert.equal(w.rows[0].held, true);
});

test('hourly rows are kept two years by default, then removed by retention', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(`INSERT INTO vps_metrics_hourly (bucket, vps_name, app_name, samples) VALUES
                         (date_trunc('hour', now()) - interval '800 days', 'vps1', 'shop', 60),
                         (date_trunc('hour', now()) - interval '700 days', 'vps1', 'shop', 60)`);
  const actions = await applyRetention(db.client);
  assert.ok(actions.some((a) => a.action === 'delete' && a.target === 'vps_metrics_hourly' && a.rows === 1));
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM vps_metrics_hourly')).rows[0].n), 1);
});

test('observ db rollup reports what it rebuilt', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(3, 1)');
  await metricsHour(db.client, 2);
  await healthHour(db.client, 2);
  const out = await runCli(['db', 'rollup'], { ...process.env, OBSERV_DB_URL: db.url });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /vps_metrics: 1 hour rebuilt in 1 range, 1 hourly row written/);
  assert.match(out.stdout, /health_checks: 1 hour rebuilt in 1 range, 1 hourly row written/);
});

test('migrations 010 and 011 can be applied again without error or change', async (t) => {
  const db = await testDatabase(t);
  const { listMigrations } = await import('../../src/db/migrate.js');
  const mine = listMigrations().filter((m) => m.version >= 10 && m.version <= 19);
  assert.deepEqual(mine.map((m) => m.name), ['010_rollups', '011_retention']);
  await db.client.query("UPDATE observ_retention SET keep_days = 14 WHERE table_name = 'log_entries'");
  for (const m of mine) await db.client.query(m.sql);
  // A policy changed by the owner survives a re-run.
  const r = await db.client.query("SELECT keep_days FROM observ_retention WHERE table_name = 'log_entries'");
  assert.equal(r.rows[0].keep_days, 14);
});
