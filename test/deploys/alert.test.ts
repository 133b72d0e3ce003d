// Alert messages name a deploy of the app shortly before the failure ("deployed 4 min before the
// first failure"): real PostgreSQL, the real evaluator and real HTTP receivers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase, eventually } from '../helpers/pg.js';
import { startAlerting } from '../../src/hub/alerting/index.js';
import { parseAlertConfig } from '../../src/hub/alerting/config.js';
import { agoText, deployLine, renderEmail, renderSlack, type Notification } from '../../src/hub/alerting/render.js';
import { agentSeen, checks, deferred, httpReceiver, testPool } from '../alerting/helpers.js';

const config = (url: string) => parseAlertConfig(`evaluation_interval: 100ms
leader_poll_interval: 100ms
default_rules: false
delivery: { initial_backoff: 100ms, max_backoff: 300ms, poll_interval: 50ms, timeout: 2s, max_attempts: 20 }
channels:
  - { name: hook, type: webhook, url: "${url}/observ" }
rules:
  - { name: app-health, type: health_check, failures: 2, successes: 2 }
`, 'alerts.yml', { warn: (m) => { throw new Error(m); } });

async function deploy(db: { client: { query: (sql: string, p: unknown[]) => Promise<unknown> } }, vps: string, app: string, agoS: number, version: string) {
  await db.client.query(`INSERT INTO deployments (timestamp, vps_name, app_name, release, version, source)
    VALUES (now() - make_interval(secs => $3), $1, $2, '/opt/deployments/' || $2 || '/releases/' || $4, $4, 'symlink')`, [vps, app, agoS, version]);
}

async function firing(t: TestContext) {
  const stop = deferred(t);
  const db = await testDatabase(t);
  const hook = await httpReceiver(t);
  const pool = testPool(t, db.url);
  const alerting = await startAlerting({ databaseUrl: db.url, pool, config: config(hook.url), dashboardUrl: 'https://observ.example.com/', log: () => {} });
  stop(() => alerting.stop());
  return { db, hook };
}

test('an alert names the deploy of its app made minutes before the first failure, with the version it replaced', async (t) => {
  const { db, hook } = await firing(t);
  for (const app of ['shop', 'blog']) await agentSeen(db.client, 'vps-1', app);
  await deploy(db, 'vps-1', 'shop', 600, '1.4.1');
  await deploy(db, 'vps-1', 'shop', 240, '1.4.2');
  await deploy(db, 'vps-2', 'shop', 60, '9.9.9'); // another VPS: not this alert's deploy
  await deploy(db, 'vps-1', 'blog', 2400, '0.1.0'); // 40 min before: outside the window
  await checks(db.client, 'vps-1', 'shop', 'http://127.0.0.1:8000/health', [false, false]);
  await checks(db.client, 'vps-1', 'blog', 'http://127.0.0.1:8001/health', [false, false]);
  await eventually(async () => hook.received.length === 2, 'two firing notifications', 20_000);
  const byApp = new Map(hook.received.map((r) => [r.json.app as string, r.json]));
  const shop = byApp.get('shop') as { context: { deploy: { version: string; previousVersion: string; beforeMs: number; before: string } } };
  assert.equal(shop.context.deploy.version, '1.4.2');
  assert.equal(shop.context.deploy.previousVersion, '1.4.1');
  assert.equal(shop.context.deploy.before, 'the first failure');
  assert.match(deployLine(shop.context.deploy as never), /^Deployed 1\.4\.2 \(was 1\.4\.1\) 4 min before the first failure, at 20\d\d-/);
  const blog = byApp.get('blog') as { context: { deploy: unknown } };
  assert.equal(blog.context.deploy, null, 'a deploy 40 min before is not quoted');
});

test('Slack and email messages carry the deploy line; a context without one renders as before', () => {
  const deploy = { timestamp: '2026-12-06T14:00:00.000Z', version: 'v2 <!channel>', previousVersion: 'v1', release: '/r/v2', source: 'cli' as const,
    beforeMs: 4 * 60_000 + 10_000, before: 'the first failure' };
  const n: Notification = { kind: 'firing', idempotencyKey: 'k', alertId: 1, eventId: 2, episode: 1, rule: { name: 'r', type: 'health_check', severity: 'critical' },
    vps: 'v', app: 'a', subject: 'http://x/health', summary: 'failing', value: null, eventAt: '2026-12-06T14:04:10.000Z', observedAt: null, firingSince: null,
    mutedUntilNow: false, dashboardLink: 'https://h/#/vps/v/a', context: { at: '2026-12-06T14:04:10.000Z', errorLines: [], host: null, deploy, dashboardLink: 'https://h/' } };
  const slack = JSON.stringify(renderSlack(n));
  assert.match(slack, /Deployed v2 &lt;!channel&gt; \(was v1\) 4 min before the first failure/);
  const mail = renderEmail(n);
  assert.match(mail.text, /Deployed v2 <!channel> \(was v1\) 4 min before the first failure, at 2026-12-06T14:00:00\.000Z/);
  assert.match(mail.html, /Deployed v2 &lt;!channel&gt; \(was v1\) 4 min before/);
  const without = { ...n, context: { ...n.context!, deploy: undefined } };
  assert.doesNotMatch(JSON.stringify(renderSlack(without)) + renderEmail(without).text, /Deployed/);
  assert.equal(agoText(45_000), '45 s');
  assert.equal(agoText(29 * 60_000), '29 min');
  assert.equal(agoText(3 * 3_600_000), '3 h');
});
