// The health checks on a fleet card are those the agent runs now (stored with its checkpoint,
// migration 110): a URL taken out of monitoring.yml leaves at the agent's next batch, a URL added shows
// as waiting for its first result, and an agent that does not store its list keeps the one-day rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson, store, probe, sample, minutesAgo } from './fixtures.js';
import type { FleetRow } from '../../src/hub/api/types.js';

const url = (path: string) => `http://127.0.0.1:8000${path}`;

/**
 * The agent's fleet row once it shows `urls` (the hub's in-memory overview takes a batch's rows on the
 * batch's notification, within moments of the COMMIT).
 */
async function fleet(hubUrl: string, app: string, urls: string[]): Promise<FleetRow> {
  let row: FleetRow | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await getJson<{ fleet: FleetRow[] }>(`${hubUrl}/api/fleet?app=${app}`);
    assert.equal(r.status, 200);
    row = r.body.fleet.find((f) => f.app === app);
    if (row && row.checks.map((c) => c.url).join() === urls.join()) return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`the fleet row of ${app} shows checks ${JSON.stringify(row?.checks.map((c) => c.url))}, not ${JSON.stringify(urls)}`);
}

test('a card shows the checks the agent runs now: a removed URL leaves at once, an added one waits for its first result', async (t) => {
  // Status from the latest results (the alerts' side is test/alerting/notify's).
  const { hub, db } = await hubFor(t, { alerting: false });
  // The agent ran /health and /old; both reported.
  await store(db.client, 'vps-1', 'shop', {
    metrics: [sample(minutesAgo(3))],
    probes: [probe(minutesAgo(3), { url: url('/health') }), probe(minutesAgo(3), { url: url('/old'), success: false, statusCode: 500, errorMessage: 'HTTP 500' })],
  }, 60, [{ url: url('/health'), interval: 30, timeout: 10 }, { url: url('/old'), interval: 30, timeout: 10 }]);
  let row = await fleet(hub.url, 'shop', [url('/health'), url('/old')]);
  assert.deepEqual(row.checks.map((c) => [c.url, c.success]), [[url('/health'), true], [url('/old'), false]]);
  assert.equal(row.status, 'down', 'the failing /old counts while the agent runs it');

  // Restarted with /old replaced by /ready (hourly): its next batch carries the new list.
  await store(db.client, 'vps-1', 'shop', {
    metrics: [sample(minutesAgo(1))], probes: [probe(minutesAgo(1), { url: url('/health'), responseTimeMs: 7 })],
  }, 60, [{ url: url('/health'), interval: 30, timeout: 10 }, { url: url('/ready'), interval: 3600, timeout: 5 }]);
  row = await fleet(hub.url, 'shop', [url('/health'), url('/ready')]);
  assert.deepEqual(row.checks, [
    { url: url('/health'), success: true, statusCode: 200, responseTimeMs: 7, errorMessage: null, timestamp: row.checks[0]!.timestamp,
      intervalSeconds: 30, timeoutSeconds: 10 },
    { url: url('/ready'), success: null, statusCode: null, responseTimeMs: null, errorMessage: null, timestamp: null,
      intervalSeconds: 3600, timeoutSeconds: 5 },
  ]);
  assert.ok(Math.abs(Date.parse(row.checks[0]!.timestamp!) - (Date.now() - 60_000)) < 10_000, 'the latest /health result, a minute old');
  assert.equal(row.status, 'up', 'a removed check\'s failure no longer counts, and a check without a result is no failure');

  // No checks at all any more: none shown, though /health reported a minute ago.
  await store(db.client, 'vps-1', 'shop', { metrics: [sample(minutesAgo(0))] }, 60, []);
  row = await fleet(hub.url, 'shop', []);
  assert.deepEqual(row.checks, []);
  assert.equal(row.status, 'up');
});

test('an agent that does not store its checks keeps those with a result in the last day, without intervals', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'api', {
    metrics: [sample(minutesAgo(1))],
    probes: [probe(minutesAgo(25 * 60), { url: url('/gone') }), probe(minutesAgo(60), { url: url('/health') })],
  });
  const row = await fleet(hub.url, 'api', [url('/health')]);
  assert.deepEqual(row.checks.map((c) => [c.url, c.success, c.intervalSeconds, c.timeoutSeconds]), [[url('/health'), true, null, null]]);
  const stored = await db.client.query<{ health_checks: unknown }>(`SELECT health_checks FROM agent_checkpoints WHERE app_name = 'api'`);
  assert.deepEqual(stored.rows, [{ health_checks: null }]);
});

test('an agent whose only check has no result yet and that sent no metrics is unknown, not up', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'new', {}, 60, [{ url: url('/health'), interval: 60, timeout: 10 }]);
  const row = await fleet(hub.url, 'new', [url('/health')]);
  assert.equal(row.status, 'unknown');
  assert.deepEqual(row.checks.map((c) => [c.url, c.success, c.timestamp]), [[url('/health'), null, null]]);
});

test('the checkpoint refuses a list of checks that is not a JSON array', async (t) => {
  const { db } = await hubFor(t);
  await store(db.client, 'vps-1', 'shop', {}, 60, []);
  await assert.rejects(
    db.client.query(`SELECT observ_checkpoint_save('vps-1', 'shop', 99, '[]', 60, 'x', now(), '{"url": "x"}')`),
    (err: Error & { code?: string }) => err.code === '22023' && /must be a JSON array/.test(err.message));
});
