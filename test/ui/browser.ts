// One headless Chromium (Debian's, driven by playwright-core) shared by the browser tests of a file,
// the dashboard built once into a scratch directory, and screenshots under test-results/.
import { after, type TestContext } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { buildDashboard } from '../../src/hub/ui-build.js';

const CHROMIUM = '/usr/bin/chromium';
/** For `test(…, { skip }, …)`: the reason, when there is no Chromium to drive. */
export const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (install it with: apt-get install -y chromium)`;
const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));

let context: BrowserContext | null = null;
let uiDir = '';
const scratch: string[] = [];

async function browser(): Promise<BrowserContext> {
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

after(async () => {
  await context?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The built dashboard's directory (builds it and starts Chromium on first use). */
export async function dashboardDir(): Promise<string> {
  await browser();
  return uiDir;
}

export async function newPage(t: TestContext): Promise<Page> {
  const page = await (await browser()).newPage();
  t.after(() => page.close());
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, name), fullPage: true });
}

/** A scratch file for one test (an alerts.yml, …), removed after it. */
export function scratchFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-ui-file-'));
  scratch.push(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
