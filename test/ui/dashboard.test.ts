// Browser tests of the dashboard: Debian's Chromium driven by playwright-core, against a real hub and
// PostgreSQL. Skipped (with the reason) only when /usr/bin/chromium is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, store, sample, probe, logLine, minutesAgo } from '../hub/fixtures.js';
import { dashboardDir, newPage, screenshot, skip } from './browser.js';

test('the fleet view renders every agent and changes when a new batch commits', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir() });
  await store(db.client, 'vps-eu-1', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 11 })], probes: [probe(minutesAgo(0))] });
  await store(db.client, 'vps-eu-2', 'billing', { metrics: [sample(minutesAgo(0), { cpuPercent: 35, diskPercent: 94 })],
    probes: [probe(minutesAgo(0), { success: false, statusCode: 503, errorMessage: 'HTTP 503' })] });
  await page.goto(hub.url + '/');
  const shopCpu = page.locator('[data-testid=fleet-card][data-key^="vps-eu-1"] [data-metric=cpu]');
  await shopCpu.filter({ hasText: '11.0%' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid=fleet-card]').count(), 2);
  assert.equal(await page.locator('[data-testid=fleet-card][data-key^="vps-eu-2"]').getAttribute('data-status'), 'pending', 'one failed check is pending, not down');
  await page.locator('#live-status[data-state=open]').waitFor({ timeout: 10_000 });

  await store(db.client, 'vps-eu-1', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 66 })] });
  await shopCpu.filter({ hasText: '66.0%' }).waitFor({ timeout: 10_000 });
  assert.equal(await shopCpu.textContent(), '66.0%');
  await screenshot(page, 'hub-fleet.png');
});

test('the detail view draws metric and health charts for a vps/app', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir() });
  const now = Date.now();
  const metrics = Array.from({ length: 60 }, (_, i) => sample(minutesAgo(59 - i, now), {
    cpuPercent: 20 + 30 * Math.sin(i / 6) ** 2, memoryPercent: 40 + i / 3, netRxBps: 2e5 + 1e4 * i, netTxBps: 1e5, loadAvg1m: 0.5 + (i % 10) / 10,
  }));
  const probes = Array.from({ length: 60 }, (_, i) => probe(minutesAgo(59 - i, now), i === 20 || i === 21
    ? { success: false, statusCode: null, responseTimeMs: 5000, errorMessage: 'timeout after 5000 ms' } : { responseTimeMs: 20 + (i % 7) * 3 }));
  await store(db.client, 'vps-eu-1', 'shop', { metrics, probes });
  await page.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  await page.locator('[data-testid=metric-charts] canvas').first().waitFor({ timeout: 10_000 });
  assert.ok(await page.locator('[data-testid=metric-charts] .chart').count() >= 5, 'cpu, memory, disk, load, network charts');
  assert.match((await page.locator('[data-testid=uptime]').textContent())!, /uptime 96\.67% \(2 of 60 failed\)/);
  assert.match((await page.locator('[data-testid=health-history]').textContent())!, /timeout after 5000 ms/);
  await screenshot(page, 'hub-detail.png');
});

test('two apps on one VPS: each card shows its own processes apart from the shared host, and the detail view charts them', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir() });
  const host = { cpuPercent: 42, memoryPercent: 61, diskPercent: 55 };
  const now = Date.now();
  const series = (app: (i: number) => NonNullable<Parameters<typeof sample>[1]>['app']) =>
    Array.from({ length: 30 }, (_, i) => sample(minutesAgo(29 - i, now), { ...host, app: app(i) }));
  await store(db.client, 'vps-eu-1', 'shop', { metrics: series((i) => ({ source: 'unit:shop.service', processes: 3, cpuPercent: 3 + (i % 5),
    rssMb: 120 + i, threads: 14, openFiles: 41, restarts: i === 10 ? 1 : 0 })) });
  await store(db.client, 'vps-eu-1', 'billing', { metrics: series(() => ({ source: 'cwd:/opt/deployments/billing/current', processes: 1,
    cpuPercent: 0.4, rssMb: 64, threads: 7, openFiles: null, restarts: 0 })) });
  await page.goto(hub.url + '/');
  const card = (app: string) => page.locator('[data-testid=fleet-card]').filter({ has: page.locator('a.app', { hasText: new RegExp(`^${app}$`) }) });
  await card('shop').locator('[data-testid=app-metrics]').waitFor({ timeout: 10_000 });
  assert.equal(await card('shop').locator('[data-testid=app-metrics]').textContent(), 'appCPU 7.0% · RSS 149 MB · 14 threads · 41 open files · 1 restart');
  assert.equal(await card('billing').locator('[data-testid=app-metrics]').textContent(), 'appCPU 0.4% · RSS 64 MB · 7 threads · 0 restarts');
  // The host line is the same on both cards, and labelled as the host's.
  for (const app of ['shop', 'billing']) {
    assert.equal(await card(app).locator('[data-scope=host]').textContent(), 'hostvps-eu-1');
    assert.equal(await card(app).locator('[data-metric=cpu]').textContent(), '42.0%');
  }
  await screenshot(page, 'hub-fleet-app-vs-host.png');

  await page.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  await page.locator('[data-testid=app-charts] canvas').first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid=app-charts] .chart').count(), 3, 'app CPU, RSS, threads and open files');
  assert.match((await page.locator('[data-testid=app-heading]').textContent())!, /app systemd unit shop\.service · 1 restart in this range/);
  await screenshot(page, 'hub-detail-app-vs-host.png');
});

test('a log search finds a line and shows its context as formatted JSON', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir() });
  await store(db.client, 'vps-eu-1', 'shop', { logs: [
    logLine(minutesAgo(3), 'payment accepted for order 17'),
    logLine(minutesAgo(2), 'payment gateway timeout for order 18', { level: 'ERROR', context: { order_id: 18, gateway: 'acme' } }),
    logLine(minutesAgo(1), 'cache warmed'),
  ] });
  await page.goto(`${hub.url}/#/logs`);
  await page.locator('[data-testid=log-row]').nth(2).waitFor({ timeout: 10_000 });
  await page.fill('[data-testid=log-query]', 'gateway timeout');
  await page.click('[data-testid=log-search] button[type=submit]');
  await page.locator('[data-testid=log-status]', { hasText: '1 line' }).waitFor({ timeout: 10_000 });
  const rows = page.locator('[data-testid=log-row]');
  assert.equal(await rows.count(), 1);
  assert.equal(await rows.first().locator('[data-testid=log-message]').textContent(), 'payment gateway timeout for order 18');
  await rows.first().click();
  const contextText = (await rows.first().locator('[data-testid=log-context]').textContent())!;
  assert.deepEqual(JSON.parse(contextText), { order_id: 18, gateway: 'acme' });
  assert.match(contextText, /^\{\n {2}"/, 'indented, one key per line');
  assert.match(page.url(), /#\/logs\?q=gateway\+timeout/);
});

const HOSTILE = [
  '<img src=x onerror="window.__pwned=(window.__pwned||0)+1"> pwnprobe img',
  'pwnprobe script </script><script>window.__pwned=(window.__pwned||0)+1</script>',
  'pwnprobe rlo invoice_\u202Efdp.exe',
];

test('hostile log lines stay inert text, while the same probe fires on a page that would interpret them', { skip }, async (t) => {
  const page = await newPage(t);
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir() });
  await store(db.client, 'vps-eu-1', 'shop', { logs: HOSTILE.map((m, i) => logLine(minutesAgo(3 - i), m, { context: { html: HOSTILE[0]! } })) });
  await page.goto(`${hub.url}/#/logs?q=pwnprobe`);
  await page.locator('[data-testid=log-status]', { hasText: '3 lines' }).waitFor({ timeout: 10_000 });
  for (const row of await page.locator('[data-testid=log-row]').all()) await row.click(); // open the context too
  await page.waitForTimeout(500); // an image error handler would have run by now
  const shown = await page.locator('[data-testid=log-message]').allTextContents();
  assert.deepEqual(shown, [
    'pwnprobe rlo invoice_⟦U+202E⟧fdp.exe',
    HOSTILE[1],
    HOSTILE[0],
  ]);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no probe fired on the dashboard');
  assert.equal(await page.locator('#main img, #main script').count(), 0, 'no element was created from log text');
  assert.equal(await page.locator('[data-testid=log-context]').first().textContent(), JSON.stringify({ html: HOSTILE[0] }, null, 2));
  await screenshot(page, 'hub-logs-hostile.png');

  // Positive control: the same probes fire where text is interpreted as markup (no CSP, innerHTML /
  // inline script source), so "nothing fired" above means the dashboard defused them.
  const control = await newPage(t);
  await control.setContent('<div id="sink"></div>');
  await control.evaluate((html) => { document.getElementById('sink')!.innerHTML = html; }, HOSTILE[0]!);
  await control.waitForFunction(() => (window as unknown as { __pwned?: number }).__pwned === 1, undefined, { timeout: 5000 });
  const control2 = await newPage(t);
  await control2.setContent(`<script>var line = "${HOSTILE[1]}";</script>`);
  assert.equal(await control2.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), 1, 'the </script> probe breaks out of a script block');
});
