import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { testDatabase, type TestDatabase } from '../helpers/pg.js';
import { connect, type PgClient } from '../../src/db/pg.js';
import { schemaVersion } from '../../src/db/migrate.js';
import { storeBatch, readCheckpoint, type Batch } from '../../src/workers/writer/writer.js';
import { applyRetention } from '../../src/ops/retention.js';
import { runRollup } from '../../src/ops/rollup.js';
import type { MetricSample } from '../../src/supervisor/messages.js';

const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8');

/** Applies sql/roles.sql, then a fresh login in `group`; returns a client connected as that login. */
async function loginAs(t: TestContext, db: TestDatabase, group: 'observ_agent' | 'observ_hub'): Promise<PgClient> {
  await db.client.query(ROLES_SQL);
  const name = `${group.replace('observ_', '')}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.client.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE ${group}`);
  const u = new URL(db.url);
  u.username = name;
  u.password = password;
  const client = await connect(u.toString());
  t.after(async () => {
    await client.end().catch(() => {});
    await db.client.query(`DROP ROLE IF EXISTS ${name}`).catch(() => {});
  });
  return client;
}

function sample(timestamp: string): MetricSample {
  return {
    timestamp, cpuPercent: 12, cpuUser: 8, cpuSystem: 4, cpuIowait: 0, cpuSteal: 0, memoryPercent: 40, memoryMb: 800,
    memoryAvailableMb: 1200, swapPercent: 0, swapUsedMb: 0, diskPercent: 55, diskGb: 20, diskFreeGb: 16, diskReadBps: 0,
    diskWriteBps: 0, netRxBps: 100, netTxBps: 50, loadAvg1m: 0.5, loadAvg5m: 0.4, loadAvg15m: 0.3, uptimeSeconds: 1000, mounts: [],
  };
}

function batch(seq: number): Batch {
  const now = new Date().toISOString();
  return {
    seq, createdAt: now,
    metrics: [sample(now)],
    probes: [{ timestamp: now, url: 'http://127.0.0.1:8000/health', statusCode: 200, responseTimeMs: 3, success: true, errorMessage: null, certDaysLeft: null }],
    logs: [{ timestamp: now, level: 'INFO', logger: 'shop', message: 'order placed', context: { order: 1 }, exception: null, flags: [], raw: null, sourceFile: '/opt/deployments/shop/current/logs/app.log' }],
    events: [{ timestamp: now, kind: 'test', detail: {} }],
    files: [{ path: '/opt/deployments/shop/current/logs/app.log', identity: { dev: 1, ino: 2, fingerprint: 'ab' }, offset: 120 }],
  };
}

const who = { vps: 'vps1', app: 'shop', collectionInterval: 60, startedAt: new Date().toISOString() };

test('sql/roles.sql can be applied twice', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(ROLES_SQL);
  await db.client.query(ROLES_SQL);
  const r = await db.client.query("SELECT count(*)::int AS n FROM pg_roles WHERE rolname IN ('observ_agent', 'observ_hub')");
  assert.equal(r.rows[0].n, 2);
});

test('the agent role stores a batch exactly once and keeps its checkpoint', async (t) => {
  const db = await testDatabase(t);
  const agent = await loginAs(t, db, 'observ_agent');
  await agent.query('SELECT observ_ensure_partitions()');
  assert.ok((await schemaVersion(agent)) > 0, 'the agent reads the schema version before it starts');
  assert.equal(await storeBatch(agent, batch(1), who), 'committed');
  assert.equal(await storeBatch(agent, batch(1), who), 'duplicate');
  assert.equal(await storeBatch(agent, batch(2), who), 'committed');
  assert.deepEqual((await readCheckpoint(agent, 'vps1', 'shop')).seq, 2);
  const counts = await db.client.query(`SELECT (SELECT count(*) FROM vps_metrics)::int AS m, (SELECT count(*) FROM health_checks)::int AS h,
                                               (SELECT count(*) FROM log_entries)::int AS l, (SELECT count(*) FROM agent_events)::int AS e`);
  assert.deepEqual(counts.rows[0], { m: 2, h: 2, l: 2, e: 2 });
});

test('the agent role cannot read, change or delete stored data', async (t) => {
  const db = await testDatabase(t);
  const agent = await loginAs(t, db, 'observ_agent');
  await assert.rejects(agent.query('SELECT * FROM log_entries LIMIT 1'), /permission denied/);
  await assert.rejects(agent.query('DELETE FROM log_entries'), /permission denied/);
  await assert.rejects(agent.query("UPDATE log_entries SET message = 'x'"), /permission denied/);
  await assert.rejects(agent.query('TRUNCATE vps_metrics'), /permission denied/);
  await assert.rejects(agent.query('DELETE FROM agent_checkpoints'), /permission denied/);
  await assert.rejects(agent.query('DROP TABLE log_entries'), /must be owner/);
  await assert.rejects(agent.query("SELECT * FROM observ_apply_retention('log_entries')"), /permission denied/);
  await assert.rejects(agent.query('SELECT * FROM observ_rollup()'), /permission denied/);
});

test('the hub role reads everything and cannot write', async (t) => {
  const db = await testDatabase(t);
  const hub = await loginAs(t, db, 'observ_hub');
  await hub.query('SELECT count(*) FROM log_entries');
  await hub.query('SELECT count(*) FROM vps_metrics_hourly');
  await hub.query('SELECT count(*) FROM agent_checkpoints');
  await assert.rejects(hub.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name) VALUES (now(), 'v', 'a')`), /permission denied/);
  await assert.rejects(hub.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES (now(), 'v', 'a', 'INFO', 'm')`), /permission denied/);
  await assert.rejects(hub.query('DELETE FROM health_checks'), /permission denied/);
  await assert.rejects(hub.query('UPDATE observ_retention SET keep_days = 1'), /permission denied/);
});

test('the hub role runs maintenance through the owner functions', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(40, 1)');
  await db.client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES (now() - interval '35 days', 'v', 'a', 'INFO', 'old')`);
  await db.client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES (date_trunc('hour', now()) - interval '2 hours', 'v', 'a', 5)`);
  const hub = await loginAs(t, db, 'observ_hub');
  await hub.query('SELECT observ_ensure_partitions()');
  const rolled = await runRollup(hub);
  assert.equal(rolled.find((r) => r.source === 'vps_metrics')?.rowsUpserted, 1);
  const actions = await applyRetention(hub);
  assert.ok(actions.some((a) => a.action === 'drop_partition' && a.target.startsWith('log_entries_')));
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM log_entries')).rows[0].n), 0);
});

test('tables created later are readable by the hub role without re-running roles.sql', async (t) => {
  const db = await testDatabase(t);
  const hub = await loginAs(t, db, 'observ_hub');
  await db.client.query('CREATE TABLE later_table (x int)');
  await hub.query('SELECT count(*) FROM later_table');
  await db.client.query('CREATE TABLE alert_later (id int)');
  await assert.rejects(hub.query('INSERT INTO alert_later VALUES (1)'), /permission denied/);
  await db.client.query(ROLES_SQL);
  await hub.query('INSERT INTO alert_later VALUES (1)');
  // The alerting migration's own tables were there when roles.sql first ran: already writable.
  await hub.query(`INSERT INTO alert_leader DEFAULT VALUES`).catch((err: Error) => {
    assert.doesNotMatch(err.message, /permission denied/);
  });
});
