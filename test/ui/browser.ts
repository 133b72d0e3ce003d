// Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by playwright-core, one
// persistent context per test file, the dashboard built once into a scratch directory.
import { after, type TestContext } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { buildDashboard } from '../../src/hub/ui-build.js';

const CHROMIUM = '/usr/bin/chromium';
export const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (install it with: apt-get install -y chromium)`;
export const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));

let context: BrowserContext | null = null;
let uiDir = '';
export const scratch: string[] = [];

export async function browser(): Promise<BrowserContext> {
  if (context) return context;
  uiDir = mkdtempSync(join(tmpdir(), 'observ-ui-'));
  scratch.push(uiDir);
  await buildDashboard(uiDir);
  const userDataDir = mkdtempSync(join(tmpdir(), 'observ-chromium-'));
  scratch.push(userDataDir);
  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  return context;
}

/** The built dashboard's directory (after browser()). */
export async function builtUi(): Promise<string> {
  await browser();
  return uiDir;
}

after(async () => {
  await context?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

export async function newPage(t: TestContext): Promise<Page> {
  const page = await (await browser()).newPage();
  t.after(() => page.close());
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, name), fullPage: true });
}
