import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testDatabase } from '../helpers/pg.js';
import { migrate, renderSchema, schemaVersion, latestVersion } from '../../src/db/migrate.js';

const SCHEMA_SQL = fileURLToPath(new URL('../../../sql/schema.sql', import.meta.url));

async function columns(client: import('../../src/db/pg.js').PgClient, table: string): Promise<string[]> {
  const r = await client.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, [table]);
  return r.rows.map((x) => x.column_name);
}

test('the spec tables have exactly the spec column names', async (t) => {
  const { client } = await testDatabase(t);
  const spec: Record<string, string[]> = {
    vps_metrics: ['id', 'timestamp', 'vps_name', 'app_name', 'cpu_percent', 'memory_percent', 'memory_mb', 'disk_percent', 'disk_gb',
      'load_avg_1m', 'load_avg_5m', 'load_avg_15m'],
    health_checks: ['id', 'timestamp', 'vps_name', 'app_name', 'url', 'status_code', 'response_time_ms', 'success', 'error_message'],
    log_entries: ['id', 'timestamp', 'vps_name', 'app_name', 'level', 'message', 'context'],
  };
  for (const [table, cols] of Object.entries(spec)) {
    const have = await columns(client, table);
    for (const c of cols) assert.ok(have.includes(c), `${table}.${c} exists`);
  }
  const ctx = await client.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'log_entries' AND column_name = 'context'`);
  assert.equal(ctx.rows[0].data_type, 'jsonb');
  const gin = await client.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'log_entries' AND indexdef ILIKE '%USING gin (search)%'`);
  assert.equal(gin.rowCount, 1, 'a GIN full-text index on log_entries.search (the stored tsvector of message, logger and context)');
});

test('migrations are recorded and running them again changes nothing', async (t) => {
  const { client } = await testDatabase(t);
  assert.equal(await schemaVersion(client), latestVersion());
  assert.deepEqual(await migrate(client), []);
});

test('sql/schema.sql is up to date with the migrations and loads into an empty database twice', async (t) => {
  assert.equal(readFileSync(SCHEMA_SQL, 'utf8'), renderSchema(), 'run `npm run schema:build` after changing a migration');
  const { client } = await testDatabase(t, { migrate: false });
  await client.query(readFileSync(SCHEMA_SQL, 'utf8'));
  await client.query(readFileSync(SCHEMA_SQL, 'utf8'));
  assert.equal(await schemaVersion(client), latestVersion());
  assert.deepEqual(await migrate(client), [], 'migrate sees schema.sql as applied');
});

test('rows land in daily partitions, and rows far in the past or future in the default partition', async (t) => {
  const { client } = await testDatabase(t);
  await client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES
    (now(), 'v', 'a', 'INFO', 'today'), ('2001-01-01T12:00:00Z', 'v', 'a', 'INFO', 'long ago')`);
  const r = await client.query<{ part: string; message: string }>(`SELECT tableoid::regclass::text AS part, message FROM log_entries ORDER BY timestamp`);
  assert.equal(r.rows[0]!.part, 'log_entries_default');
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  assert.equal(r.rows[1]!.part, `log_entries_${today}`);
});

test('creating a day partition moves that day\'s rows out of the default partition', async (t) => {
  const { client } = await testDatabase(t);
  await client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message, context)
    VALUES (now() + interval '10 days', 'v', 'a', 'WARN', 'from the future', '{"k": 1}')`);
  await client.query('SELECT observ_ensure_partitions(0, 11)');
  const r = await client.query<{ part: string; message: string; context: unknown; search: string }>(
    `SELECT tableoid::regclass::text AS part, message, context, search::text FROM log_entries`);
  assert.equal(r.rowCount, 1, 'the row is kept exactly once');
  assert.match(r.rows[0]!.part, /^log_entries_\d{8}$/);
  assert.deepEqual(r.rows[0]!.context, { k: 1 });
  assert.match(r.rows[0]!.search, /futur/, 'the generated tsvector is recomputed');
});

test('full-text search uses the stored english tsvector', async (t) => {
  const { client } = await testDatabase(t);
  await client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES
    (now(), 'v', 'a', 'ERROR', 'Payment failed for order 456'), (now(), 'v', 'a', 'INFO', 'User logged in')`);
  const r = await client.query(`SELECT message FROM log_entries WHERE search @@ websearch_to_tsquery('english', 'payments failing')`);
  assert.deepEqual(r.rows.map((x) => x.message), ['Payment failed for order 456']);
});

test('the spec\'s retention DELETE statements still work', async (t) => {
  const { client } = await testDatabase(t);
  await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES ('2001-01-01', 'v', 'a', 1), (now(), 'v', 'a', 2)`);
  await client.query(`DELETE FROM vps_metrics WHERE timestamp < NOW() - INTERVAL '90 days'`);
  await client.query(`DELETE FROM health_checks WHERE timestamp < NOW() - INTERVAL '90 days'`);
  await client.query(`DELETE FROM log_entries WHERE timestamp < NOW() - INTERVAL '30 days'`);
  const r = await client.query(`SELECT cpu_percent FROM vps_metrics`);
  assert.deepEqual(r.rows.map((x) => x.cpu_percent), [2]);
});

test('schemaVersion is 0 on a database that was never migrated', async (t) => {
  const { client } = await testDatabase(t, { migrate: false });
  assert.equal(await schemaVersion(client), 0);
});
