// Every screen on every screen: each view at 1440×900 and 390×844, light and dark, without sideways
// scrolling and with AA contrast; live truth on an open page (a silenced agent turns stale without a
// reload, the hub going away shows a banner and freezes ages); charts over the chosen range with a
// shared cursor and zoom; the public status page. Screenshots go to test-results/.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { hubFor, store, sample, probe, logLine, minutesAgo } from '../hub/fixtures.js';
import { skip, newPage, screenshot, scratch, builtUi } from './browser.js';
import type { TestDatabase } from '../helpers/pg.js';

const VIEWPORTS = [{ width: 1440, height: 900 }, { width: 768, height: 1024 }, { width: 390, height: 844 }] as const; // desktop, tablet, phone
const THEMES = ['light', 'dark'] as const;

function alertsFile(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-screens-'));
  scratch.push(dir);
  const file = join(dir, 'alerts.yml');
  writeFileSync(file, body);
  return file;
}

/** An hour of 60 s samples and checks for shop (two failures), a failing billing, logs with an error. */
async function demoData(db: TestDatabase): Promise<void> {
  const now = Date.now();
  await store(db.client, 'vps-eu-1', 'shop', {
    metrics: Array.from({ length: 60 }, (_, i) => sample(minutesAgo(59 - i, now), { cpuPercent: 20 + 30 * Math.sin(i / 6) ** 2, memoryPercent: 40 + i / 3, loadAvg1m: 0.5 + (i % 10) / 10 })),
    probes: Array.from({ length: 60 }, (_, i) => probe(minutesAgo(59 - i, now), i === 20 || i === 21
      ? { success: false, statusCode: null, responseTimeMs: 5000, errorMessage: 'timeout after 5000 ms' } : { responseTimeMs: 20 + (i % 7) * 3 })),
    logs: [logLine(minutesAgo(3, now), 'payment accepted for order 17', { context: { action: 'checkout' } }),
      logLine(minutesAgo(2, now), 'payment gateway timeout for order 18', { level: 'ERROR', context: { order_id: 18 } }),
      logLine(minutesAgo(1, now), 'cache warmed', { level: 'WARN' })],
  });
  await store(db.client, 'vps-eu-2', 'billing-with-a-rather-long-application-name', {
    metrics: [sample(minutesAgo(0, now), { cpuPercent: 35, diskPercent: 94 })],
    probes: [1, 0.5, 0].map((m) => probe(minutesAgo(m, now), { url: 'https://billing.internal.example.com/api/v2/health/deep-check', success: false, statusCode: 503, errorMessage: 'HTTP 503' })),
  });
}

async function noSideways(page: Page, what: string): Promise<void> {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(scroll <= inner, `${what}: page is ${scroll} px wide in a ${inner} px window`);
}

/** WCAG contrast of an element's text against the first opaque background behind it. */
async function contrastOf(page: Page, selector: string): Promise<number[]> {
  return page.$$eval(selector, (els) => els.map((e) => {
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    let n: Element | null = e;
    let bg = 'rgb(255, 255, 255)';
    while (n) {
      const c = getComputedStyle(n).backgroundColor;
      const parts = rgb(c);
      if (parts.length >= 3 && (parts.length < 4 || parts[3]! > 0.9)) { bg = c; break; }
      n = n.parentElement;
    }
    const a = lum(rgb(getComputedStyle(e).color));
    const b = lum(rgb(bg));
    return Math.round(100 * (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) / 100;
  }));
}

test('every view at 1440×900, 768×1024 and 390×844, light and dark: no sideways scrolling, AA contrast, screenshots', { skip, timeout: 240_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, {
    uiDir: await builtUi(),
    alertsFile: alertsFile('evaluation_interval: 200ms\nrules:\n  - name: health-check-failing\n    failures: 3\n    successes: 2\n'),
    statusPage: { title: 'Acme status', services: [{ name: 'Shop', app: 'shop' }, { name: 'Billing', app: 'billing-with-a-rather-long-application-name' }] },
  });
  await demoData(db);
  const views: [string, string, string][] = [
    ['fleet', '/#/', '[data-testid=fleet-card][data-status=down]'],
    ['detail', '/#/vps/vps-eu-1/shop', '[data-testid=heartbeat]'],
    ['logs', '/#/logs', '[data-testid=log-row]'],
    ['alerts', '/#/alerts', '[data-testid=current-problems] tr[data-status=firing]'],
    ['notfound', '/#/no/such/page', '[data-testid=state-notfound]'],
    ['noapp', '/#/vps/vps-eu-9/ghost', '[data-testid=state-notfound]'],
    ['status', '/status', '[data-testid=status-service]'],
  ];
  const page = await newPage(t);
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme });
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      for (const [name, path, ready] of views) {
        await page.goto(hub.url + path);
        await page.locator(ready).first().waitFor({ timeout: 20_000 });
        await page.waitForTimeout(150); // charts size themselves to their boxes
        await noSideways(page, `${name} at ${vp.width}px, ${theme}`);
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert.equal(bg === 'rgb(15, 20, 25)', theme === 'dark', `${name}: the ${theme} scheme is followed (body ${bg})`);
        if (vp.width === 1440) {
          for (const sel of ['.badge', '.muted', '.level[data-level=ERROR]', '.checks .fail', '.checks .ok', 'nav#nav a', '.overall']) {
            for (const ratio of await contrastOf(page, sel)) assert.ok(ratio >= 4.5, `${name} ${theme}: ${sel} contrast ${ratio} < 4.5`);
          }
        }
        await screenshot(page, `${name}-${vp.width}-${theme}.png`);
      }
    }
  }
  // Unknown routes and apps say so; they are not the fleet or an empty chart.
  await page.goto(hub.url + '/#/vps/vps-eu-9/ghost');
  assert.match((await page.locator('[data-testid=state-notfound]').textContent())!, /No agent has reported "ghost" on "vps-eu-9"/);
  // The toggle wins over the system preference and survives a reload.
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(hub.url + '/#/');
  await page.locator('#pref-theme').selectOption('dark');
  await page.reload();
  await page.locator('[data-testid=fleet-card]').first().waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(15, 20, 25)');
  await page.locator('#pref-theme').selectOption('auto');
  // Every control has a label; the live status and summaries are announced.
  assert.equal(await page.locator('select:not([id]), input:not([id])').count(), 0);
  for (const id of ['pref-theme', 'pref-time']) assert.equal(await page.locator(`label[for=${id}]`).count(), 1);
  assert.equal(await page.locator('#live-status').getAttribute('aria-live'), 'polite');
  // Focus is visible: the keyboard's first stops are the skip link, then the header's links, outlined.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => { const s = getComputedStyle(document.activeElement!); return `${s.outlineStyle} ${s.outlineWidth}`; });
  assert.equal(outline, 'solid 2px', 'a focused link is outlined');
  assert.equal(await page.locator('[data-testid=fleet-summary]').getAttribute('aria-live'), 'polite');
});

test('a silenced agent turns stale on the open page without a reload, recovers, and a vanished hub shows a banner with frozen ages', { skip, timeout: 120_000 }, async (t) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi(), liveTickMs: 1000, alertsFile: alertsFile('evaluation_interval: 500ms\n') });
  const beat = () => store(db.client, 'vps-eu-1', 'shop', { metrics: [sample(new Date().toISOString())], probes: [probe(new Date().toISOString())] }, 1);
  await beat();
  const page = await newPage(t);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(hub.url + '/#/');
  const shop = page.locator('[data-testid=fleet-card][data-key^="vps-eu-1"]');
  await shop.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  for (let i = 0; i < 3; i++) { await beat(); await page.waitForTimeout(1000); } // an agent reporting every second
  const died = Date.now();
  await shop.and(page.locator('[data-status=stale]')).waitFor({ timeout: 25_000 });
  const tookMs = Date.now() - died;
  process.stdout.write(`# agent death → card stale: ${tookMs} ms (1 s collection interval, agent-silent after 3 intervals, 500 ms evaluation, 1 s live tick)\n`);
  assert.ok(tookMs < 20_000, `stale after ${tookMs} ms`);
  assert.match((await page.locator('[data-testid=fleet-summary]').textContent())!, /1 stale/);
  assert.match((await shop.locator('.seen').textContent())!, /silent for/);
  await screenshot(page, 'live-stale-390.png');

  await beat();
  await shop.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  // The episode is marked on the charts: agent-silent fired, then resolved.
  const detail = await newPage(t);
  await detail.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  // (At least 2: on a loaded machine the page load itself may outlast 3 intervals and add an episode.)
  const marked = detail.locator('[data-testid=chart-source]', { hasText: /alert events? marked \(solid: fired, dashed: resolved\)/ });
  await marked.waitFor({ timeout: 10_000 });
  assert.ok(Number(/(\d+) alert events? marked/.exec((await marked.textContent())!)![1]) >= 2, 'fired and resolved are marked');
  await detail.close();

  await hub.close();
  await page.locator('#banner:not([hidden])').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('#banner').textContent())!, /hub is unreachable since .*not updating/);
  assert.equal(await page.evaluate(() => document.body.classList.contains('offline')), true);
  // One age render may already be under way when the banner shows; from the next second on, nothing moves.
  await page.waitForTimeout(1100);
  const seen = await shop.locator('.seen').textContent();
  await page.waitForTimeout(2500);
  assert.equal(await shop.locator('.seen').textContent(), seen, 'ages are frozen while the hub is away');
  assert.equal(await page.locator('#live-status').textContent(), 'offline');
  await screenshot(page, 'live-offline-390.png');
});

test('charts span the chosen range with gaps, share one cursor, zoom by dragging and reset with Back; the time format is one switch', { skip, timeout: 90_000 }, async (t) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi() });
  await demoData(db);
  const page = await newPage(t);
  await page.setViewportSize({ width: 1440, height: 900 });
  // A slow network shows the layout (skeletons), not a blank page.
  await page.route('**/api/metrics?*', async (route) => { await new Promise((r) => setTimeout(r, 1200)); await route.continue(); }, { times: 1 });
  await page.goto(`${hub.url}/#/vps/vps-eu-1/shop?range=86400`);
  await page.locator('[data-testid=skeleton]').first().waitFor({ timeout: 5000 });
  await screenshot(page, 'detail-loading-1440.png');
  await page.locator('[data-testid=metric-charts] canvas').first().waitFor({ timeout: 10_000 });
  // 24 h over an hour of 60 s samples: ~1,000 buckets of 87 s of which ~40 hold samples, the rest gaps.
  const source = (await page.locator('[data-testid=chart-source]').textContent())!;
  assert.match(source, /^\d{2} of 99\d buckets have samples · raw samples in 1 min buckets \(the agent samples every 1 min\)/);
  await page.locator('[data-testid=heartbeat] span').first().waitFor();
  assert.equal(await page.locator('[data-testid=heartbeat] span').count(), 60);
  assert.equal(await page.locator('[data-testid=heartbeat] span[data-state=fail]').count(), 2);
  assert.match((await page.locator('[data-testid=uptime-windows]').textContent())!, /24h96\.67%7d96\.67%30d96\.67%90d96\.67%/);

  // One crosshair: hovering one chart shows the tooltip in every chart at the same moment.
  const charts = page.locator('.chart .u-over');
  const n = await charts.count();
  assert.ok(n >= 7, `${n} charts`);
  const box = (await charts.first().boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2);
  await page.waitForTimeout(200);
  const tips = await page.locator('.chart-tip:not([hidden])').allTextContents();
  assert.equal(tips.length, n, 'a tooltip in every chart');
  assert.equal(new Set(tips.map((x) => x.replace(/(avg|max|p95|rx|tx|read|write|failures|no samples).*/, ''))).size, 1, 'all at the same time');
  await screenshot(page, 'detail-cursor-1440.png');

  // Drag to zoom: the URL holds the zoomed range; Back returns to the 24 h view.
  await page.mouse.move(box.x + box.width * 0.90, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.99, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL(/from=\d+&to=\d+/);
  await page.locator('[data-testid=zoom-note]', { hasText: 'Zoomed to' }).waitFor();
  await page.locator('[data-testid=metric-charts] canvas').first().waitFor();
  await screenshot(page, 'detail-zoomed-1440.png');
  await page.goBack();
  await page.waitForURL((u) => !u.hash.includes('from='));
  await page.locator('[data-testid=zoom-note]', { hasText: 'Drag across' }).waitFor();

  // One time format: UTC everywhere (the failures table), 24 h without AM/PM.
  await page.locator('#pref-time').selectOption('utc');
  await page.locator('table.failures td', { hasText: 'UTC' }).first().waitFor();
  await page.locator('#pref-time').selectOption('24h');
  await page.locator('table.failures td').first().waitFor();
  assert.doesNotMatch((await page.locator('table.failures').textContent())!, /AM|PM|UTC/);
  await page.locator('#pref-time').selectOption('locale');
});
