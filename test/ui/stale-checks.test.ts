// A silent agent's health checks are not shown as up: once the hub marks the agent stale, the card's
// check lines and the detail view turn unknown (grey, "no data since …"), and fresh data restores them.
// The agent is silenced the way screens.test.ts does it: a 1 s collection interval, beats, then none.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { hubFor, store, sample, probe } from '../hub/fixtures.js';
import { skip, newPage, screenshot, builtUi, scratchFile } from './browser.js';

/** Elements under `root` drawn in the theme's --ok colour (text, background or border). */
async function greenParts(page: Page, root: Locator): Promise<string[]> {
  const ok = await page.evaluate(() => {
    const probeEl = document.createElement('span');
    probeEl.style.color = 'var(--ok)';
    document.body.append(probeEl);
    const c = getComputedStyle(probeEl).color;
    probeEl.remove();
    return c;
  });
  return root.evaluate((node, okColour) => [node, ...Array.from(node.querySelectorAll('*'))].flatMap((e) => {
    const s = getComputedStyle(e);
    const hits = ['color', 'backgroundColor', 'borderLeftColor'].filter((p) => s[p as 'color'] === okColour && (p !== 'borderLeftColor' || s.borderLeftWidth !== '0px'));
    return hits.map((p) => `${e.tagName.toLowerCase()}.${e.className} ${p}: ${(e.textContent ?? '').slice(0, 40)}`);
  }), ok);
}

test('a stale agent\'s checks turn unknown on the card and in the detail view, and come back with fresh data', { skip, timeout: 120_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi(), liveTickMs: 1000, alertsFile: scratchFile('alerts.yml', 'evaluation_interval: 500ms\n') });
  const beat = () => store(db.client, 'vps-eu-1', 'shop', { metrics: [sample(new Date().toISOString())], probes: [probe(new Date().toISOString())] }, 1);
  await beat();
  const page = await newPage(t);
  await page.goto(hub.url + '/#/');
  const card = page.locator('[data-testid=fleet-card][data-key^="vps-eu-1"]');
  const check = card.locator('.checks li');
  await card.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  assert.equal(await check.getAttribute('class'), 'ok');
  assert.match((await check.textContent())!, /^✓ 200 12 ms — http:\/\/localhost:8000\/health$/);
  assert.notDeepEqual(await greenParts(page, card), [], 'a fresh card shows its passing check in green');

  const detail = await newPage(t);
  await detail.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  const badge = detail.locator('.detail-title [data-testid=status-badge]');
  await badge.and(detail.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  assert.equal(await detail.locator('[data-testid=check-silent]').count(), 0);

  for (let i = 0; i < 3; i++) { await beat(); await page.waitForTimeout(1000); } // an agent reporting every second
  await card.and(page.locator('[data-status=stale]')).waitFor({ timeout: 25_000 });
  const line = (await check.textContent())!;
  assert.doesNotMatch(line, /✓|\bup\b/, `the check line does not say up: ${line}`);
  assert.deepEqual(await greenParts(page, card), [], 'nothing on the stale card is green');
  assert.equal(await check.getAttribute('data-state'), 'unknown');
  assert.match(line, /^\? no data since .+ — http:\/\/localhost:8000\/health$/);
  assert.match((await check.getAttribute('title'))!, /no data since .+\(last result: up\)/);
  assert.match((await card.locator('[data-testid=status-badge]').getAttribute('title'))!, /no data since /);
  await screenshot(page, 'stale-checks-card.png');

  // The open detail view follows the live feed: its header and health checks say the data is old.
  await badge.and(detail.locator('[data-status=stale]')).waitFor({ timeout: 10_000 });
  assert.match((await badge.getAttribute('title'))!, /no data since /);
  assert.deepEqual(await greenParts(detail, detail.locator('.detail-title')), [], 'nothing in the detail header is green');
  await detail.locator('[data-testid=check-silent]').waitFor({ timeout: 10_000 });
  assert.match((await detail.locator('[data-testid=check-silent]').textContent())!, /^No results since .+: the agent is silent/);
  await screenshot(detail, 'stale-checks-detail.png');

  // Fresh data restores the indicators, on both pages, without a reload.
  await beat();
  await card.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  assert.equal(await check.getAttribute('data-state'), 'ok');
  assert.match((await check.textContent())!, /^✓ 200/);
  assert.notDeepEqual(await greenParts(page, card), [], 'the passing check is green again');
  await badge.and(detail.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  await detail.locator('[data-testid=check-silent]').waitFor({ state: 'detached', timeout: 10_000 });
});

test('a check the agent runs but has not reported for two of its intervals turns unknown, and one not yet run says it waits', { skip, timeout: 120_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi(), liveTickMs: 1000, alerting: false });
  const now = Date.now();
  const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
  const u = (path: string) => `http://127.0.0.1:8000${path}`;
  // /late last reported 2 min ago though it runs every 30 s; /ok reported now; /new has not run yet.
  await store(db.client, 'vps-eu-1', 'shop', { metrics: [sample(at(0))],
    probes: [probe(at(120), { url: u('/late') }), probe(at(1), { url: u('/ok') })] }, 60,
  [{ url: u('/late'), interval: 30, timeout: 10 }, { url: u('/new'), interval: 3600, timeout: 10 }, { url: u('/ok'), interval: 30, timeout: 10 }]);
  const page = await newPage(t);
  await page.goto(hub.url + '/#/');
  const card = page.locator('[data-testid=fleet-card][data-key^="vps-eu-1"]');
  await card.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
  const items = card.locator('.checks li');
  const lines = await items.evaluateAll((lis) => lis.map((li) => ({ state: li.getAttribute('data-state'), text: li.textContent ?? '' })));
  assert.deepEqual(lines.map((l) => l.state), ['unknown', 'waiting', 'ok']);
  assert.match(lines[0]!.text, new RegExp(`^\\? no data since \\S.* — ${u('/late').replace(/[.]/g, '\\.')}$`));
  assert.equal(lines[1]!.text, `? waiting for the first result — ${u('/new')}`);
  assert.equal(lines[2]!.text, `✓ 200 12 ms — ${u('/ok')}`);
  assert.match((await items.nth(0).getAttribute('title'))!, /checked every 30 s, the agent is reporting\) \(last result: up\)$/);
  assert.deepEqual(await greenParts(page, items.nth(0)), [], 'the late check is not green');
  assert.deepEqual(await greenParts(page, items.nth(1)), [], 'the waiting check is not green');
  await screenshot(page, 'late-checks-card.png');

  const detail = await newPage(t);
  await detail.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
  const late = detail.locator('[data-testid=check-late]');
  await late.waitFor({ timeout: 10_000 });
  assert.equal(await late.count(), 1, 'only /late is late');
  assert.match((await late.textContent())!, /^No results since .+, though it runs every 30 s: the agent is reporting, but not this check\.$/);
  const articles = detail.locator('[data-testid=health-history] article.check h3');
  await detail.waitForFunction(() => document.querySelectorAll('[data-testid=health-history] article.check').length === 3);
  assert.deepEqual(await articles.allTextContents(), [u('/late'), u('/new'), u('/ok')], 'the check not yet run has its place');
  assert.equal(await detail.locator('[data-testid=check-waiting]').textContent(), 'No result yet: the agent runs this check every 1 h.');
  await screenshot(detail, 'late-checks-detail.png');
});
