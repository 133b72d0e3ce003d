// Migration 070 as the agent's own login sees it: a deploy event in a batch becomes one deployments
// row in the batch's transaction, replays are no-ops, and retention covers the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { testDatabase } from '../helpers/pg.js';
import { connect } from '../../src/db/pg.js';
import { storeBatch, type Batch } from '../../src/workers/writer/writer.js';
import { releaseEntry } from '../../src/workers/deploys/release.js';
import { applyRetention, readRetentionPolicies } from '../../src/ops/retention.js';

function batch(seq: number, release: string, previous: string | null): Batch {
  const at = new Date().toISOString();
  return { seq, createdAt: at, metrics: [], probes: [], logs: [],
    events: [{ timestamp: at, kind: 'deployment', detail: { release, previousRelease: previous, version: release.split('/').pop(), source: 'symlink' } }],
    files: [releaseEntry('/opt/deployments/shop/current', release)] };
}

test("an agent's login stores a deploy event as one deployments row, once, and keeps the target in its checkpoint", async (t) => {
  const db = await testDatabase(t);
  await db.client.query(readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8'));
  const login = `agent_${randomBytes(4).toString('hex')}`;
  await db.client.query(`CREATE ROLE ${login} LOGIN PASSWORD 'pw-${login}' IN ROLE observ_agent`);
  const u = new URL(db.url);
  u.username = login;
  u.password = `pw-${login}`;
  const agent = await connect(u.toString());
  t.after(async () => {
    await agent.end().catch(() => {});
    await db.client.query(`DROP OWNED BY ${login}`).catch(() => {});
    await db.client.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
  });
  const who = { vps: 'web1', app: 'shop', collectionInterval: 60, startedAt: new Date().toISOString() };
  assert.equal(await storeBatch(agent, batch(1, '/r/2', '/r/1'), who), 'committed');
  assert.equal(await storeBatch(agent, batch(1, '/r/2', '/r/1'), who), 'duplicate');
  assert.equal(await storeBatch(agent, batch(2, '/r/3', '/r/2'), who), 'committed');
  const rows = await db.client.query(`SELECT vps_name, app_name, previous_release, release, version, source FROM deployments ORDER BY id`);
  assert.deepEqual(rows.rows, [
    { vps_name: 'web1', app_name: 'shop', previous_release: '/r/1', release: '/r/2', version: '2', source: 'symlink' },
    { vps_name: 'web1', app_name: 'shop', previous_release: '/r/2', release: '/r/3', version: '3', source: 'symlink' },
  ]);
  const cp = await db.client.query(`SELECT files FROM agent_checkpoints WHERE vps_name = 'web1' AND app_name = 'shop'`);
  assert.deepEqual(cp.rows[0].files, [{ path: 'release:/opt/deployments/shop/current', identity: null, offset: 0, target: '/r/3' }]);
  await assert.rejects(agent.query('SELECT * FROM deployments'), /permission denied/, 'the agent reads no deploys');
});

test('deploy events stored before migration 070 are recovered by it, and retention keeps deploys 730 days', async (t) => {
  const db = await testDatabase(t);
  const sql = readFileSync(fileURLToPath(new URL('../../../sql/migrations/070_deployments.sql', import.meta.url)), 'utf8');
  // As if the agent had been upgraded first: the event row exists, the deployments row does not.
  await db.client.query('DROP TRIGGER observ_deployments ON agent_events; DROP TABLE deployments CASCADE');
  await db.client.query(`INSERT INTO agent_events (timestamp, vps_name, app_name, kind, detail) VALUES
    (now() - interval '1 hour', 'web1', 'shop', 'deployment', '{"release": "/r/7", "previousRelease": "/r/6", "version": "7.0"}'),
    (now(), 'web1', 'shop', 'actor_crash', '{}')`);
  await db.client.query(sql);
  await db.client.query(sql); // idempotent: no second copy
  const rows = await db.client.query(`SELECT release, previous_release, version, source FROM deployments`);
  assert.deepEqual(rows.rows, [{ release: '/r/7', previous_release: '/r/6', version: '7.0', source: 'symlink' }]);
  const policy = (await readRetentionPolicies(db.client)).find((p) => p.table === 'deployments');
  assert.deepEqual(policy, { table: 'deployments', timeColumn: 'timestamp', keepDays: 730 });
  await db.client.query(`INSERT INTO deployments (timestamp, vps_name, app_name, version) VALUES (now() - interval '800 days', 'web1', 'shop', 'ancient')`);
  const actions = await applyRetention(db.client);
  assert.ok(actions.some((a) => a.table === 'deployments' && a.action === 'delete' && a.rows === 1), JSON.stringify(actions));
  assert.deepEqual((await db.client.query(`SELECT version FROM deployments`)).rows, [{ version: '7.0' }]);
});
