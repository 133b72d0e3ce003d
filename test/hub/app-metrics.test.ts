// The app's own processes through the hub: fleet rows, metric series (raw and hourly rollup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson, store, sample, minutesAgo } from './fixtures.js';
import type { MetricsResult, FleetRow } from '../../src/hub/api/types.js';
import type { AppSample } from '../../src/supervisor/messages.js';

const app = (values: Partial<AppSample> = {}): AppSample =>
  ({ source: 'unit:shop.service', processes: 3, cpuPercent: 2.5, rssMb: 120, threads: 14, openFiles: 40, restarts: 0, ...values });

test('fleet rows carry the app apart from the host: latest sample, restarts of the last 24 h', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'shop', { metrics: [
    sample(minutesAgo(25 * 60), { app: app({ restarts: 5 }) }), // older than a day: not counted
    sample(minutesAgo(60), { app: app({ restarts: 1 }) }),
    sample(minutesAgo(30), { app: app({ restarts: 2 }) }),
    sample(minutesAgo(1), { cpuPercent: 70, app: app({ cpuPercent: 3.25, rssMb: 118.5 }) }),
  ] });
  await store(db.client, 'vps-1', 'api', { metrics: [sample(minutesAgo(1), { cpuPercent: 70 })] }); // an agent from before app metrics
  const r = await getJson<{ fleet: FleetRow[] }>(`${hub.url}/api/fleet`);
  assert.equal(r.status, 200);
  const shop = r.body.fleet.find((f) => f.app === 'shop')!;
  assert.equal(shop.cpuPercent, 70, 'host CPU stays the host\'s');
  assert.deepEqual(shop.appMetrics, { source: 'unit:shop.service', processes: 3, cpuPercent: 3.25, rssMb: 118.5, threads: 14, openFiles: 40, restarts24h: 3 });
  assert.equal(r.body.fleet.find((f) => f.app === 'api')!.appMetrics, null);
});

test('metric series include the app\'s CPU, RSS, threads and open files, restarts summed per bucket, and the source', async (t) => {
  const { hub, db } = await hubFor(t);
  const now = Date.parse('2030-01-01T00:00:00Z') - 7 * 86_400_000;
  const at = (m: number) => new Date(now - m * 60_000).toISOString();
  await store(db.client, 'vps-1', 'shop', { metrics: [
    sample(at(10), { app: app({ source: 'cwd:/opt/deployments/shop/current', cpuPercent: 2, rssMb: 100, restarts: 1 }) }),
    sample(at(9), { app: app({ source: 'cwd:/opt/deployments/shop/current', cpuPercent: 4, rssMb: 140, restarts: 1 }) }),
    sample(at(1), { app: app({ cpuPercent: 6, rssMb: 90 }) }),
  ] });
  const q = `vps=vps-1&app=shop&from=${at(20)}&to=${new Date(now).toISOString()}&step=300`;
  const r = await getJson<MetricsResult>(`${hub.url}/api/metrics?${q}`);
  assert.equal(r.status, 200);
  const i = r.body.samples.indexOf(2);
  assert.ok(i >= 0, `buckets ${JSON.stringify(r.body.samples)}`);
  assert.equal(r.body.series.appCpu!.avg[i], 3);
  assert.equal(r.body.series.appCpu!.max[i], 4);
  assert.equal(r.body.series.appRssMb!.max[i], 140);
  assert.equal(r.body.series.appThreads!.max[i], 14);
  assert.equal(r.body.series.appOpenFiles!.max[i], 40);
  assert.equal(r.body.series.cpu!.avg[i], 10, 'the host series is unchanged');
  assert.equal(r.body.appRestarts![i], 2);
  assert.equal(r.body.appSource, 'unit:shop.service', 'the newest source in the range');
});

test('the hourly rollup folds the app columns, and long ranges read them from it', async (t) => {
  const { hub, db } = await hubFor(t);
  await db.client.query('SELECT observ_ensure_partitions()');
  const hourAgo = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000);
  const at = (m: number) => new Date(hourAgo.getTime() + m * 60_000).toISOString();
  await store(db.client, 'vps-1', 'shop', { metrics: [
    sample(at(1), { app: app({ cpuPercent: 2, rssMb: 100, restarts: 1 }) }),
    sample(at(2), { app: app({ cpuPercent: 6, rssMb: 300, restarts: 2 }) }),
  ] });
  await db.client.query('SELECT * FROM observ_rollup()');
  const h = await db.client.query('SELECT app_cpu_avg, app_cpu_max, app_rss_avg, app_rss_max, app_threads_max, app_open_files_max, app_restarts FROM vps_metrics_hourly');
  assert.deepEqual(h.rows, [{ app_cpu_avg: 4, app_cpu_max: 6, app_rss_avg: 200, app_rss_max: 300, app_threads_max: 14, app_open_files_max: 40, app_restarts: '3' }]);
  const to = new Date();
  const r = await getJson<MetricsResult>(`${hub.url}/api/metrics?vps=vps-1&app=shop&from=${new Date(to.getTime() - 30 * 86_400_000).toISOString()}&to=${to.toISOString()}&step=86400`);
  assert.equal(r.body.source, 'hourly');
  assert.equal(r.body.series.appCpu!.avg.find((v) => v !== null), 4);
  assert.equal(r.body.series.appRssMb!.max.find((v) => v !== null), 300);
  assert.equal(r.body.appRestarts!.reduce((a, b) => a + b, 0), 3);
});

test('restarts of the last 24 h are read through the partial index, not a day of samples', async (t) => {
  const { db } = await hubFor(t);
  await db.client.query('SET enable_seqscan = off');
  const plan = await db.client.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT sum(app_restarts) FROM vps_metrics
    WHERE vps_name = 'v' AND app_name = 'a' AND app_restarts > 0 AND timestamp > now() - interval '1 day'`);
  const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  // Partition index names are truncated: vps_metrics_YYYYMMDD_vps_name_app_name_timestamp_app_restar_idx.
  assert.match(text, /Index Only Scan using \S+app_restar\S*_idx/);
});
