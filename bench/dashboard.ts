// The dashboard as a user meets it, in Chromium: page weight (bytes over the wire, gzip), first render
// (navigation → first fleet card / first chart / status services), and the time from an agent's
// last batch to its card turning stale on an open page, with the hub's default tick and alerting.
//
//   node dist/bench/dashboard.js [--agents 20] [--interval 10]
//
// An embedded PostgreSQL holds a day of history per agent (a sample and a check a minute); the hub
// runs in this process. Needs /usr/bin/chromium. Prints one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { connect } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { storeBatch } from '../src/workers/writer/writer.js';
import { startHub } from '../src/hub/server.js';
import { buildDashboard } from '../src/hub/ui-build.js';
import type { MetricSample, ProbeResult } from '../src/supervisor/messages.js';

const { values: args } = parseArgs({ options: { agents: { type: 'string', default: '20' }, interval: { type: 'string', default: '10' } } });
const AGENTS = Number(args.agents);
const INTERVAL = Number(args.interval);
const say = (m: string) => process.stderr.write(`[dashboard-bench] ${m}\n`);

const sample = (timestamp: string, cpu: number): MetricSample => ({ timestamp, cpuPercent: cpu, cpuUser: cpu * 0.7, cpuSystem: cpu * 0.3, cpuIowait: 0.5, cpuSteal: 0,
  memoryPercent: 45, memoryMb: 900, memoryAvailableMb: 2000, swapPercent: 0, swapUsedMb: 0, diskPercent: 60, diskGb: 30, diskFreeGb: 20, diskReadBps: 1e4,
  diskWriteBps: 5e4, netRxBps: 2e5, netTxBps: 1e5, loadAvg1m: 0.8, loadAvg5m: 0.7, loadAvg15m: 0.6, uptimeSeconds: 1e5, mounts: [] });
const probe = (timestamp: string, i: number): ProbeResult => ({ timestamp, url: 'http://localhost:8000/health', statusCode: i % 97 ? 200 : 503,
  responseTimeMs: 10 + (i % 13), success: i % 97 !== 0, errorMessage: i % 97 ? null : 'HTTP 503', certDaysLeft: null });

async function bench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'observ-bench-dash-'));
  const uiDir = mkdtempSync(join(tmpdir(), 'observ-bench-ui-'));
  const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off', synchronous_commit: 'off' } });
  await pg.start();
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const admin = await connect(pg.urlFor('postgres'));
    await admin.query('CREATE DATABASE bench_dash');
    await admin.end();
    const url = pg.urlFor('bench_dash');
    const writer = await connect(url);
    await migrate(writer);
    const seqs = new Map<string, number>();
    const store = (a: number, metrics: MetricSample[], probes: ProbeResult[]) => {
      const app = `app-${a}`;
      const seq = (seqs.get(app) ?? 0) + 1;
      seqs.set(app, seq);
      return storeBatch(writer, { seq, createdAt: new Date().toISOString(), metrics, probes, logs: [], events: [], files: [] },
        { vps: `vps-${a % 5}`, app, collectionInterval: INTERVAL, startedAt: new Date().toISOString() });
    };
    say(`loading a day of history for ${AGENTS} agents…`);
    const now = Date.now();
    for (let a = 0; a < AGENTS; a++) {
      const ts = (i: number) => new Date(now - 86_400_000 + i * 60_000).toISOString();
      await store(a, Array.from({ length: 1440 }, (_, i) => sample(ts(i), 20 + (i % 50))), Array.from({ length: 1440 }, (_, i) => probe(ts(i), i)));
    }
    await writer.query('ANALYZE');
    await buildDashboard(uiDir);
    const hub = await startHub({ databaseUrl: url, host: '127.0.0.1', port: 0, uiDir, log: () => {}, maintenance: false,
      statusPage: { title: 'Bench', services: Array.from({ length: Math.min(AGENTS, 10) }, (_, a) => ({ name: `Service ${a}`, app: `app-${a}` })) } });
    try {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const page = await context.newPage();
      // The moment the first `ready` element enters the DOM, from navigation start (a MutationObserver
      // installed before the page's own scripts).
      await page.addInitScript(() => {
        const w = window as unknown as { __ready?: number; __sel?: string };
        new MutationObserver(() => {
          const sel = sessionStorage.getItem('bench.ready');
          if (w.__ready === undefined && sel && document.querySelector(sel)) w.__ready = performance.now();
        }).observe(document, { subtree: true, childList: true });
      });
      const visit = async (path: string, ready: string) => {
        const sizes: { url: string; bytes: number }[] = [];
        const onDone = (req: import('playwright-core').Request) => {
          void req.sizes().then((s) => { sizes.push({ url: new URL(req.url()).pathname, bytes: s.responseBodySize + s.responseHeadersSize }); }, () => {});
        };
        await page.goto(hub.url + '/favicon.svg');
        await page.evaluate((sel) => sessionStorage.setItem('bench.ready', sel), ready);
        page.on('requestfinished', onDone);
        await page.goto(hub.url + path);
        await page.locator(ready).first().waitFor({ timeout: 30_000 });
        const firstRenderMs = await page.evaluate(() => Math.round((window as unknown as { __ready: number }).__ready));
        await page.waitForLoadState('networkidle');
        page.off('requestfinished', onDone);
        const bytes = sizes.reduce((n, x) => n + x.bytes, 0);
        return { firstRenderMs, bytes, requests: sizes.length, largest: sizes.sort((a, b) => b.bytes - a.bytes).slice(0, 3) };
      };
      // The first visit is cold (empty cache); later ones reuse the content-hashed bundles.
      const figures = {
        fleetCold: await visit('/#/', '[data-testid=fleet-card]'),
        fleetWarm: await visit('/#/', '[data-testid=fleet-card]'),
        detail24h: await visit('/#/vps/vps-0/app-0?range=86400', '[data-testid=metric-charts] canvas'),
        status: await visit('/status', '[data-testid=status-service]'),
      };

      // An agent reporting every INTERVAL s, then silence: how long until its card says stale?
      say(`death → stale with a ${INTERVAL} s collection interval (default tick and evaluation interval)…`);
      await page.goto(hub.url + '/#/');
      const card = page.locator('[data-testid=fleet-card][data-key^="vps-0"][data-key$="app-0"]');
      for (let i = 0; i < 3; i++) { await store(0, [sample(new Date().toISOString(), 30)], [probe(new Date().toISOString(), 1)]); await new Promise((r) => setTimeout(r, INTERVAL * 1000)); }
      await store(0, [sample(new Date().toISOString(), 30)], [probe(new Date().toISOString(), 1)]);
      const died = Date.now();
      await card.and(page.locator('[data-status=up]')).waitFor({ timeout: 10_000 });
      await card.and(page.locator('[data-status=stale]')).waitFor({ timeout: 10 * INTERVAL * 1000 + 60_000 });
      const deathToStaleMs = Date.now() - died;
      process.stdout.write(JSON.stringify({
        agents: AGENTS, collectionIntervalS: INTERVAL, pages: figures, deathToStaleMs,
        expected: `stale when agent-silent fires (> 3 × ${INTERVAL} s, judged every 30 s) or at 2 × ${INTERVAL} + 15 s, whichever first, plus ≤ 5 s tick`,
        note: 'first render and death→stale on a shared, loaded 2-core machine; bytes = response headers + bodies as sent (gzip)',
      }, null, 2) + '\n');
    } finally {
      await hub.close();
    }
    await writer.end();
  } finally {
    await browser.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(uiDir, { recursive: true, force: true });
  }
}

await bench();
