// Deploy markers in the dashboard (real Chromium): a flag on every chart of the detail view, the list
// of deploys, and a deploy recorded while the page is open (observ deploy's INSERT + NOTIFY) appearing
// without a reload. Screenshots at desktop and phone sizes go to test-results/.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, store, sample, probe, minutesAgo } from '../hub/fixtures.js';
import { skip, newPage, screenshot, builtUi } from './browser.js';
import { recordDeploy } from '../../src/ops/deploy.js';

test('deploys appear as flagged markers on every chart and as a list in the detail view, live, on desktop and phone', { skip, timeout: 180_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi() });
  const now = Date.now();
  await store(db.client, 'vps-eu-1', 'shop', {
    metrics: Array.from({ length: 60 }, (_, i) => sample(minutesAgo(59 - i, now), { cpuPercent: i < 35 ? 20 : 65, memoryPercent: 40 + i / 3,
      app: { source: 'unit:shop.service', processes: 2, cpuPercent: i < 35 ? 5 : 30, rssMb: 120, threads: 12, openFiles: 40, restarts: 0 } })),
    probes: Array.from({ length: 60 }, (_, i) => probe(minutesAgo(59 - i, now), { responseTimeMs: i < 35 ? 20 : 180 })),
  });
  await db.client.query(`INSERT INTO deployments (timestamp, vps_name, app_name, previous_release, release, version, source) VALUES
    ($1, 'vps-eu-1', 'shop', '/opt/deployments/shop/releases/2026-12-05_1f2e3d', '/opt/deployments/shop/releases/2026-12-06_a1b2c3', '1.4.2', 'symlink'),
    ($2, 'vps-eu-1', 'shop', NULL, '/opt/deployments/shop/releases/2026-12-05_1f2e3d', '1.4.1', 'cli'),
    ($3, 'vps-eu-2', 'shop', NULL, NULL, 'other-vps', 'cli')`, [minutesAgo(25, now), minutesAgo(50, now), minutesAgo(20, now)]);

  const page = await newPage(t);
  for (const viewport of [{ width: 1440, height: 900 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(viewport);
    await page.goto('about:blank'); // a fresh page at this size (a hash-only navigation would keep the old one)
    await page.goto(`${hub.url}/#/vps/vps-eu-1/shop?range=3600`);
    await page.waitForSelector('[data-testid=deploy-row]');
    const rows = await page.$$eval('[data-testid=deploy-row]', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td")).slice(1).map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['1.4.2', '1.4.1', '/opt/deployments/shop/releases/2026-12-06_a1b2c3', 'agent (release symlink)'],
      ['1.4.1', '–', '/opt/deployments/shop/releases/2026-12-05_1f2e3d', 'observ deploy'],
    ], 'only this vps/app, newest first');
    await page.waitForSelector('[data-chart="CPU %"] .marker-flag');
    const perChart = await page.$$eval('.chart', (charts) => charts.filter((c) => c.querySelector('.uplot'))
      .map((c) => Array.from(c.querySelectorAll(".marker-flag[data-kind=deploy]")).map((f) => f.getAttribute('title'))));
    assert.ok(perChart.length >= 7, `every chart, the app's, the host's and the latency chart (${perChart.length})`);
    for (const flags of perChart) assert.deepEqual(flags.sort(), ['deploy 1.4.1', 'deploy 1.4.2']);
    assert.match(await page.textContent('[data-testid=chart-source]') ?? '', /2 deploys marked/);
    const width = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(width <= 0, `no sideways scrolling at ${viewport.width} px (${width} px too wide)`);
    // The tooltip names the deploy when the cursor is at its marker.
    const box = (await page.$('[data-chart="CPU %"] .u-over'))!;
    await box.scrollIntoViewIfNeeded();
    const flag = (await page.$('[data-chart="CPU %"] .marker-flag[title="deploy 1.4.2"]'))!;
    const [b, f] = [await box.boundingBox(), await flag.boundingBox()];
    await page.mouse.move(f!.x + f!.width / 2, b!.y + b!.height / 2);
    await page.waitForSelector('[data-chart="CPU %"] .chart-tip .tip-marker[data-kind=deploy]');
    assert.equal(await page.textContent('[data-chart="CPU %"] .chart-tip .tip-marker'), 'deploy 1.4.2');
    await screenshot(page, `deploys-detail-${viewport.width}.png`);
  }

  // Live: a deploy recorded now reaches the open page without a reload.
  await recordDeploy(db.client, { app: 'shop', vps: 'vps-eu-1', version: '1.4.3-hotfix', release: null });
  await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=deploy-row] strong")).some((s) => s.textContent === '1.4.3-hotfix'),
    undefined, { timeout: 30_000 });
  assert.equal(await page.$$eval('[data-testid=deploy-row]', (r) => r.length), 3);
});

test('a range without deploys says how they are recorded', { skip, timeout: 120_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi() });
  await store(db.client, 'vps-eu-1', 'blog', { metrics: [sample(minutesAgo(1))] });
  const page = await newPage(t);
  await page.goto(`${hub.url}/#/vps/vps-eu-1/blog`);
  await page.waitForSelector('[data-testid=no-deploys]');
  assert.match(await page.textContent('[data-testid=no-deploys]') ?? '', /No deploys in this range\. .*observ deploy blog/);
  assert.equal(await page.$$eval('.marker-flag', (f) => f.length), 0);
});
