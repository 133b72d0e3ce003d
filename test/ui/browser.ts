// The dashboard's browser tests share, per file: one Chromium (test/helpers/browser.ts), the dashboard
// built once into a scratch directory, and screenshots under test-results/.
import { after, type TestContext } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { buildDashboard } from '../../src/hub/ui-build.js';
import { launchChromium, noChromium } from '../helpers/browser.js';

/** For `test(…, { skip }, …)`: the reason, when there is no Chromium to drive. */
export const skip = noChromium;
const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));

let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;
let uiDir = '';
const scratch: string[] = [];

async function browser(): Promise<BrowserContext> {
  if (chromium) return chromium.context;
  uiDir = mkdtempSync(join(tmpdir(), 'observ-ui-'));
  scratch.push(uiDir);
  await buildDashboard(uiDir);
  chromium = await launchChromium();
  return chromium.context;
}

after(async () => {
  await chromium?.close();
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
