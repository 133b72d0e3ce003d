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

/** Applies sql/roles.sql, then a fresh login in `group` (none: a login with no grants at all). */
async function newLogin(t: TestContext, db: TestDatabase, group: 'observ_agent' | 'observ_hub' | null): Promise<{ client: PgClient; name: string }> {
  await db.client.query(ROLES_SQL);
  const name = `${group ? group.replace('observ_', '') : 'nobody'}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.client.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'${group ? ` IN ROLE ${group}` : ''}`);
  const u = new URL(db.url);
  u.username = name;
  u.password = password;
  const client = await connect(u.toString());
  t.after(async () => {
    await client.end().catch(() => {});
    await db.client.query(`DROP OWNED BY ${name}`).catch(() => {});
    await db.client.query(`DROP ROLE IF EXISTS ${name}`).catch(() => {});
  });
  return { client, name };
}

async function loginAs(t: TestContext, db: TestDatabase, group: 'observ_agent' | 'observ_hub'): Promise<PgClient> {
  return (await newLogin(t, db, group)).client;
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

test("one agent's login cannot move another agent's checkpoint, nor write rows under its name", async (t) => {
  const db = await testDatabase(t);
  const api = await newLogin(t, db, 'observ_agent');
  const other = await newLogin(t, db, 'observ_agent');
  const demoApi = { ...who, app: 'demo-api' };
  assert.equal(await storeBatch(api.client, batch(1), demoApi), 'committed');
  // The attack of the security review, and its variants.
  await assert.rejects(other.client.query(`UPDATE agent_checkpoints SET batch_seq = 9000000000000000000 WHERE app_name = 'demo-api'`), /permission denied/);
  await assert.rejects(other.client.query(`DELETE FROM agent_checkpoints WHERE app_name = 'demo-api'`), /permission denied/);
  await assert.rejects(other.client.query(`INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq) VALUES ('vps1', 'demo-new', 9000000000000000000)`), /permission denied/);
  await assert.rejects(other.client.query(`SELECT observ_checkpoint_save('vps1', 'demo-api', 9000000000000000000, '[]', 60, 'x', now())`),
    (err: Error & { code?: string }) => err.code === '42501' && new RegExp(`may not write as agent vps1/demo-api: it belongs to login ${api.name}`).test(err.message));
  await assert.rejects(storeBatch(other.client, batch(2), demoApi), /may not write as agent vps1\/demo-api/);
  await assert.rejects(other.client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES (now(), 'vps1', 'demo-api', 'INFO', 'forged')`),
    /may not write rows of agent vps1\/demo-api into log_entries/);
  // Its own agent works, and a statement mixing its rows with another agent's is refused whole.
  assert.equal(await storeBatch(other.client, batch(1), { ...who, app: 'other' }), 'committed');
  await assert.rejects(other.client.query(`INSERT INTO agent_events (timestamp, vps_name, app_name, kind) VALUES (now(), 'vps1', 'other', 'x'), (now(), 'vps1', 'demo-api', 'x')`),
    /may not write rows of agent vps1\/demo-api into agent_events/);
  assert.equal(await storeBatch(api.client, batch(2), demoApi), 'committed');
  assert.equal((await readCheckpoint(api.client, 'vps1', 'demo-api')).seq, 2);
  const holders = await db.client.query(`SELECT app_name, login, how FROM observ_agent_logins ORDER BY app_name`);
  assert.deepEqual(holders.rows, [{ app_name: 'demo-api', login: api.name, how: 'first_write' }, { app_name: 'other', login: other.name, how: 'first_write' }]);
  const forged = await db.client.query(`SELECT count(*)::int AS n FROM log_entries WHERE app_name = 'demo-api'`);
  assert.equal(forged.rows[0].n, 2, 'only demo-api\'s own two batches');
});

test('an agent registered by the owner is held by its login before its first write', async (t) => {
  const db = await testDatabase(t);
  const shop = await newLogin(t, db, 'observ_agent');
  const squatter = await newLogin(t, db, 'observ_agent');
  await db.client.query(`SELECT observ_register_agent('vps1', 'shop', $1)`, [shop.name]);
  await assert.rejects(storeBatch(squatter.client, batch(1), who), /may not write as agent vps1\/shop/);
  assert.equal(await storeBatch(shop.client, batch(1), who), 'committed');
  await assert.rejects(shop.client.query(`SELECT observ_register_agent('vps1', 'shop', $1)`, [squatter.name]), /permission denied/);
  await assert.rejects(db.client.query(`SELECT observ_register_agent('vps1', 'shop', 'no_such_role')`), /no role named no_such_role/);
});

test('observ_ensure_partitions is not executable by PUBLIC and its arguments are bounded', async (t) => {
  const db = await testDatabase(t);
  const nobody = await newLogin(t, db, null);
  const agent = await newLogin(t, db, 'observ_agent');
  const hub = await newLogin(t, db, 'observ_hub');
  await assert.rejects(nobody.client.query('SELECT observ_ensure_partitions(0, 117)'), /permission denied for function observ_ensure_partitions/);
  await assert.rejects(agent.client.query('SELECT observ_ensure_partitions(0, 400)'), /days_ahead must be from 0 to 14 \(got 400\)/);
  await assert.rejects(agent.client.query('SELECT observ_ensure_partitions(-1, 1)'), /days_back must be from 0 to 120 \(got -1\)/);
  await assert.rejects(agent.client.query('SELECT observ_ensure_partitions(0, 10)'), /only the schema owner may ask for more than the default/);
  await assert.rejects(db.client.query('SELECT observ_ensure_partitions(0, 400)'), /days_ahead must be from 0 to 14/, 'the owner is bounded too');
  await agent.client.query('SELECT observ_ensure_partitions()');
  await hub.client.query('SELECT observ_ensure_partitions(2, 3)');
  const parts = await db.client.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'log_entries'::regclass`);
  assert.ok(parts.rows[0].n <= 7, `at most the default window plus DEFAULT (${parts.rows[0].n})`);
});

test('the grants in docs/security.md are exactly what the catalog holds', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(ROLES_SQL);
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/security.md', import.meta.url)), 'utf8');
  // Documented: role → privilege → objects (named ones; "every table" for the hub's SELECT).
  const documented = new Map<string, Set<string>>();
  for (const m of doc.matchAll(/^\| `(observ_agent|observ_hub|PUBLIC)` \| ([A-Z, ]+) \| (.+) \|$/gm)) {
    const objects = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!);
    for (const priv of m[2]!.split(',').map((p) => p.trim())) {
      const key = `${m[1]} ${priv}`;
      documented.set(key, new Set([...(documented.get(key) ?? []), ...(/every table/.test(m[3]!) ? ['*every table*'] : objects)]));
    }
  }
  const catalog = new Map<string, Set<string>>();
  const add = (key: string, name: string) => { if (!catalog.has(key)) catalog.set(key, new Set()); catalog.get(key)!.add(name); };
  const tables = await db.client.query<{ role: string; priv: string; name: string; kind: string }>(`
    SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS role, a.privilege_type AS priv, c.relname AS name, c.relkind::text AS kind
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
     WHERE c.relnamespace = 'public'::regnamespace AND (a.grantee = 0 OR a.grantee::regrole::text IN ('observ_agent', 'observ_hub'))`);
  const everyTable = await db.client.query<{ name: string; hub: boolean }>(`
    SELECT relname AS name, has_table_privilege('observ_hub', oid, 'SELECT') AS hub FROM pg_class
     WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')`);
  assert.deepEqual(everyTable.rows.filter((r) => !r.hub).map((r) => r.name), [], 'the hub reads every table');
  for (const r of tables.rows) {
    if (r.role === 'observ_hub' && r.priv === 'SELECT' && r.kind !== 'S') { add('observ_hub SELECT', '*every table*'); continue; }
    add(`${r.role} ${r.priv}`, r.name);
  }
  const funcs = await db.client.query<{ role: string; name: string }>(`
    SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS role, p.proname AS name
      FROM pg_proc p CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     WHERE p.pronamespace = 'public'::regnamespace AND a.privilege_type = 'EXECUTE'
       AND (a.grantee = 0 OR a.grantee::regrole::text IN ('observ_agent', 'observ_hub'))`);
  for (const r of funcs.rows) add(`${r.role} EXECUTE`, r.name);
  const norm = (m: Map<string, Set<string>>) => Object.fromEntries([...m].filter(([, v]) => v.size).map(([k, v]) => [k, [...v].sort()]).sort());
  assert.deepEqual(norm(catalog), norm(documented));
  const rls = await db.client.query(`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND (relrowsecurity OR relforcerowsecurity)`);
  assert.deepEqual(rls.rows, [], 'no row-level security (the doc says why)');
  const triggers = await db.client.query<{ t: string }>(`SELECT tgrelid::regclass::text AS t FROM pg_trigger WHERE tgname = 'observ_agent_rows' AND tgenabled = 'O' ORDER BY 1`);
  assert.deepEqual(triggers.rows.map((r) => r.t), ['agent_events', 'deployments', 'health_checks', 'log_entries', 'vps_metrics']);
});
