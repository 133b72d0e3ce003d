// Several hubs, one leader: exactly one evaluates and sends, and a takeover — after a clean stop or
// after the leader's process is SIGKILLed — neither loses nor repeats a notification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testDatabase, eventually } from '../helpers/pg.js';
import { startAlerting } from '../../src/hub/alerting/index.js';
import { deferred, agentSeen, checks, httpReceiver, rounds, tempFile, testPool, type HttpReceiver } from './helpers.js';

const CHILD = fileURLToPath(new URL('../fixtures/alerting-instance.js', import.meta.url));
const quiet = () => {};

function configText(hook: HttpReceiver): string {
  return `evaluation_interval: 100ms
leader_poll_interval: 100ms
default_rules: false
delivery: { initial_backoff: 100ms, max_backoff: 200ms, poll_interval: 50ms, timeout: 2s, max_attempts: 50 }
channels:
  - { name: hook, type: webhook, url: "${hook.url}/in", secret: k }
rules:
  - { name: web-health, type: health_check, failures: 3, successes: 2 }
`;
}

function summary(hook: HttpReceiver): string[] {
  return hook.received.map((r) => `${r.json.kind} ${r.json.subject}`).sort();
}

test('two alerting instances: one leader, one notification; a clean stop hands over without repeats', async (t) => {
  const defer = deferred(t);
  const db = await testDatabase(t);
  const hook = await httpReceiver(t);
  const file = tempFile(t, 'alerts.yml', configText(hook));
  await agentSeen(db.client, 'vps-1', 'web');
  const instances = [0, 1].map(() => ({ pool: testPool(t, db.url) }));
  const started = await Promise.all(instances.map((i) =>
    startAlerting({ databaseUrl: db.url, pool: i.pool, configFile: file, dashboardUrl: 'http://hub', log: quiet })));
  defer(() => Promise.all(started.map((a) => a.stop())));
  const leader = await eventually(async () => started.find((a) => a.status().leader), 'a leader');
  const follower = started.find((a) => a !== leader)!;
  await rounds(() => leader.status().evaluations, 3);
  assert.equal(follower.status().leader, false);
  assert.equal(follower.status().evaluations, 0, 'the follower does not evaluate');

  await checks(db.client, 'vps-1', 'web', 'http://a/health', [false, false, false]);
  await eventually(async () => hook.received.length === 1, 'the firing notice');
  await rounds(() => leader.status().evaluations, 4);
  assert.deepEqual(summary(hook), ['firing http://a/health']);

  await leader.stop();
  await eventually(async () => follower.status().leader, 'the takeover');
  await rounds(() => follower.status().evaluations, 3);
  assert.equal(hook.received.length, 1, 'the new leader does not repeat the firing notice');
  await checks(db.client, 'vps-1', 'web', 'http://a/health', [true, true]);
  await eventually(async () => hook.received.length === 2, 'the resolved notice');
  await rounds(() => follower.status().evaluations, 4);
  assert.deepEqual(summary(hook), ['firing http://a/health', 'resolved http://a/health']);
});

test('a SIGKILLed leader is replaced and nothing is lost or sent twice', async (t) => {
  const defer = deferred(t);
  const db = await testDatabase(t);
  const hook = await httpReceiver(t);
  const file = tempFile(t, 'alerts.yml', configText(hook));
  await agentSeen(db.client, 'vps-1', 'web');

  const child = spawn(process.execPath, [CHILD, db.url, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let childErr = '';
  child.stderr!.on('data', (d: Buffer) => { childErr += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  defer(async () => { child.kill('SIGKILL'); await exited; });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never became leader:\n${childErr}`)), 15_000);
    lines.on('line', (l) => { if ((JSON.parse(l) as { leader: boolean }).leader) { clearTimeout(timer); resolve(); } });
  });

  const pool = testPool(t, db.url);
  const survivor = await startAlerting({ databaseUrl: db.url, pool, configFile: file, dashboardUrl: 'http://hub', log: quiet });
  defer(() => survivor.stop());

  // The child (leader) fires alert A and delivers it.
  await checks(db.client, 'vps-1', 'web', 'http://a/health', [false, false, false]);
  await eventually(async () => hook.received.length === 1, 'the firing notice for A');
  assert.equal(survivor.status().leader, false);
  assert.equal(survivor.status().evaluations, 0);
  // Alert B fires while the receiver is down: the child retries, and is killed with B still owed.
  hook.mode = 'fail';
  await checks(db.client, 'vps-1', 'web', 'http://b/health', [false, false, false]);
  await eventually(async () => (await db.client.query(`SELECT 1 FROM alert_deliveries WHERE NOT success`)).rowCount! >= 2, 'failed attempts for B');
  child.kill('SIGKILL');
  await exited;
  hook.mode = 'up';
  await checks(db.client, 'vps-1', 'web', 'http://a/health', [true, true]);

  await eventually(async () => survivor.status().leader, 'the takeover', 15_000);
  await eventually(async () => hook.received.length === 3, 'B delivered and A resolved', 15_000);
  await rounds(() => survivor.status().evaluations, 5);
  assert.deepEqual(summary(hook), ['firing http://a/health', 'firing http://b/health', 'resolved http://a/health']);
  const keys = hook.received.map((r) => r.json.idempotencyKey);
  assert.equal(new Set(keys).size, keys.length);
  const sentBy = await db.client.query(`SELECT DISTINCT split_part(hub, ':', 2)::int AS pid FROM alert_deliveries WHERE success ORDER BY 1`);
  assert.deepEqual(sentBy.rows.map((r) => r.pid).sort(), [child.pid, process.pid].sort(), 'both hubs sent: the dead one before, the survivor after');
  const events = await db.client.query(`SELECT kind, subject FROM alert_events WHERE kind IN ('firing', 'resolved') ORDER BY id`);
  assert.equal(events.rowCount, 3);
});
