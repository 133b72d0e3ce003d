// Retention of one day of logs: dropping its partition (observ_apply_retention) against the spec's
// DELETE followed by the VACUUM that returns the space. Prints one JSON object.
//
//   npm run build && node dist/bench/retention.js [rows-per-day]
//
// Starts a private embedded PostgreSQL (or uses OBSERV_BENCH_PG_URL, an admin URL).

import { benchServer } from './lib/server.js';
import { connect, type PgClient } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';

const rows = Number(process.argv[2] ?? 200_000);

async function fillOldDay(client: PgClient): Promise<void> {
  // 40 days ago, past the 30-day retention of logs, in its own day partition.
  await client.query('SELECT observ_ensure_partitions(41, 0)');
  await client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message, context)
    SELECT date_trunc('day', now() - interval '40 days') + g * interval '1 millisecond' * (86400000 / $1::int), 'vps1', 'shop', 'INFO',
           'request handled path=/api/orders/' || g || ' status=200 duration_ms=' || (g % 300), jsonb_build_object('request_id', g)
      FROM generate_series(1, $1::int) g`, [rows]);
  await client.query('ANALYZE log_entries');
}

async function database(admin: string, name: string): Promise<PgClient> {
  const a = await connect(admin);
  try { await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); await a.query(`CREATE DATABASE ${name}`); } finally { await a.end(); }
  const u = new URL(admin);
  u.pathname = '/' + name;
  const c = await connect(u.toString(), { queryTimeoutMs: 600_000, statementTimeoutMs: 0 });
  await migrate(c);
  return c;
}

async function main(): Promise<void> {
  const server = await benchServer();
  const admin = server.admin;
  try {
    const drop = await database(admin, 'bench_retention_drop');
    await fillOldDay(drop);
    let t0 = performance.now();
    await drop.query('BEGIN');
    await drop.query("SELECT * FROM observ_apply_retention('log_entries')");
    await drop.query('COMMIT');
    const dropMs = performance.now() - t0;
    await drop.end();

    const del = await database(admin, 'bench_retention_delete');
    await fillOldDay(del);
    t0 = performance.now();
    await del.query("DELETE FROM log_entries WHERE timestamp < NOW() - INTERVAL '30 days'");
    const deleteMs = performance.now() - t0;
    t0 = performance.now();
    await del.query('VACUUM log_entries');
    const vacuumMs = performance.now() - t0;
    await del.end();

    const a = await connect(admin);
    try {
      await a.query('DROP DATABASE IF EXISTS bench_retention_drop WITH (FORCE)');
      await a.query('DROP DATABASE IF EXISTS bench_retention_delete WITH (FORCE)');
    } finally { await a.end(); }
    process.stdout.write(JSON.stringify({
      scenario: 'retention of one day of logs',
      rowsPerDay: rows,
      dropPartitionMs: Math.round(dropMs),
      baseline: { deleteMs: Math.round(deleteMs), vacuumMs: Math.round(vacuumMs) },
      node: process.version,
    }) + '\n');
  } finally {
    await server.stop();
  }
}

await main();
