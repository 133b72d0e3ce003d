import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { applyRetention, setRetention, readRetentionPolicies } from '../../src/ops/retention.js';
import type { PgClient } from '../../src/db/pg.js';
import { runCli } from './run-cli.js';

const DAY = 86_400_000;

function dayName(table: string, msAgo: number): string {
  return `${table}_${new Date(Date.now() - msAgo).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

async function exists(client: PgClient, rel: string): Promise<boolean> {
  return (await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [rel])).rows[0]!.r !== null;
}

async function count(client: PgClient, sql: string): Promise<number> {
  return Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
}

async function seed(client: PgClient): Promise<void> {
  // Daily partitions for the last 40 days, then rows at 35, 31 and 5 days ago, and rows 100 days
  // ago, which have no partition and land in the default one.
  await client.query('SELECT observ_ensure_partitions(40, 1)');
  for (const days of [35, 31, 5, 100]) {
    await client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message)
                        SELECT now() - $1 * interval '1 day', 'vps1', 'shop', 'INFO', 'line ' || g FROM generate_series(1, 10) g`, [days]);
    await client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent)
                        SELECT now() - $1 * interval '1 day', 'vps1', 'shop', 1 FROM generate_series(1, 3)`, [days]);
  }
}

test('ships the spec retention defaults and keeps rollups two years', async (t) => {
  const db = await testDatabase(t);
  const policies = Object.fromEntries((await readRetentionPolicies(db.client)).map((p) => [p.table, p.keepDays]));
  assert.equal(policies.vps_metrics, 90);
  assert.equal(policies.health_checks, 90);
  assert.equal(policies.log_entries, 30);
  assert.equal(policies.vps_metrics_hourly, 730);
  assert.equal(policies.health_checks_hourly, 730);
});

test('a dry run lists the partitions past retention and changes nothing', async (t) => {
  const db = await testDatabase(t);
  await seed(db.client);
  const actions = await applyRetention(db.client, { dryRun: true });
  const drops = actions.filter((a) => a.action === 'drop_partition').map((a) => a.target);
  assert.ok(drops.includes(dayName('log_entries', 35 * DAY)), `expected the 35-day-old log partition in ${drops.join(', ')}`);
  assert.ok(drops.includes(dayName('log_entries', 31 * DAY)));
  assert.ok(!drops.includes(dayName('log_entries', 5 * DAY)));
  assert.ok(!drops.some((d) => d.startsWith('vps_metrics_')), 'metrics keep 90 days');
  const fromDefault = actions.find((a) => a.action === 'delete_default' && a.target === 'log_entries_default');
  assert.equal(fromDefault?.rows, 10);
  assert.ok(await exists(db.client, dayName('log_entries', 35 * DAY)));
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM log_entries'), 40);
});

test('drops daily partitions past retention and deletes old rows from the default partition', async (t) => {
  const db = await testDatabase(t);
  await seed(db.client);
  const actions = await applyRetention(db.client);
  assert.ok(actions.some((a) => a.action === 'drop_partition' && a.target === dayName('log_entries', 35 * DAY)));
  assert.equal(await exists(db.client, dayName('log_entries', 35 * DAY)), false);
  assert.equal(await exists(db.client, dayName('log_entries', 31 * DAY)), false);
  assert.equal(await exists(db.client, dayName('log_entries', 5 * DAY)), true);
  // Logs: only the 5-day-old rows are left. Metrics (90 days): the 100-day-old rows are gone.
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM log_entries'), 10);
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM vps_metrics'), 9);
  assert.equal(await count(db.client, "SELECT count(*) AS n FROM vps_metrics WHERE timestamp < now() - interval '90 days'"), 0);
  // A second run has nothing left to do.
  assert.deepEqual(await applyRetention(db.client), []);
});

test('a changed policy is applied on the next run', async (t) => {
  const db = await testDatabase(t);
  await seed(db.client);
  await setRetention(db.client, 'vps_metrics', 7);
  await applyRetention(db.client);
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM vps_metrics'), 3);
  await assert.rejects(setRetention(db.client, 'no_such_table', 7), /no retention policy/);
  await assert.rejects(setRetention(db.client, 'vps_metrics', 0), /≥ 1/);
});

test("the spec's DELETE statements still work on the partitioned tables", async (t) => {
  const db = await testDatabase(t);
  await seed(db.client);
  await db.client.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, success)
                         VALUES (now() - interval '100 days', 'vps1', 'shop', 'http://x/health', true), (now(), 'vps1', 'shop', 'http://x/health', true)`);
  await db.client.query("DELETE FROM vps_metrics WHERE timestamp < NOW() - INTERVAL '90 days'");
  await db.client.query("DELETE FROM health_checks WHERE timestamp < NOW() - INTERVAL '90 days'");
  await db.client.query("DELETE FROM log_entries WHERE timestamp < NOW() - INTERVAL '30 days'");
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM vps_metrics'), 9);
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM health_checks'), 1);
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM log_entries'), 10);
});

test('observ db retention --dry-run prints the plan, and without it applies it', async (t) => {
  const db = await testDatabase(t);
  await seed(db.client);
  const env = { ...process.env, OBSERV_DB_URL: db.url };
  const dry = await runCli(['db', 'retention', '--dry-run', '--set', 'log_entries=3'], env);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /would set retention of log_entries to 3 days/);
  assert.match(dry.stdout, new RegExp(`would drop partition ${dayName('log_entries', 5 * DAY)}`));
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM log_entries'), 40);
  assert.equal((await readRetentionPolicies(db.client)).find((p) => p.table === 'log_entries')?.keepDays, 30);

  const real = await runCli(['db', 'retention'], env);
  assert.equal(real.status, 0, real.stderr);
  assert.match(real.stdout, new RegExp(`dropped partition ${dayName('log_entries', 35 * DAY)}`));
  assert.equal(await count(db.client, 'SELECT count(*) AS n FROM log_entries'), 10);

  const bad = await runCli(['db', 'retention', '--set', 'logs'], env);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /TABLE=DAYS/);
});
