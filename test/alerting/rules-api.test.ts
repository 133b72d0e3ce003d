// The other rule types against real rows (one evaluation round at a time), and the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase, eventually } from '../helpers/pg.js';
import { parseAlertConfig } from '../../src/hub/alerting/config.js';
import { evaluateOnce } from '../../src/hub/alerting/evaluator.js';
import { alertsApi, parseEventQuery, startAlerting, AlertApiError } from '../../src/hub/alerting/index.js';
import { storeBatch, type Batch } from '../../src/workers/writer/writer.js';
import { agentSeen, deferred, errorLine, httpReceiver, rounds, testPool } from './helpers.js';

const rulesConfig = parseAlertConfig(`default_rules: false
rules:
  - { name: silent, type: agent_silent, intervals: 3 }
  - { name: errors, type: log_error_rate, threshold: 2, window: 5m }
  - { name: cert, type: cert_expiry, days: 14 }
`, 'alerts.yml');

test('silent agents, error rates and expiring certificates fire and resolve from the data', async (t) => {
  const db = await testDatabase(t);
  const pool = testPool(t, db.url);
  const o = { pool, config: rulesConfig, dashboardUrl: 'http://hub' };
  // Rows written the way the agent writes them.
  const batch: Batch = {
    seq: 1, createdAt: new Date().toISOString(), metrics: [], events: [], files: [],
    probes: [{ timestamp: new Date().toISOString(), url: 'https://shop.example.com/health', statusCode: 200, responseTimeMs: 40, success: true, errorMessage: null, certDaysLeft: 6.5 }],
    logs: Array.from({ length: 12 }, (_, i) => ({ timestamp: new Date(Date.now() - i * 1000).toISOString(), level: i % 2 ? 'ERROR' : 'FATAL', logger: 'app',
      message: `failure ${i}`, context: null, exception: null, flags: [], raw: null, sourceFile: '/var/log/shop.log' })),
  };
  assert.equal(await storeBatch(db.client, batch, { vps: 'vps-1', app: 'shop', collectionInterval: 10, startedAt: new Date().toISOString() }), 'committed');
  await agentSeen(db.client, 'vps-2', 'api', 45, 10); // 45 s silent, 3 × 10 s allowed

  const report = await evaluateOnce(o);
  assert.deepEqual(report.errors, []);
  const firing = async () => (await db.client.query(`SELECT rule_name, vps_name, subject, summary FROM alert_state WHERE status = 'firing' ORDER BY rule_name`)).rows;
  const rows = await firing();
  assert.deepEqual(rows.map((r) => `${r.rule_name} ${r.vps_name} ${r.subject}`), ['cert vps-1 https://shop.example.com/health', 'errors vps-1 ', 'silent vps-2 ']);
  assert.match(rows[1].summary, /^2\.4 ERROR\/FATAL\/CRITICAL lines per minute over 5m \(12 lines; alert above 2\/min\)$/);
  assert.match(rows[2].summary, /^agent silent for 4\ds \(more than 3 × 10s collection interval\)/);

  // The errors stop (older than the window), the agent reports again, the certificate is renewed.
  await db.client.query(`UPDATE log_entries SET timestamp = timestamp - interval '10 minutes'`);
  await agentSeen(db.client, 'vps-2', 'api', 0, 10);
  await db.client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, success, cert_days_left) VALUES (now(), 'vps-1', 'shop', 'https://shop.example.com/health', true, 89)`);
  await evaluateOnce(o);
  assert.deepEqual(await firing(), []);
  const kinds = await db.client.query(`SELECT rule_name, array_agg(kind ORDER BY id) AS kinds FROM alert_events GROUP BY 1 ORDER BY 1`);
  assert.deepEqual(kinds.rows, [
    { rule_name: 'cert', kinds: ['firing', 'resolved'] },
    { rule_name: 'errors', kinds: ['firing', 'resolved'] },
    { rule_name: 'silent', kinds: ['firing', 'resolved'] },
  ]);
  // Evaluating again changes nothing.
  const again = await evaluateOnce(o);
  assert.deepEqual(again.events, {});
});

test('the API lists history with paging, shows the rules, and an acknowledgement stops reminders', async (t) => {
  const defer = deferred(t);
  const db = await testDatabase(t);
  const hook = await httpReceiver(t);
  const pool = testPool(t, db.url);
  const config = parseAlertConfig(`evaluation_interval: 50ms
leader_poll_interval: 50ms
default_rules: false
delivery: { initial_backoff: 50ms, max_backoff: 100ms, poll_interval: 20ms }
channels: [{ name: hook, type: webhook, url: "${hook.url}" }]
rules:
  - { name: errors, type: log_error_rate, threshold: 0, window: 10m, reminder_interval: 200ms }
`, 'alerts.yml');
  await agentSeen(db.client, 'vps-1', 'shop');
  await errorLine(db.client, 'vps-1', 'shop', 'it broke', 5);
  const alerting = await startAlerting({ databaseUrl: db.url, pool, config, dashboardUrl: 'http://hub', log: () => {} });
  defer(() => alerting.stop());
  await eventually(async () => hook.received.filter((r) => r.json.kind === 'reminder').length >= 2, 'reminders');

  const api = alertsApi(pool);
  const open = await api.alerts() as { alerts: { id: number; status: string; rule: string }[] };
  assert.equal(open.alerts.length, 1);
  assert.equal(open.alerts[0]!.status, 'firing');
  const ack = await api.ack(open.alerts[0]!.id, { by: 'dana', comment: 'looking into it' }) as { alert: { acknowledgedBy: string }; alreadyAcknowledged: boolean };
  assert.equal(ack.alert.acknowledgedBy, 'dana');
  assert.equal((await api.ack(open.alerts[0]!.id) as { alreadyAcknowledged: boolean }).alreadyAcknowledged, true);
  const sentAtAck = hook.received.length;
  await rounds(() => alerting.status().evaluations, 10); // ≥ 500 ms: two reminder intervals
  // At most one reminder already queued before the ack may still arrive; none after it.
  const late = hook.received.length - sentAtAck;
  assert.ok(late <= 1, `reminders after the acknowledgement: ${late}`);
  const remindersAfterAck = await db.client.query(
    `SELECT count(*)::int AS n FROM alert_events WHERE kind = 'reminder' AND id > (SELECT id FROM alert_events WHERE kind = 'acknowledged')`);
  assert.equal(remindersAfterAck.rows[0].n, 0);

  await assert.rejects(api.ack(999_999), (err: AlertApiError) => err.status === '404 Not Found');
  await assert.rejects(api.events({ limit: 0 }), (err: AlertApiError) => err.status === '400 Bad Request');
  assert.throws(() => parseEventQuery(new URLSearchParams('limit=ten')), /limit must be an integer from 1 to 500/);

  const page1 = await api.events(parseEventQuery(new URLSearchParams('limit=2&vps=vps-1'))) as { events: { id: number; kind: string; notifications: { status: string }[] }[]; nextBefore: number };
  assert.equal(page1.events.length, 2);
  assert.ok(page1.nextBefore);
  const page2 = await api.events({ limit: 500, before: page1.nextBefore }) as { events: { id: number; kind: string }[]; nextBefore: number | null };
  assert.equal(page2.nextBefore, null);
  const all = [...page1.events, ...page2.events];
  assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort((a, b) => b - a), 'newest first, no overlap');
  assert.equal(all.at(-1)!.kind, 'firing');
  assert.ok(all.some((e) => e.kind === 'acknowledged'));
  const firing = await api.events({ kind: 'firing' }) as { events: { notifications: { channel: string; status: string }[]; context: { errorLines: { message: string }[] } }[] };
  assert.deepEqual(firing.events[0]!.notifications.map((n) => `${n.channel}:${n.status}`), ['hook:sent']);
  assert.equal(firing.events[0]!.context.errorLines[0]!.message, 'it broke');

  const rules = await api.rules() as unknown as { leader: { pid: number } | null; rules: { name: string; type: string; firing: number; perMinute: number }[] };
  assert.equal(rules.leader?.pid, process.pid);
  assert.deepEqual(rules.rules.map((r) => [r.name, r.type, r.firing, r.perMinute]), [['errors', 'log_error_rate', 1, 0]]);
  assert.ok(!JSON.stringify(rules).includes(hook.url), 'no channel URLs in the API');
});
