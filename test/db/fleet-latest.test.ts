// Migration 060: the fleet's latest state is kept by the inserts themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDatabase } from '../helpers/pg.js';
import { connect, createPool, type PgClient } from '../../src/db/pg.js';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { queryFleet } from '../../src/hub/api/fleet.js';

const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8');

async function latest(client: PgClient): Promise<{ metrics: unknown[]; checks: unknown[] }> {
  const m = await client.query(`SELECT vps_name, app_name, cpu_percent AS cpu, timestamp FROM fleet_latest_metrics ORDER BY 1, 2`);
  const c = await client.query(`SELECT vps_name, app_name, url, success, status_code, timestamp FROM fleet_latest_checks ORDER BY 1, 2, 3`);
  return { metrics: m.rows.map((r) => [r.vps_name, r.app_name, r.cpu, r.timestamp.toISOString()]),
    checks: c.rows.map((r) => [r.vps_name, r.app_name, r.url, r.success, r.status_code, r.timestamp.toISOString()]) };
}

const T = (minutesAgo: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutesAgo * 60_000).toISOString();

test('one statement of several agents keeps each agent\'s newest sample and each URL\'s newest result; an older row never replaces a newer', async (t) => {
  const { client } = await testDatabase(t);
  await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES
    ($1, 'v1', 'a', 10), ($2, 'v1', 'a', 11), ($1, 'v2', 'a', 20)`, [T(2), T(1)]);
  await client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success) VALUES
    ($1, 'v1', 'a', 'http://x/health', 200, true), ($2, 'v1', 'a', 'http://x/health', 503, false), ($1, 'v1', 'a', 'http://x/ready', 200, true)`, [T(2), T(1)]);
  // A spool replayed after an outage: older rows arrive after newer ones.
  await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES ($1, 'v1', 'a', 99)`, [T(30)]);
  await client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success) VALUES ($1, 'v1', 'a', 'http://x/health', 200, true)`, [T(30)]);
  assert.deepEqual(await latest(client), {
    metrics: [['v1', 'a', 11, T(1)], ['v2', 'a', 20, T(2)]],
    checks: [['v1', 'a', 'http://x/health', false, 503, T(1)], ['v1', 'a', 'http://x/ready', true, 200, T(2)]],
  });
  // A rolled-back insert leaves nothing behind.
  await client.query('BEGIN');
  await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES (now(), 'v1', 'a', 55)`);
  await client.query('ROLLBACK');
  assert.deepEqual((await latest(client)).metrics[0], ['v1', 'a', 11, T(1)]);
});

test('an agent login (insert-only) keeps its latest state through the trigger, and cannot write that state itself', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(ROLES_SQL);
  const login = `fl_${Date.now().toString(36)}`;
  await db.client.query(`CREATE ROLE ${login} LOGIN PASSWORD 'fl-agent-pw' IN ROLE observ_agent`);
  t.after(async () => { await db.client.query(`DROP OWNED BY ${login}`).catch(() => {}); await db.client.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {}); });
  await db.client.query(`SELECT observ_register_agent('web1', 'shop', $1)`, [login]);
  const u = new URL(db.url);
  u.username = login;
  u.password = 'fl-agent-pw';
  const agent = await connect(u.toString());
  t.after(() => agent.end());
  await agent.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES ($1, 'web1', 'shop', 7)`, [T(1)]);
  await agent.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success) VALUES ($1, 'web1', 'shop', 'http://s/h', 200, true)`, [T(1)]);
  assert.deepEqual(await latest(db.client), { metrics: [['web1', 'shop', 7, T(1)]], checks: [['web1', 'shop', 'http://s/h', true, 200, T(1)]] });
  await assert.rejects(agent.query(`UPDATE fleet_latest_metrics SET timestamp = now()`), /permission denied/);
  await assert.rejects(agent.query(`INSERT INTO fleet_latest_checks (vps_name, app_name, url, timestamp, success) VALUES ('x', 'y', 'z', now(), true)`), /permission denied/);
});

test('migrating a database with history fills the latest state from it, and the fleet overview reads it', async (t) => {
  const db = await testDatabase(t, { migrate: false });
  const before = mkdtempSync(join(tmpdir(), 'observ-migrations-'));
  t.after(() => rmSync(before, { recursive: true, force: true }));
  for (const f of readdirSync(MIGRATIONS_DIR)) if (f < '060_') cpSync(join(MIGRATIONS_DIR, f), join(before, f));
  await migrate(db.client, before);
  await db.client.query(`INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq, collection_interval, updated_at) VALUES ('v1', 'a', 1, 60, now())`);
  await db.client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, app_restarts) VALUES ($1, 'v1', 'a', 5, 2), ($2, 'v1', 'a', 6, 1)`, [T(3), T(2)]);
  await db.client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success) VALUES
    ($1, 'v1', 'a', 'http://x/health', 200, true), (now() - interval '2 days', 'v1', 'a', 'http://x/gone', 200, true)`, [T(2)]);
  assert.ok((await migrate(db.client)).includes('060_fleet_latest'));
  assert.deepEqual(await latest(db.client), { metrics: [['v1', 'a', 6, T(2)]], checks: [['v1', 'a', 'http://x/health', true, 200, T(2)]] });
  const pool = createPool(db.url, { max: 1 });
  t.after(() => pool.end());
  const [row] = await queryFleet(pool);
  assert.equal(row!.cpuPercent, 6);
  assert.equal(row!.metricsAt, T(2));
  assert.equal(row!.appMetrics, null);
  assert.deepEqual(row!.checks.map((c) => [c.url, c.success, c.statusCode]), [['http://x/health', true, 200]]);
  // A result older than a day is not shown, though it stays the latest of its URL.
  await db.client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success) VALUES (now() - interval '2 days', 'v1', 'a', 'http://x/old', 500, false)`);
  assert.deepEqual((await queryFleet(pool))[0]!.checks.map((c) => c.url), ['http://x/health']);
  assert.equal((await queryFleet(pool))[0]!.status, 'up');
});
