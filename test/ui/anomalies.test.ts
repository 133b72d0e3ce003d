// The detail view shades anomaly episodes on the charts of their series (real Chromium, hub, PostgreSQL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, store, sample, probe, minutesAgo } from '../hub/fixtures.js';
import { dashboardDir, newPage, skip } from './browser.js';

test('the detail view shades an anomaly episode on its own chart only, and counts it', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir(), alerting: false });
  const now = Date.now();
  await store(db.client, 'vps-eu-1', 'shop', {
    metrics: Array.from({ length: 60 }, (_, i) => sample(minutesAgo(59 - i, now), { cpuPercent: i >= 30 && i < 35 ? 95 : 20 })),
    probes: Array.from({ length: 60 }, (_, i) => probe(minutesAgo(59 - i, now))),
  });
  await db.client.query(
    `INSERT INTO alert_anomalies (vps_name, app_name, series, started_at, ended_at, peak_at, value, expected, basis, score)
     VALUES ('vps-eu-1', 'shop', 'cpu_percent', now() - interval '29 minutes', now() - interval '24 minutes', now() - interval '28 minutes', 95, 20, 'recent', 30),
            ('vps-eu-2', 'shop', 'cpu_percent', now() - interval '29 minutes', NULL, now() - interval '28 minutes', 95, 20, 'recent', 30)`);
  await page.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  await page.locator('[data-testid=metric-charts] canvas').first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-chart="CPU %"]').getAttribute('data-anomalies'), '1');
  assert.equal(await page.locator('[data-chart="Memory %"]').getAttribute('data-anomalies'), '0', 'another series, another chart');
  assert.match((await page.locator('body').textContent())!, /1 anomaly shaded/);
});
