// The alerts view in Chromium, at 1440×900 and 390×844, against a real hub, PostgreSQL and webhook
// receiver: one list of current problems (one rule each), live relative times, channel status per
// rule, a test notification, an acknowledgement with a note, and a flaky check's flaps folded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers/pg.js';
import { hubFor, store, sample, probe, minutesAgo } from '../hub/fixtures.js';
import { agentSeen, checks, httpReceiver } from '../alerting/helpers.js';
import { dashboardDir, newPage, screenshot, scratchFile, skip } from './browser.js';

test('the alerts view lists each problem once under its rule, with live times, channel status, a test button, acknowledgements and folded flaps', { skip }, async (t) => {
  const hook = await httpReceiver(t);
  const alertsFile = scratchFile('alerts.yml', `evaluation_interval: 200ms
leader_poll_interval: 200ms
channels:
  - { name: hook, type: webhook, url: "${hook.url}/in" }
rules:
  - { name: health-check-failing, failures: 2, successes: 2, app: shop }
  - { name: flaky-billing, type: health_check, failures: 3, successes: 1, app: billing }
  - { name: disk-watch, type: metric, condition: "disk_percent > 99", channels: [] }
`);
  const page = await newPage(t);
  await page.setViewportSize({ width: 1440, height: 900 });
  const { hub, db } = await hubFor(t, { uiDir: await dashboardDir(), alertsFile });
  const failed = { success: false, statusCode: 503, errorMessage: 'HTTP 503' };
  await store(db.client, 'vps-eu-1', 'shop', {
    metrics: [sample(minutesAgo(0))],
    probes: [probe(minutesAgo(2), failed), probe(minutesAgo(1), failed),
      probe(minutesAgo(2), { ...failed, url: 'http://localhost:8000/ready' }), probe(minutesAgo(1), { ...failed, url: 'http://localhost:8000/ready' })],
  });
  // A flaky check on billing: three times pending, then cleared; held back, never sent.
  await agentSeen(db.client, 'vps-eu-2', 'billing');
  const count = async (kind: string) => Number((await db.client.query('SELECT count(*) AS n FROM alert_events WHERE kind = $1', [kind])).rows[0].n);
  for (let i = 1; i <= 3; i++) {
    await checks(db.client, 'vps-eu-2', 'billing', 'http://billing/health', [false]);
    await eventually(async () => (await count('pending')) >= i, `pending #${i}`);
    await checks(db.client, 'vps-eu-2', 'billing', 'http://billing/health', [true]);
    await eventually(async () => (await count('cleared')) >= i, `cleared #${i}`);
  }

  await page.goto(hub.url + '/');
  const firing = page.locator('[data-testid=fleet-card][data-key^="vps-eu-1"] [data-testid=firing-alerts]');
  await firing.waitFor({ timeout: 20_000 });
  assert.equal(await firing.textContent(), '⚠ 2 alerts firing: health-check-failing ×2', 'each rule named once');
  await firing.click();

  const rows = page.locator('[data-testid=current-problems] [data-testid=problem-row]');
  await rows.nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('h2', { hasText: 'Current problems' }).count(), 1, 'one list of current problems');
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.rule)), ['health-check-failing', 'health-check-failing']);
  assert.match((await rows.first().textContent()) ?? '', /firing.*health-check-failing.*vps-eu-1\/shop.*HTTP 503.*sent to hook/);
  assert.match((await page.locator('[data-testid=alerts-summary]').textContent()) ?? '', /^2 firing · 0 pending · 3 flaps held back in 24 h$/);

  // Channels: the configured one with its status and a test button; the rule without one says so.
  const rulesText = (await page.locator('[data-testid=alert-rules]').textContent()) ?? '';
  assert.match(rulesText, /health-check-failing — fires after 2 failed checks in a row.* · notifies hook/);
  assert.match(rulesText, /disk-watch — disk_percent > 99.* · no channel configured \(add "channels: \[hook\]" to it at .*alerts\.yml:8\)/);
  assert.match(rulesText, /flaky-billing .* · 3 flaps held back in 24 h/);
  await page.click('[data-testid=alert-channels] [data-channel=hook] [data-testid=test-channel]');
  await page.locator('[data-testid=channel-test-result][data-ok=true]').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('[data-testid=channel-test-result]').textContent()) ?? '', /^sent \(200, \d+ ms\)$/);
  assert.equal(hook.received.filter((r) => r.json.kind === 'test').length, 1);

  // History: the flaky check's six pending/cleared events are one row.
  const flaps = page.locator('[data-testid=alert-events] [data-testid=alert-flaps]');
  assert.equal(await flaps.count(), 1);
  assert.match((await flaps.textContent()) ?? '', /flaky-billing.*3 flaps held back \(6 pending\/cleared events folded\)/);
  assert.equal(await page.locator('[data-testid=alert-events] tr[data-kind=pending], [data-testid=alert-events] tr[data-kind=cleared]').count(), 0);

  // Acknowledge with a note: recorded as "local" (loopback, no password), and its time keeps moving.
  const first = rows.first();
  await first.locator('[data-testid=ack-open]').click();
  await first.locator('[data-testid=ack-note-input]').fill('restarting the shop');
  await first.locator('[data-testid=ack-form] button[type=submit]').click();
  const acknowledged = page.locator('[data-testid=acknowledged]').first();
  await acknowledged.waitFor({ timeout: 10_000 });
  assert.match((await acknowledged.textContent()) ?? '', /^acknowledged by local \d+ ?s ago$/);
  assert.equal(await page.locator('[data-testid=ack-note]').first().textContent(), '“restarting the shop”');
  const state = await db.client.query(`SELECT acknowledged_by FROM alert_state WHERE acknowledged_at IS NOT NULL`);
  assert.deepEqual(state.rows.map((r) => r.acknowledged_by), ['local']);
  const time = acknowledged.locator('time');
  const before = await time.textContent();
  await page.waitForFunction((was) => document.querySelector('[data-testid=acknowledged] time')?.textContent !== was, before, { timeout: 5000 });
  assert.match((await time.getAttribute('title')) ?? '', /\d{1,2}:\d\d:\d\d/, 'the absolute local time is in the title');
  await screenshot(page, 'hub-alerts-1440.png');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(widths.scroll <= widths.client, `no sideways scrolling at 390 px: ${widths.scroll} > ${widths.client}`);
  assert.ok(await rows.first().isVisible());
  await screenshot(page, 'hub-alerts-390.png');
});

test('with no channel anywhere, the alerts view says nothing is sent and shows the lines to add', { skip }, async (t) => {
  const page = await newPage(t);
  await page.setViewportSize({ width: 390, height: 844 });
  const { hub } = await hubFor(t, { uiDir: await dashboardDir() });
  await page.goto(hub.url + '/#/alerts');
  const hint = page.locator('[data-testid=no-channel]');
  await hint.waitFor({ timeout: 20_000 });
  assert.match((await hint.textContent()) ?? '', /No channel configured: alerts are recorded here, but nothing is sent\. Start the hub with --alerts FILE/);
  assert.match((await hint.locator('pre').textContent()) ?? '', /^channels:\n {2}- name: ops-webhook\n {4}type: webhook\n {4}url: /);
  // The leader records its rules just after it is elected: wait for the list, not only the hint.
  await page.locator('[data-testid=alert-rules] li[data-rule=health-check-failing]').waitFor({ timeout: 20_000 });
  assert.match((await page.locator('[data-testid=alert-rules]').textContent()) ?? '', /health-check-failing — .* · no channel configured/);
  assert.equal(await page.locator('[data-testid=current-problems]').textContent(), 'No problems right now.');
  await screenshot(page, 'hub-alerts-no-channel-390.png');
});
