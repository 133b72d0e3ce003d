import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase, eventually } from '../helpers/pg.js';
import { loadPg, clientConfig, connect, type PgPool } from '../../src/db/pg.js';
import { startMaintenance, maintenanceTick } from '../../src/ops/maintenance.js';

function pool(t: TestContext, url: string): PgPool {
  const pg = loadPg();
  const p = new pg.Pool({ ...clientConfig(url, { applicationName: 'test hub' }), max: 3 });
  // The test database is dropped (connections terminated) possibly before this pool ends.
  p.on('error', () => {});
  t.after(() => p.end());
  return p;
}

const quiet = () => {};

test('runs partition upkeep, rollups and retention, then stops', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('SELECT observ_ensure_partitions(40, 1)');
  await db.client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES (now() - interval '35 days', 'v', 'a', 'INFO', 'old')`);
  await db.client.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent) VALUES (date_trunc('hour', now()) - interval '2 hours', 'v', 'a', 5)`);
  const logged: string[] = [];
  const m = startMaintenance({ pool: pool(t, db.url), log: (_level, message) => logged.push(message), firstCheckMs: 0, checkEveryMs: 50 });
  t.after(() => m.stop());
  await eventually(async () => {
    const r = await db.client.query("SELECT count(*)::int AS n FROM observ_maintenance WHERE job IN ('partitions', 'rollup', 'retention') AND last_ok_at IS NOT NULL");
    return r.rows[0].n === 3;
  }, 'all three jobs to have run', 15_000);
  await m.stop();
  await m.stop();
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM vps_metrics_hourly')).rows[0].n), 1);
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM log_entries')).rows[0].n), 0);
  assert.ok(logged.some((l) => /retention done/.test(l)), logged.join('\n'));
});

test('a job that ran recently is not run again, by this hub or another', async (t) => {
  const db = await testDatabase(t);
  const p = pool(t, db.url);
  const first = await maintenanceTick({ pool: p, log: quiet });
  assert.deepEqual(first.ran, ['partitions', 'rollup', 'retention']);
  const second = await maintenanceTick({ pool: pool(t, db.url), log: quiet });
  assert.equal(second.leader, true);
  assert.deepEqual(second.ran, []);
  // Periods shorter than the time since the last run make them due again.
  await new Promise((r) => setTimeout(r, 20));
  const due = await maintenanceTick({ pool: p, log: quiet, everyMs: { rollup: 1 }, retryAfterMs: 1 });
  assert.deepEqual(due.ran, ['rollup']);
});

test('only the hub holding the advisory lock does maintenance', async (t) => {
  const db = await testDatabase(t);
  const other = await connect(db.url);
  t.after(() => other.end());
  await other.query("SELECT pg_advisory_lock(hashtext('observ_maintenance'))");
  const blocked = await maintenanceTick({ pool: pool(t, db.url), log: quiet });
  assert.deepEqual(blocked, { leader: false, ran: [], failed: [] });
  assert.equal(Number((await db.client.query('SELECT count(*) AS n FROM observ_maintenance')).rows[0].n), 0);
  await other.query("SELECT pg_advisory_unlock(hashtext('observ_maintenance'))");
  const led = await maintenanceTick({ pool: pool(t, db.url), log: quiet });
  assert.equal(led.leader, true);
  assert.equal(led.ran.length, 3);
});

test('a failed job is recorded and retried', async (t) => {
  const db = await testDatabase(t);
  await db.client.query('ALTER FUNCTION observ_rollup(interval) RENAME TO observ_rollup_away');
  const warnings: string[] = [];
  const failed = await maintenanceTick({ pool: pool(t, db.url), log: (level, message) => { if (level === 'warn') warnings.push(message); } });
  assert.deepEqual(failed.failed, ['rollup']);
  assert.deepEqual(failed.ran, ['partitions', 'retention']);
  assert.match(warnings.join('\n'), /rollup failed/);
  const row = (await db.client.query("SELECT last_error, last_ok_at FROM observ_maintenance WHERE job = 'rollup'")).rows[0];
  assert.match(row.last_error, /observ_rollup/);
  assert.equal(row.last_ok_at, null);
  await db.client.query('ALTER FUNCTION observ_rollup_away(interval) RENAME TO observ_rollup');
  await new Promise((r) => setTimeout(r, 20));
  const retried = await maintenanceTick({ pool: pool(t, db.url), log: quiet, retryAfterMs: 1 });
  assert.deepEqual(retried.ran, ['rollup']);
});
