// The Logs view in Debian's Chromium (playwright-core) against a real hub and PostgreSQL: a word that
// is only in the context is found through the search box, highlighted and summarised inline; stack
// traces are code blocks; rows open with the keyboard; a search with no hit repeats the user's words
// and offers a wider range; no sideways scrolling at 390 px. Screenshots go to test-results/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { hubFor, store, logLine, minutesAgo } from '../hub/fixtures.js';
import { launchChromium, noChromium as skip } from '../helpers/browser.js';
import { buildDashboard } from '../../src/hub/ui-build.js';

const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));
const uiDir = mkdtempSync(join(tmpdir(), 'observ-ui-logs-'));
let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;

after(async () => {
  await chromium?.close();
  rmSync(uiDir, { recursive: true, force: true });
});

async function open(t: import('node:test').TestContext, width: number, height: number): Promise<Page> {
  if (!chromium) {
    await buildDashboard(uiDir);
    chromium = await launchChromium({ width, height });
  }
  const page = await chromium.context.newPage();
  await page.setViewportSize({ width, height });
  t.after(() => page.close());
  return page;
}

const STACK = 'TypeError: Cannot read properties of undefined (reading \'total\')\n    at checkout (/srv/shop/cart.js:41:17)\n    at handle (/srv/shop/router.js:12:5)';

async function seed(client: import('../../src/db/pg.js').PgClient): Promise<void> {
  const logs = [];
  for (let i = 0; i < 60; i++) {
    logs.push(logLine(minutesAgo(90 - i), 'User action', { logger: 'shop.http', context: { user_id: 100 + i, action: i % 12 === 5 ? 'logout' : 'view' } }));
  }
  logs.push(logLine(minutesAgo(20), 'Checkout failed', { level: 'ERROR', logger: 'shop.cart', context: { order_id: 'A-7', action: 'checkout' },
    exception: { type: 'TypeError', message: 'Cannot read properties of undefined (reading \'total\')', stack: STACK } }));
  await store(client, 'vps-eu-1', 'shop', { logs });
}

test('a word that is only in the context is found through the search box, highlighted, and its rows open with the keyboard', { skip }, async (t) => {
  const page = await open(t, 1440, 900);
  const { hub, db } = await hubFor(t, { uiDir });
  await seed(db.client);
  await page.goto(`${hub.url}/#/logs`);
  await page.locator('[data-testid=log-status]', { hasText: '50 lines (more below)' }).waitFor({ timeout: 10_000 });
  assert.match((await page.locator('[data-testid=log-range]').textContent())!, /last 24 hours \(the default/, 'the default range is said on screen');
  assert.equal(await page.locator('.log-range-choice[aria-pressed=true]').textContent(), '24 hours');

  // Type a word that no message holds and submit from the keyboard.
  await page.getByLabel('Search message, logger and context').fill('logout');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=log-status]', { hasText: '5 lines' }).waitFor({ timeout: 10_000 });
  const rows = page.locator('[data-testid=log-row]');
  assert.equal(await rows.count(), 5);
  for (const summary of await page.locator('[data-testid=log-summary]').allTextContents()) assert.match(summary, /action=logout/, 'context key=values inline');
  assert.deepEqual(await page.locator('[data-testid=log-summary] mark').allTextContents(), Array(5).fill('logout'), 'the match is highlighted');
  assert.match(page.url(), /#\/logs\?q=logout$/);

  // Keyboard: focus the first line, move down, open it with Enter.
  await page.locator('[data-testid=log-line]').first().focus();
  await page.keyboard.press('ArrowDown');
  const second = page.locator('[data-testid=log-line]').nth(1);
  assert.equal(await second.evaluate((n) => n === document.activeElement), true, 'ArrowDown moved the focus');
  await page.keyboard.press('Enter');
  assert.equal(await second.getAttribute('aria-expanded'), 'true');
  const contextText = (await rows.nth(1).locator('[data-testid=log-context]').textContent())!;
  assert.equal(JSON.parse(contextText).action, 'logout');
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, 'hub-logs-search-1440.png'), fullPage: true });

  // A stack trace is a code block with real line breaks.
  await page.getByLabel('Search message, logger and context').fill('checkout');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=log-status]', { hasText: '1 line' }).waitFor({ timeout: 10_000 });
  assert.match((await rows.first().locator('.log-exc-badge').textContent())!, /^TypeError: Cannot read/);
  await rows.first().locator('[data-testid=log-line]').click();
  const stack = rows.first().locator('[data-testid=log-stack]');
  assert.equal(await stack.evaluate((n) => n.tagName), 'PRE');
  assert.equal(await stack.textContent(), STACK);
  assert.ok((await stack.boundingBox())!.height > 40, 'three lines tall, not one line with literal \\n');
  await page.screenshot({ path: join(RESULTS, 'hub-logs-exception-1440.png'), fullPage: true });

  // No hit: the user's words (not the stem "kubernet") and an offer to widen the range.
  await page.getByLabel('Search message, logger and context').fill('kubernetes');
  await page.keyboard.press('Enter');
  const status = page.locator('[data-testid=log-status]', { hasText: 'No lines match' });
  await status.waitFor({ timeout: 10_000 });
  assert.match((await status.textContent())!, /^No lines match “kubernetes” in the last 24 hours\. Widen the range: last 7 days last 30 days all time/);
  await status.locator('button[data-widen=all]').click();
  await page.locator('[data-testid=log-range]', { hasText: 'Searching all time' }).waitFor({ timeout: 10_000 });
  assert.match(page.url(), /q=kubernetes&range=all/);
});

test('the Logs view fits a 390 px phone: no sideways scrolling, the message on screen', { skip }, async (t) => {
  const page = await open(t, 390, 844);
  const { hub, db } = await hubFor(t, { uiDir });
  await seed(db.client);
  await page.goto(`${hub.url}/#/logs?q=logout`);
  await page.locator('[data-testid=log-status]', { hasText: '5 lines' }).waitFor({ timeout: 10_000 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `page is ${width} px wide`);
  const message = (await page.locator('[data-testid=log-message]').first().boundingBox())!;
  assert.ok(message.x >= 0 && message.x + message.width <= 390, `message at ${message.x}…${message.x + message.width}`);
  await page.locator('[data-testid=log-line]').first().click();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'still no sideways scrolling with a row open');
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, 'hub-logs-search-390.png'), fullPage: true });
});
