// End to end against real PostgreSQL and real receivers: rows in → alert state, events and
// notifications out over HTTP (Slack, signed webhook) and SMTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { testDatabase, eventually } from '../helpers/pg.js';
import { freePort } from '../../src/db/embedded.js';
import { startAlerting, alertsApi, type AlertConfig } from '../../src/hub/alerting/index.js';
import { parseAlertConfig } from '../../src/hub/alerting/config.js';
import { deferred, agentSeen, checks, errorLine, httpReceiver, mailText, metricSample, rounds, smtpReceiver, testPool, type HttpReceiver } from './helpers.js';

const SECRET = 'test-signing-secret';
const stops = new WeakMap<import('node:test').TestContext, ReturnType<typeof deferred>>();

async function database(t: import('node:test').TestContext) {
  stops.set(t, deferred(t));
  return testDatabase(t);
}
const quiet = () => {};

function config(text: string): AlertConfig {
  return parseAlertConfig(`evaluation_interval: 100ms
leader_poll_interval: 100ms
default_rules: false
delivery: { initial_backoff: 100ms, max_backoff: 300ms, poll_interval: 50ms, timeout: 2s, max_attempts: 20 }
${text}`, 'alerts.yml', { warn: (m) => { throw new Error(m); } });
}

function channels(slack: HttpReceiver, hook: HttpReceiver): string {
  return `channels:
  - { name: ops-slack, type: slack, webhook_url: "${slack.url}/services/T0/B0/x" }
  - { name: hook, type: webhook, url: "${hook.url}/observ", secret: ${SECRET} }
`;
}

const healthRule = `rules:
  - { name: shop-health, type: health_check, failures: 3, successes: 2, app: "shop" }
`;

async function start(t: import('node:test').TestContext, url: string, cfg: AlertConfig) {
  const pool = testPool(t, url);
  const alerting = await startAlerting({ databaseUrl: url, pool, config: cfg, dashboardUrl: 'https://observ.example.com/', log: quiet });
  stops.get(t)!(() => alerting.stop());
  await eventually(async () => alerting.status().leader, 'leadership', 10_000, 20);
  return { alerting, pool, evaluations: () => alerting.status().evaluations };
}

test('a check failing 3 times sends exactly one notification per channel, with incident context and a valid signature', async (t) => {
  // The context is gathered inside the transition's transaction, one query at a time: pg warns (once
  // per process) about queries sent to a client that is still busy, and pg 9 refuses them.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => { process.off('warning', onWarning); });
  const db = await database(t);
  const slack = await httpReceiver(t);
  const hook = await httpReceiver(t);
  await agentSeen(db.client, 'vps-1', 'shop');
  // Context: errors logged before the failure, and the host's metrics at that moment.
  await errorLine(db.client, 'vps-1', 'shop', 'payment provider timed out after 30s', 700);
  await errorLine(db.client, 'vps-1', 'shop', 'database pool exhausted <!channel> & more', 650);
  await metricSample(db.client, 'vps-1', 'shop', 620, { cpu: 97.5, memory: 81.25, disk: 42, load: 3.5 });
  const { evaluations } = await start(t, db.url, config(channels(slack, hook) + healthRule));

  await checks(db.client, 'vps-1', 'shop', 'http://127.0.0.1:8000/health', [false, false]);
  await rounds(evaluations, 3);
  assert.equal(slack.received.length, 0, 'two failures are not enough');
  const pending = await db.client.query(`SELECT status FROM alert_state WHERE rule_name = 'shop-health'`);
  assert.equal(pending.rows[0].status, 'pending');

  await checks(db.client, 'vps-1', 'shop', 'http://127.0.0.1:8000/health', [false]);
  await eventually(async () => slack.received.length === 1 && hook.received.length === 1, 'one Slack message and one webhook');
  await checks(db.client, 'vps-1', 'shop', 'http://127.0.0.1:8000/health', [false, false]); // still failing
  await rounds(evaluations, 5);
  assert.equal(slack.received.length, 1);
  assert.equal(hook.received.length, 1);

  const s = slack.received[0]!;
  assert.equal(s.path, '/services/T0/B0/x');
  assert.match(String(s.json.text), /^\[FIRING\] shop-health on vps-1\/shop \(http:\/\/127\.0\.0\.1:8000\/health\)/);
  const slackText = JSON.stringify(s.json.blocks);
  assert.match(slackText, /payment provider timed out after 30s/);
  assert.match(slackText, /database pool exhausted &lt;!channel&gt; &amp; more/, 'log text is escaped for Slack');
  assert.match(slackText, /CPU 97\.5% · memory 81\.3% · disk 42%/);
  assert.match(slackText, /https:\/\/observ\.example\.com\/#\/vps\/vps-1\/shop\?at=20\d\d-/);

  const h = hook.received[0]!;
  const expected = 'sha256=' + createHmac('sha256', SECRET).update(h.body).digest('hex');
  assert.equal(h.headers['x-observ-signature'], expected);
  assert.equal(h.headers['x-observ-event'], 'firing');
  assert.equal(h.headers['idempotency-key'], h.json.idempotencyKey);
  assert.equal(h.json.kind, 'firing');
  assert.equal(h.json.vps, 'vps-1');
  const ctx = h.json.context as { errorLines: { message: string }[]; host: { cpuPercent: number }; dashboardLink: string; at: string };
  assert.deepEqual(ctx.errorLines.map((l) => l.message), ['payment provider timed out after 30s', 'database pool exhausted <!channel> & more']);
  assert.equal(ctx.host.cpuPercent, 97.5);
  assert.equal(ctx.dashboardLink, `https://observ.example.com/#/vps/vps-1/shop?at=${encodeURIComponent(ctx.at)}`);
  assert.deepEqual(warnings.filter((m) => /already executing a query/.test(m)), []);

  const events = await db.client.query(`SELECT kind FROM alert_events ORDER BY id`);
  assert.deepEqual(events.rows.map((r) => r.kind), ['pending', 'firing']);
});

test('a flapping check (fail, ok, fail, …) never notifies; recovery sends one resolved notice', async (t) => {
  const db = await database(t);
  const slack = await httpReceiver(t);
  const hook = await httpReceiver(t);
  await agentSeen(db.client, 'vps-1', 'shop');
  const { evaluations } = await start(t, db.url, config(channels(slack, hook) + healthRule));
  const url = 'http://127.0.0.1:8000/health';

  for (const r of [false, true, false, false, true, false, true]) {
    await checks(db.client, 'vps-1', 'shop', url, [r]);
    await rounds(evaluations, 2);
  }
  assert.equal(slack.received.length + hook.received.length, 0, 'flapping never reaches 3 failures in a row');

  await checks(db.client, 'vps-1', 'shop', url, [false, false, false]);
  await eventually(async () => slack.received.length === 1, 'the firing notice');
  await checks(db.client, 'vps-1', 'shop', url, [true]);
  await rounds(evaluations, 3);
  assert.equal(slack.received.length, 1, 'one success is not a recovery (successes: 2)');
  await checks(db.client, 'vps-1', 'shop', url, [true]);
  await eventually(async () => slack.received.length === 2 && hook.received.length === 2, 'the resolved notice');
  await rounds(evaluations, 4);
  assert.equal(slack.received.length, 2);
  assert.match(String(slack.received[1]!.json.text), /^\[RESOLVED\] shop-health on vps-1\/shop/);
  assert.equal(hook.received[1]!.json.kind, 'resolved');
  const state = await db.client.query(`SELECT status, episode FROM alert_state WHERE rule_name = 'shop-health'`);
  // fail/ok/fail kept the alert pending (one success is not a recovery) until it fired: one episode.
  assert.deepEqual(state.rows[0], { status: 'resolved', episode: 1 });
  const events = await db.client.query(`SELECT kind FROM alert_events ORDER BY id`);
  assert.deepEqual(events.rows.map((r) => r.kind), ['pending', 'firing', 'resolved']);
});

test('inside a maintenance window an alert is recorded but not sent', async (t) => {
  const db = await database(t);
  const slack = await httpReceiver(t);
  const hook = await httpReceiver(t);
  await agentSeen(db.client, 'vps-db', 'shop');
  await agentSeen(db.client, 'vps-1', 'shop');
  const start1 = new Date(Date.now() - 3600_000).toISOString();
  const end1 = new Date(Date.now() + 3600_000).toISOString();
  const { evaluations } = await start(t, db.url, config(channels(slack, hook) + healthRule +
    `maintenance:\n  - { name: db-upgrade, vps: vps-db, start: "${start1}", end: "${end1}" }\n`));
  await checks(db.client, 'vps-db', 'shop', 'http://db/health', [false, false, false]);
  await eventually(async () => (await db.client.query(`SELECT 1 FROM alert_events WHERE kind = 'firing'`)).rowCount === 1, 'the firing event');
  await rounds(evaluations, 4);
  const ev = await db.client.query(`SELECT vps_name, muted_by FROM alert_events WHERE kind = 'firing'`);
  assert.deepEqual(ev.rows, [{ vps_name: 'vps-db', muted_by: 'db-upgrade' }]);
  assert.equal((await db.client.query('SELECT * FROM alert_outbox')).rowCount, 0);
  assert.equal(slack.received.length, 0);

  // Another vps is not in the window.
  await checks(db.client, 'vps-1', 'shop', 'http://web/health', [false, false, false]);
  await eventually(async () => slack.received.length === 1, 'the notice for vps-1');
  assert.match(String(slack.received[0]!.json.text), /vps-1/);
});

test('a receiver that is down gets the notification once it is back, and every attempt is recorded', async (t) => {
  const db = await database(t);
  const port = await freePort();
  const hookUrl = `http://127.0.0.1:${port}`;
  await agentSeen(db.client, 'vps-1', 'shop');
  const cfg = config(`channels:\n  - { name: hook, type: webhook, url: "${hookUrl}/in", secret: ${SECRET} }\n` + healthRule);
  const { pool } = await start(t, db.url, cfg);
  await checks(db.client, 'vps-1', 'shop', 'http://x/health', [false, false, false]);
  await eventually(async () => (await db.client.query(`SELECT 1 FROM alert_deliveries WHERE NOT success`)).rowCount! >= 2, 'two failed attempts');

  const failed = await alertsApi(pool).deliveries({ status: 'pending' }) as { deliveries: { attempts: number; lastError: string; log: unknown[] }[] };
  assert.equal(failed.deliveries.length, 1);
  assert.match(failed.deliveries[0]!.lastError, /ECONNREFUSED/);

  const hook = await httpReceiver(t, port);
  await eventually(async () => hook.received.length === 1, 'delivery after the receiver came back');
  // The receiver has the request before the deliverer has stored its answer: wait for that commit.
  const row = await eventually(async () => {
    const r = await db.client.query(`SELECT status, attempts FROM alert_outbox`);
    return r.rows[0]?.status === 'sent' ? r : null;
  }, 'the delivery recorded as sent');
  assert.equal(row.rows[0].status, 'sent');
  assert.ok(row.rows[0].attempts >= 3);
  const attempts = await db.client.query(`SELECT success FROM alert_deliveries ORDER BY id`);
  assert.equal(attempts.rows.filter((r) => r.success).length, 1);
  assert.equal(attempts.rows.at(-1).success, true);
  assert.equal(hook.received.length, 1);
});

test('email goes out over SMTP with STARTTLS and authentication, with context in the body', async (t) => {
  const db = await database(t);
  const smtp = await smtpReceiver(t, { user: 'observ', pass: 's3cret' });
  await agentSeen(db.client, 'vps-2', 'api');
  await errorLine(db.client, 'vps-2', 'api', 'upstream returned 502 <script>alert(1)</script>', 300, 'FATAL');
  await metricSample(db.client, 'vps-2', 'api', 290, { cpu: 12, memory: 55.5, disk: 93.25, load: 0.75 });
  await metricSample(db.client, 'vps-2', 'api', 0, { disk: 95.5 });
  for (const ago of [360, 240, 120, 60]) await metricSample(db.client, 'vps-2', 'api', ago, { disk: 93 });
  await start(t, db.url, config(`channels:
  - name: oncall
    type: email
    host: 127.0.0.1
    port: ${smtp.port}
    require_tls: true
    reject_unauthorized: false
    user: observ
    password: s3cret
    from: "Observ <observ@example.com>"
    to: [oncall@example.com, ops@example.com]
rules:
  - { name: disk-full, type: metric, condition: "disk_percent > 90 for 5m", severity: critical }
`));
  await eventually(async () => smtp.mails.length === 1, 'the email', 15_000);
  const mail = smtp.mails[0]!;
  assert.equal(mail.secure, true, 'STARTTLS was used');
  assert.equal(mail.user, 'observ');
  assert.deepEqual(mail.to, ['oncall@example.com', 'ops@example.com']);
  const { headers, text, html } = mailText(mail.raw);
  assert.match(headers, /Subject: \[FIRING\] disk-full on vps-2\/api: disk_percent is 95\.5/);
  assert.match(headers, /Message-ID: <observ-\d+-1-\d+-oncall@observ\.alerting>/);
  assert.match(text, /upstream returned 502 <script>alert\(1\)<\/script>/);
  assert.match(text, /disk 95\.5%/);
  assert.match(text, /Dashboard at that minute: https:\/\/observ\.example\.com\/#\/vps\/vps-2\/api\?at=/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.doesNotMatch(html, /<script>/);
});

test("a failing receiver's reply reaches the operator's log, never what dashboard viewers see", async (t) => {
  const db = await database(t);
  const hook = await httpReceiver(t);
  hook.mode = 'fail'; // replies 503 "down for the test"
  await agentSeen(db.client, 'vps-1', 'shop');
  const cfg = config(`channels:\n  - { name: hook, type: webhook, url: "${hook.url}/in", secret: ${SECRET} }\n` + healthRule);
  const logged: string[] = [];
  const pool = testPool(t, db.url);
  const alerting = await startAlerting({ databaseUrl: db.url, pool, config: cfg, dashboardUrl: 'https://observ.example.com/',
    log: (_level, message, context) => { logged.push(`${message} ${JSON.stringify(context ?? {})}`); } });
  stops.get(t)!(() => alerting.stop());
  await checks(db.client, 'vps-1', 'shop', 'http://x/health', [false, false, false]);
  await eventually(async () => (await db.client.query(`SELECT 1 FROM alert_deliveries WHERE NOT success`)).rowCount! >= 1, 'a failed attempt');
  const api = alertsApi(pool);
  const seen = JSON.stringify([await api.deliveries({}), await api.events({})]);
  assert.doesNotMatch(seen, /down for the test/);
  assert.match(seen, /HTTP 503/);
  const stored = await db.client.query(`SELECT (SELECT string_agg(coalesce(error, ''), ' ') FROM alert_deliveries) || (SELECT string_agg(coalesce(last_error, ''), ' ') FROM alert_outbox) AS t`);
  assert.doesNotMatch(String(stored.rows[0].t), /down for the test/, 'not in the database either');
  assert.ok(logged.some((l) => l.includes('down for the test')), 'the operator sees the reply in the hub log');
});

test('a firing check taken out of the agent\'s health_checks is resolved once the agent stores its new list; an older agent\'s is held', async (t) => {
  const db = await database(t);
  const slack = await httpReceiver(t);
  const hook = await httpReceiver(t);
  const url = 'http://127.0.0.1:8000/health';
  const runs = (list: string[] | null) => db.client.query(`UPDATE agent_checkpoints SET health_checks = $3::jsonb WHERE vps_name = $1 AND app_name = $2`,
    ['vps-1', 'shop', list === null ? null : JSON.stringify(list.map((u) => ({ url: u, interval: 30, timeout: 10 })))]);
  await agentSeen(db.client, 'vps-1', 'shop');
  await runs([url]);
  const { evaluations } = await start(t, db.url, config(channels(slack, hook) + healthRule));
  await checks(db.client, 'vps-1', 'shop', url, [false, false, false]);
  await eventually(async () => slack.received.length === 1, 'the firing notice');

  // An agent that does not say what it runs (null): no result is no news, the alert stays open.
  await runs(null);
  await rounds(evaluations, 3);
  assert.equal((await db.client.query(`SELECT status FROM alert_state WHERE rule_name = 'shop-health'`)).rows[0]!.status, 'firing');

  // The agent now runs another URL only: the alert on the one it dropped is resolved, with a notice.
  await runs(['http://127.0.0.1:8000/ready']);
  await eventually(async () => slack.received.length === 2, 'the resolved notice');
  assert.match(String(slack.received[1]!.json.text), /^\[RESOLVED\] shop-health on vps-1\/shop/);
  const state = await db.client.query(`SELECT status, summary FROM alert_state WHERE rule_name = 'shop-health'`);
  assert.deepEqual(state.rows, [{ status: 'resolved', summary: 'the agent no longer runs this check (removed from its health_checks)' }]);
  await rounds(evaluations, 3);
  assert.equal(slack.received.length, 2, 'resolved once');
});
