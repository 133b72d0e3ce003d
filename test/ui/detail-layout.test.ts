// The detail view's layout, desktop and phone: the y-axis labels of every chart are distinct over a
// narrow range (an app's RSS moving by less than a megabyte), and at 390 px the header's APP/HOST
// labels and the status badge keep their natural size beside a long process path, overlapping nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { hubFor, store, sample, probe, minutesAgo } from '../hub/fixtures.js';
import { skip, newPage, screenshot, builtUi } from './browser.js';

/** Each label or badge that is narrower than its text, wraps, overflows or overlaps a sibling. */
async function squeezed(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.flatMap((e) => {
    const box = e.getBoundingClientRect();
    const clone = e.cloneNode(true) as HTMLElement;
    clone.style.cssText = 'position: absolute; visibility: hidden; white-space: nowrap; width: auto; flex: none';
    e.parentElement!.append(clone);
    const natural = clone.getBoundingClientRect();
    clone.remove();
    const what = `${e.className} "${e.textContent}"`;
    const out: string[] = [];
    if (box.width + 0.5 < natural.width) out.push(`${what}: ${box.width.toFixed(1)} px wide, its text needs ${natural.width.toFixed(1)}`);
    if (box.height > natural.height + 0.5) out.push(`${what}: ${box.height.toFixed(1)} px tall, one line is ${natural.height.toFixed(1)}`);
    if (e.scrollWidth > e.clientWidth) out.push(`${what}: content ${e.scrollWidth} px in a ${e.clientWidth} px box`);
    for (const s of Array.from(e.parentElement!.children)) {
      if (s === e) continue;
      const r = s.getBoundingClientRect();
      const w = Math.min(box.right, r.right) - Math.max(box.left, r.left);
      const h = Math.min(box.bottom, r.bottom) - Math.max(box.top, r.top);
      if (w > 0.5 && h > 0.5) out.push(`${what} overlaps ${s.tagName.toLowerCase()} "${(s.textContent ?? '').slice(0, 30)}"`);
    }
    return out;
  }));
}

test('detail view: distinct y-axis labels over a narrow range, and header labels that keep their size on a phone', { skip, timeout: 90_000 }, async (t: TestContext) => {
  const { hub, db } = await hubFor(t, { uiDir: await builtUi() });
  const now = Date.now();
  await store(db.client, 'vps-eu-1', 'shop', {
    // RSS between 50.3 and 51.2 MB: uPlot ticks it at 50.5 and 51, which whole megabytes both write "51 MB".
    metrics: Array.from({ length: 30 }, (_, i) => sample(minutesAgo(29 - i, now), { cpuPercent: 20 + i, app: {
      source: 'cwd:/opt/deployments/shop-storefront/releases/20240611-1200/current', processes: 2, cpuPercent: 2 + (i % 4) * 0.03,
      rssMb: 50.3 + 0.9 * Math.abs(Math.sin(i / 5)), threads: 12, openFiles: 40 + (i % 3), restarts: 0 } })),
    probes: Array.from({ length: 30 }, (_, i) => probe(minutesAgo(29 - i, now), { responseTimeMs: 20 + (i % 2) * 0.5 })),
  });
  const page = await newPage(t);
  for (const vp of [{ width: 1440, height: 900 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(vp);
    await page.goto(`${hub.url}/#/vps/vps-eu-1/shop`);
    await page.locator('[data-testid=app-charts] [data-chart="App RSS"][data-y-labels]').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=health-history] .chart[data-y-labels]').waitFor({ timeout: 10_000 });
    const axes = await page.$$eval('.chart[data-y-labels]', (els) => els.map((e) => ({
      chart: e.getAttribute('data-chart') ?? 'latency', labels: JSON.parse(e.getAttribute('data-y-labels')!) as string[] })));
    assert.ok(axes.length >= 9, `${axes.length} charts`);
    for (const { chart, labels } of axes) {
      assert.equal(new Set(labels).size, labels.length, `${vp.width}px ${chart}: y-axis labels ${JSON.stringify(labels)} repeat`);
    }
    const rss = axes.find((a) => a.chart === 'App RSS')!.labels;
    assert.ok(rss.length >= 2 && rss.every((l) => /^\d+\.\d+ MB$/.test(l)), `RSS labels with the decimals they need: ${JSON.stringify(rss)}`);
    const counts = axes.find((a) => a.chart === 'App threads and open files')!.labels;
    assert.ok(counts.every((l) => /^\d+$/.test(l)), `threads and open files are whole numbers: ${JSON.stringify(counts)}`);
    assert.deepEqual(await squeezed(page, '.detail-title .badge, .scope-heading .scope'), [], `${vp.width}px: header labels`);
    await screenshot(page, `detail-layout-${vp.width}.png`);
  }
  // On the phone the long path wraps beside the APP label, which stays one line on the left.
  const heading = page.locator('[data-testid=app-heading]');
  assert.match((await heading.textContent())!, /^app processes working in \/opt\/deployments\/shop-storefront\/releases\/20240611-1200\/current · 0 restarts in this range$/);
  const [label, words] = await Promise.all([heading.locator('.scope').boundingBox(), heading.locator(':scope > span:not(.scope)').boundingBox()]);
  assert.ok(label!.x + label!.width <= words!.x, 'the words start right of the label');
  assert.ok(words!.x + words!.width <= 390, 'and wrap within the screen');
});
