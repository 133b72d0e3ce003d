// What the alerts view does through the hub's HTTP API: acknowledgements that record who and carry a
// note, test notifications per channel, channel status per rule, and flaps counted as held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { eventually } from '../helpers/pg.js';
import { getJson, hubFor } from '../hub/fixtures.js';
import { startHub } from '../../src/hub/server.js';
import type { AckResult, AlertEventsResult, AlertRulesResult, AlertsResult, ChannelTestResult } from '../../src/hub/api/types.js';
import { agentSeen, checks, httpReceiver } from './helpers.js';

const PASSWORD = 'a long enough test password';

function alertsFile(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-actions-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'alerts.yml');
  writeFileSync(file, `evaluation_interval: 100ms\nleader_poll_interval: 100ms\ndefault_rules: false\n${text}`);
  return file;
}

const post = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? '' : JSON.stringify(body) });

async function firing(url: string, n: number): Promise<AlertsResult['alerts']> {
  return eventually(async () => {
    const r = await getJson<AlertsResult>(`${url}/api/alerts?status=firing`);
    return r.body.alerts.length >= n ? r.body.alerts : null;
  }, `${n} firing alerts`);
}

test('acknowledgements record "local" on a loopback hub without a password and the login name with one, and carry a note', async (t) => {
  const file = alertsFile(t, 'rules:\n  - { name: shop-health, type: health_check, failures: 2, successes: 2 }\n');
  const { hub, db } = await hubFor(t, { alertsFile: file });
  await agentSeen(db.client, 'vps-1', 'shop');
  await checks(db.client, 'vps-1', 'shop', 'http://x/health', [false, false]);
  await checks(db.client, 'vps-1', 'shop', 'http://x/ready', [false, false]);
  const [first, second] = await firing(hub.url, 2);

  const session = await getJson<{ user: string | null }>(`${hub.url}/api/session`);
  assert.equal(session.body.user, 'local');
  // The body cannot choose who is recorded.
  const acked = await post(`${hub.url}/api/alerts/${first!.id}/ack`, { note: 'restarting the app', by: 'mallory' });
  assert.equal(acked.status, 200);
  const ack = await acked.json() as AckResult;
  assert.equal(ack.alert.acknowledgedBy, 'local');
  assert.equal(ack.alert.acknowledgedNote, 'restarting the app');
  const events = await getJson<AlertEventsResult>(`${hub.url}/api/alert-events?kind=acknowledged`);
  assert.deepEqual(events.body.events.map((e) => [e.actor, e.summary]), [['local', 'restarting the app']]);
  const badNote = await post(`${hub.url}/api/alerts/${second!.id}/ack`, { note: 42 });
  assert.equal(badNote.status, 400);
  assert.match((await badNote.json() as { error: string }).error, /note must be a string/);

  // A second hub on the same database, with a password: the session's name is recorded.
  const secured = await startHub({ databaseUrl: db.url, host: '127.0.0.1', port: 0, auth: { password: PASSWORD }, alerting: false, maintenance: false, log: () => {} });
  t.after(() => secured.close());
  assert.equal((await post(`${secured.url}/api/alerts/${second!.id}/ack`, {})).status, 401);
  const login = await post(`${secured.url}/api/session`, { password: PASSWORD, name: 'dana' });
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  assert.equal((await getJson<{ user: string }>(`${secured.url}/api/session`, { headers: { cookie } })).body.user, 'dana');
  const byDana = await (await post(`${secured.url}/api/alerts/${second!.id}/ack`, undefined, { cookie })).json() as AckResult;
  assert.equal(byDana.alert.acknowledgedBy, 'dana');
  assert.equal(byDana.alert.acknowledgedNote, null);
  const anonymous = await post(`${secured.url}/api/session`, { password: PASSWORD });
  const anonCookie = anonymous.headers.get('set-cookie')!.split(';')[0]!;
  assert.equal((await getJson<{ user: string }>(`${secured.url}/api/session`, { headers: { cookie: anonCookie } })).body.user, 'admin');
  assert.equal((await post(`${secured.url}/api/session`, { password: PASSWORD, name: 'x'.repeat(65) })).status, 400);

  // No channel anywhere: every rule says so, and there is no channel to test.
  const rules = await getJson<AlertRulesResult>(`${hub.url}/api/alert-rules`);
  assert.deepEqual(rules.body.channels, []);
  assert.deepEqual(rules.body.rules.map((r) => [r.name, r.notifies]), [['shop-health', []]]);
  const none = await post(`${hub.url}/api/alert-channels/ops/test`);
  assert.equal(none.status, 404);
  assert.match((await none.json() as { error: string }).error, /no channel "ops" .*configured: none/);
});

test('a test notification goes out over the named channel at once and says how it went; channel status shows per rule', async (t) => {
  const hook = await httpReceiver(t);
  const file = alertsFile(t, `channels:\n  - { name: hook, type: webhook, url: "${hook.url}/in", secret: s3cret }\n` +
    'rules:\n  - { name: shop-health, type: health_check, failures: 2, successes: 2 }\n  - { name: quiet, type: agent_silent, channels: [] }\n');
  const { hub } = await hubFor(t, { alertsFile: file });
  const sent = await post(`${hub.url}/api/alert-channels/hook/test`);
  assert.equal(sent.status, 200);
  const result = await sent.json() as ChannelTestResult;
  assert.deepEqual([result.channel, result.type, result.ok, result.statusCode, result.by], ['hook', 'webhook', true, 200, 'local']);
  assert.equal(hook.received.length, 1);
  assert.equal(hook.received[0]!.json.kind, 'test');
  assert.match(String(hook.received[0]!.json.title), /^\[TEST\] test-notification/);
  assert.match(String(hook.received[0]!.headers['x-observ-signature']), /^sha256=[0-9a-f]{64}$/);

  hook.mode = 'fail';
  const failed = await (await post(`${hub.url}/api/alert-channels/hook/test`)).json() as ChannelTestResult;
  assert.deepEqual([failed.ok, failed.statusCode], [false, 503]);
  assert.match(failed.error ?? '', /HTTP 503/);
  const unknown = await post(`${hub.url}/api/alert-channels/nope/test`);
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json() as { error: string }).error, /configured: hook/);

  const rules = await eventually(async () => {
    const r = await getJson<AlertRulesResult>(`${hub.url}/api/alert-rules`);
    return r.body.leader && r.body.rules.length === 2 ? r.body : null;
  }, 'the leader and its rules');
  assert.deepEqual(rules.channels, [{ name: 'hook', type: 'webhook', lastDelivery: null }], 'a test is not queued');
  assert.deepEqual(rules.rules.map((r) => [r.name, r.notifies]), [['quiet', []], ['shop-health', ['hook']]]);
});

test('a flaky check\'s pending/cleared episodes are counted as flaps held back, and nothing is sent for them', async (t) => {
  const hook = await httpReceiver(t);
  const file = alertsFile(t, `channels:\n  - { name: hook, type: webhook, url: "${hook.url}/in" }\n` +
    'rules:\n  - { name: flaky, type: health_check, failures: 3, successes: 1 }\n');
  const { hub, db } = await hubFor(t, { alertsFile: file });
  await agentSeen(db.client, 'vps-1', 'shop');
  const count = async (kind: string) => Number((await db.client.query(`SELECT count(*) AS n FROM alert_events WHERE kind = $1`, [kind])).rows[0].n);
  for (let i = 1; i <= 3; i++) {
    await checks(db.client, 'vps-1', 'shop', 'http://x/health', [false]);
    await eventually(async () => (await count('pending')) >= i, `pending #${i}`);
    await checks(db.client, 'vps-1', 'shop', 'http://x/health', [true]);
    await eventually(async () => (await count('cleared')) >= i, `cleared #${i}`);
  }
  const all = await getJson<AlertsResult>(`${hub.url}/api/alerts?status=all`);
  assert.deepEqual(all.body.alerts.map((a) => [a.rule, a.status, a.flaps24h]), [['flaky', 'resolved', 3]]);
  const rules = await getJson<AlertRulesResult>(`${hub.url}/api/alert-rules`);
  assert.equal(rules.body.rules.find((r) => r.name === 'flaky')!.flaps24h, 3);
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM alert_outbox')).rows[0].n), 0);
  assert.equal(hook.received.length, 0);
});
