// The hub side of the dashboard: liveness pushed without a commit, status from the alert state
// machine, buckets never finer than the samples, uptime per check (rollups + raw, counted once), and
// the public status page (opt-in, served without login, nothing but the chosen data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { hubFor, getJson, store, sample, probe, logLine, minutesAgo } from './fixtures.js';
import { eventually } from '../helpers/pg.js';
import { startHub } from '../../src/hub/server.js';
import { parseStatusPage } from '../../src/hub/api/public-status.js';
import type { FleetRow, MetricsResult, HealthResult } from '../../src/hub/api/types.js';
import type { CheckUptime } from '../../src/hub/api/uptime.js';
import type { PublicStatus } from '../../src/hub/api/public-status.js';

function alertsFile(t: import('node:test').TestContext, body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-dash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'alerts.yml');
  writeFileSync(file, body);
  return file;
}

test('an agent that goes silent is pushed as stale to open pages without any commit, and its recovery too', async (t) => {
  const { hub, db } = await hubFor(t, { liveTickMs: 300, alertsFile: alertsFile(t, 'evaluation_interval: 200ms\n') });
  const ws = new WebSocket(hub.url.replace('http', 'ws') + '/live');
  const messages: { type: string; rows?: FleetRow[]; at?: string; tickMs?: number }[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d))));
  t.after(() => ws.terminate());
  await new Promise((resolve) => ws.once('open', resolve));
  await store(db.client, 'vps-1', 'shop', { metrics: [sample(minutesAgo(0))] }, 1);
  await eventually(async () => messages.find((m) => m.type === 'fleet' && m.rows!.some((r) => r.status === 'up')), 'up pushed', 5000);
  const silentFrom = Date.now();
  const stale = await eventually(async () => messages.find((m) => m.type === 'fleet' && m.rows!.some((r) => r.app === 'shop' && r.status === 'stale')), 'stale pushed', 20_000);
  const row = stale.rows!.find((r) => r.app === 'shop')!;
  assert.ok(row.alerts.some((a) => a.rule === 'agent-silent' && a.status === 'firing') || row.stale, 'stale because agent-silent fires or the threshold passed');
  assert.ok(Date.now() - silentFrom < 19_000, 'well before a reload would have been needed');
  assert.equal(messages[0]!.type, 'hello');
  assert.equal(messages[0]!.tickMs, 300);
  assert.ok(messages.some((m) => m.type === 'tick' && typeof m.at === 'string'), 'heartbeats between changes');
  const before = messages.length;
  await store(db.client, 'vps-1', 'shop', { metrics: [sample(minutesAgo(0))] }, 1);
  await eventually(async () => messages.slice(before).find((m) => m.type === 'fleet' && m.rows!.some((r) => r.app === 'shop' && r.status === 'up')), 'recovery pushed', 5000);
});

test('a card follows the alert state machine: one failed check is pending, a firing alert is down; without alerting the latest check decides', async (t) => {
  const { hub, db } = await hubFor(t, { alertsFile: alertsFile(t, 'evaluation_interval: 200ms\nrules:\n  - name: health-check-failing\n    failures: 3\n    successes: 2\n') });
  const fail = { success: false, statusCode: 503, errorMessage: 'HTTP 503' };
  await store(db.client, 'vps-1', 'shop', { metrics: [sample(minutesAgo(0))], probes: [probe(minutesAgo(3)), probe(minutesAgo(1), fail)] });
  const status = async () => (await getJson<{ fleet: FleetRow[] }>(`${hub.url}/api/fleet`)).body.fleet[0]!;
  await eventually(async () => (await status()).alerts.some((a) => a.status === 'pending'), 'the alert pending');
  assert.equal((await status()).status, 'pending');
  await store(db.client, 'vps-1', 'shop', { probes: [probe(minutesAgo(0.5), fail), probe(minutesAgo(0.2), fail)] });
  await eventually(async () => (await status()).status === 'down', 'down once the alert fires');
  assert.deepEqual((await status()).alerts.map((a) => [a.rule, a.status, a.subject]), [['health-check-failing', 'firing', 'http://localhost:8000/health']]);
  // Without alerting (a hub that does not run it), a failed latest check is down as before.
  const plain = await startHub({ databaseUrl: db.url, host: '127.0.0.1', port: 0, log: () => {}, alerting: false });
  t.after(() => plain.close());
  assert.equal((await getJson<{ fleet: FleetRow[] }>(`${plain.url}/api/fleet`)).body.fleet[0]!.status, 'down');
});

test('buckets are never finer than the agent’s samples or checks', async (t) => {
  const { hub, db } = await hubFor(t);
  const now = Date.now();
  await store(db.client, 'vps-1', 'shop', {
    metrics: Array.from({ length: 30 }, (_, i) => sample(new Date(now - i * 10_000).toISOString())),
    probes: Array.from({ length: 30 }, (_, i) => probe(new Date(now - i * 30_000).toISOString())),
  }, 10);
  const q = `vps=vps-1&app=shop&from=${new Date(now - 600_000).toISOString()}&to=${new Date(now + 1000).toISOString()}`;
  const m = await getJson<MetricsResult>(`${hub.url}/api/metrics?${q}`);
  assert.equal(m.body.stepSeconds, 10, '10 s samples: 10 s buckets, not 1 s');
  assert.ok(m.body.samples.every((n) => n === 1), 'one sample per bucket');
  const h = await getJson<HealthResult>(`${hub.url}/api/health?${q}`);
  assert.equal(h.body.stepSeconds, 30, 'checks every 30 s: 30 s buckets');
});

test('uptime per check counts hourly rollups and the raw rows after them once each, over 24 h / 7 d / 30 d / 90 d', async (t) => {
  const { hub, db } = await hubFor(t);
  const url = 'http://localhost:8000/health';
  const hourAgo = (h: number) => new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - h * 3_600_000);
  // Raw rows three days ago that the rollup already folded (their hourly row below): must not count twice.
  const folded = hourAgo(72);
  await store(db.client, 'vps-1', 'shop', { probes: Array.from({ length: 5 }, (_, i) => probe(new Date(folded.getTime() + i * 60_000).toISOString(), { success: false, statusCode: 500 })) });
  await db.client.query(`INSERT INTO health_checks_hourly (bucket, vps_name, app_name, url, checks, failures) VALUES
    ($1, 'vps-1', 'shop', $3, 100, 10), ($2, 'vps-1', 'shop', $3, 5, 5)`, [hourAgo(240), folded, url]);
  // Recent raw rows, after the newest folded hour: 10 checks, 2 failed.
  await store(db.client, 'vps-1', 'shop', { probes: Array.from({ length: 10 }, (_, i) => probe(minutesAgo(30 - i), i < 2 ? { success: false, statusCode: 503 } : {})) });
  const r = await getJson<{ checks: CheckUptime[] }>(`${hub.url}/api/uptime?vps=vps-1&app=shop`);
  assert.equal(r.status, 200);
  const c = r.body.checks[0]!;
  assert.equal(c.url, url);
  assert.deepEqual(c.uptime, { '24h': 80, '7d': Math.round(10_000 * (1 - 7 / 15)) / 100, '30d': Math.round(10_000 * (1 - 17 / 115)) / 100, '90d': Math.round(10_000 * (1 - 17 / 115)) / 100 });
  assert.equal(c.days.length, 90);
  assert.equal(c.days.reduce((n, d) => n + d.checks, 0), 115);
  assert.equal(c.recent.length, 15, 'every raw result of the last 7 days (at most 60)');
  assert.deepEqual(c.recent.map((x) => x.ok).slice(4, 8), [false, false, false, true], 'oldest first');
  const bad = await getJson<{ error: string }>(`${hub.url}/api/uptime?vps=vps-1`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /app is required/);
});

const SECRET = { vps: 'vps-internal-7', otherApp: 'secret-billing', url2: 'http://10.1.2.3:9000/admin-health', error: 'db password rejected for user root',
  log: 'stack trace with API_KEY=abc123', summary: 'SUMMARY-INTERNAL-DETAIL' };

test('the public status page answers without login, only for the chosen services, with uptime and incidents, and leaks nothing else', async (t) => {
  const url1 = 'http://127.0.0.1:8000/health';
  const { hub, db } = await hubFor(t, {
    auth: { password: 'a long enough password' },
    statusPage: { title: 'Acme status', services: [{ name: 'Shop', app: 'shop', checks: [url1] }] },
  });
  await store(db.client, SECRET.vps, 'shop', {
    metrics: [sample(minutesAgo(0))],
    probes: [probe(minutesAgo(1), { url: url1 }), probe(minutesAgo(1), { url: SECRET.url2, success: false, statusCode: 500, errorMessage: SECRET.error })],
    logs: [logLine(minutesAgo(1), SECRET.log, { level: 'ERROR' })],
  });
  await store(db.client, SECRET.vps, SECRET.otherApp, { metrics: [sample(minutesAgo(0))], probes: [probe(minutesAgo(1), { url: url1, success: false, errorMessage: SECRET.error })] });
  // History: an incident on the chosen check (fired 2 h ago, resolved 30 min later), an open alert on the other check.
  // The hub's evaluator may already have opened the failing check's alert from the probe above: upsert, not insert.
  const a = await db.client.query<{ id: string }>(`INSERT INTO alert_state (rule_name, rule_type, vps_name, app_name, subject, status, summary, episode)
    VALUES ('health-check-failing', 'health_check', $1, 'shop', $2, 'resolved', $3, 1), ('health-check-failing', 'health_check', $1, 'shop', $4, 'firing', $3, 1)
    ON CONFLICT (rule_name, vps_name, app_name, subject) DO UPDATE SET status = excluded.status, summary = excluded.summary, episode = excluded.episode
    RETURNING id`,
  [SECRET.vps, url1, SECRET.summary, SECRET.url2]);
  await db.client.query(`INSERT INTO alert_events (alert_id, kind, episode, rule_name, rule_type, vps_name, app_name, subject, summary, timestamp) VALUES
    ($1, 'firing', 1, 'health-check-failing', 'health_check', $3, 'shop', $4, $5, now() - interval '2 hours'),
    ($1, 'resolved', 1, 'health-check-failing', 'health_check', $3, 'shop', $4, $5, now() - interval '90 minutes'),
    ($2, 'firing', 1, 'health-check-failing', 'health_check', $3, 'shop', $6, $5, now() - interval '10 minutes')`,
  [a.rows[0]!.id, a.rows[1]!.id, SECRET.vps, url1, SECRET.summary, SECRET.url2]);

  assert.equal((await fetch(`${hub.url}/api/fleet`)).status, 401, 'auth is on');
  const res = await fetch(`${hub.url}/api/public/status`);
  assert.equal(res.status, 200);
  const raw = await res.text();
  const body = JSON.parse(raw) as PublicStatus;
  assert.equal(body.title, 'Acme status');
  assert.deepEqual(body.services.map((s) => [s.name, s.state]), [['Shop', 'operational']], 'the other check’s firing alert is not the chosen check’s');
  assert.equal(body.services[0]!.uptime['24h'], 100);
  assert.equal(body.services[0]!.days.length, 90);
  assert.deepEqual(body.incidents.map((i) => [i.service, i.title, i.durationSeconds, i.resolvedAt !== null]), [['Shop', 'Service unavailable', 1800, true]]);
  for (const s of Object.values(SECRET)) assert.ok(!raw.includes(s), `${s} does not leak`);
  assert.ok(!raw.includes(url1) && !raw.includes('health-check-failing'), 'no check URL, no rule names');
  assert.deepEqual(Object.keys(body).sort(), ['generatedAt', 'incidents', 'services', 'state', 'title']);
  assert.equal((await fetch(`${hub.url}/api/public/status?vps=x`)).status, 400);
  const again = await getJson<PublicStatus>(`${hub.url}/api/public/status`);
  assert.equal(again.body.generatedAt, body.generatedAt, 'computed once per 15 s, not per visitor');
  // The page itself is public too.
  const page = await fetch(`${hub.url}/status`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /assets\/status-[0-9a-f]+\.js/);
});

test('the status page is off unless configured, and a bad status-page file names the field', async (t) => {
  const { hub, db } = await hubFor(t);
  const off = await getJson<{ error: string }>(`${hub.url}/api/public/status`);
  assert.equal(off.status, 404);
  assert.match(off.body.error, /status page is not enabled.*OBSERV_STATUS_PAGE/);
  assert.throws(() => parseStatusPage({ services: [{ name: 'Shop' }] }, 'status.yml'), /status\.yml services\[0\]\.app is required/);
  assert.throws(() => parseStatusPage({ title: 'x', services: [] }), /services must be a list/);
  assert.throws(() => parseStatusPage({ services: [{ name: 'A', app: 'a', checks: 'http://x' }], extra: 1 }), /extra is not a known key[\s\S]*checks must be a list/);
  const file = alertsFile(t, 'title: From a file\nservices:\n  - name: Shop\n    app: shop\n');
  const fromFile = await startHub({ databaseUrl: db.url, host: '127.0.0.1', port: 0, log: () => {}, statusPage: file, alerting: false, maintenance: false });
  t.after(() => fromFile.close());
  const body = await getJson<PublicStatus>(`${fromFile.url}/api/public/status`);
  assert.deepEqual([body.body.title, body.body.services[0]!.state], ['From a file', 'unknown']);
});
