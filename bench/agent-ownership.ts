// What per-agent writes cost per flush: storeEncoded through observ_checkpoint_lock/save and the
// statement triggers that check each row's vps/app against the login (migration 040), as an agent
// login, against the statements the writer used before (INSERT … ON CONFLICT, SELECT … FOR UPDATE,
// UPDATE) on the schema before 040. Same batches, same server. Prints one JSON object.
//
//   npm run build && node dist/bench/agent-ownership.js [flushes]
//
// Starts a private embedded PostgreSQL (or uses OBSERV_BENCH_PG_URL, an admin URL).

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { benchServer } from './lib/server.js';
import { batch } from './lib/batch.js';
import { connect, type PgClient } from '../src/db/pg.js';
import { migrate, MIGRATIONS_DIR } from '../src/db/migrate.js';
import { copyChunks, encodeBatch, storeEncoded } from '../src/workers/writer/writer.js';
import type { SpoolSections } from '../src/workers/writer/spool.js';

const require = createRequire(import.meta.url);
const flushes = Number(process.argv[2] ?? 200);
const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../sql/roles.sql', import.meta.url)), 'utf8');
const who = { vps: 'vps1', app: 'shop', collectionInterval: 60, startedAt: new Date().toISOString() };
const COLUMNS: Array<[keyof SpoolSections, string, string]> = [
  ['metrics', 'vps_metrics', 'timestamp, vps_name, app_name, cpu_percent, memory_percent, memory_mb, disk_percent, disk_gb, load_avg_1m, load_avg_5m, load_avg_15m, cpu_user, cpu_system, cpu_iowait, cpu_steal, memory_available_mb, swap_percent, swap_used_mb, disk_free_gb, disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps, uptime_seconds, mounts, app_source, app_processes, app_cpu_percent, app_rss_mb, app_threads, app_open_files, app_restarts'],
  ['health', 'health_checks', 'timestamp, vps_name, app_name, url, status_code, response_time_ms, success, error_message, cert_days_left'],
  ['logs', 'log_entries', 'timestamp, vps_name, app_name, level, message, context, logger, exception, source_file, flags, raw'],
  ['events', 'agent_events', 'timestamp, vps_name, app_name, kind, detail'],
];


/** The writer's statements before migration 040 (its checkpoint by plain INSERT/SELECT … FOR UPDATE/UPDATE). */
async function storeBefore(client: PgClient, seq: number, sections: SpoolSections): Promise<void> {
  const from = require('pg-copy-streams/copy-from') as typeof import('pg-copy-streams').from;
  await client.query('BEGIN');
  await client.query('INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq) VALUES ($1, $2, 0) ON CONFLICT (vps_name, app_name) DO NOTHING', [who.vps, who.app]);
  await client.query('SELECT batch_seq FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2 FOR UPDATE', [who.vps, who.app]);
  for (const [section, table, columns] of COLUMNS) {
    if (sections[section].length) await pipeline(Readable.from(copyChunks(sections[section])), client.query(from(`COPY ${table} (${columns}) FROM STDIN`)));
  }
  await client.query(`UPDATE agent_checkpoints SET batch_seq = $3, files = $4::jsonb, collection_interval = $5, agent_version = $6, started_at = $7, updated_at = now()
     WHERE vps_name = $1 AND app_name = $2`, [who.vps, who.app, seq, '[]', 60, 'bench', who.startedAt]);
  await client.query('SELECT pg_notify($1, $2)', ['observ_batch', '{}']);
  await client.query('COMMIT');
}

async function database(admin: string, name: string, migrationsDir: string): Promise<{ owner: PgClient; url: string }> {
  const a = await connect(admin);
  try { await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); await a.query(`CREATE DATABASE ${name}`); } finally { await a.end(); }
  const u = new URL(admin);
  u.pathname = '/' + name;
  const owner = await connect(u.toString());
  await migrate(owner, migrationsDir);
  return { owner, url: u.toString() };
}

async function agentLogin(owner: PgClient, url: string): Promise<PgClient> {
  await owner.query(ROLES_SQL);
  await owner.query(`DROP ROLE IF EXISTS bench_agent`);
  await owner.query(`CREATE ROLE bench_agent LOGIN PASSWORD 'bench' IN ROLE observ_agent`);
  const u = new URL(url);
  u.username = 'bench_agent';
  u.password = 'bench';
  return connect(u.toString());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 100) / 100;
}

/** Flushes alternate between the two stores, so that load on the machine falls on both alike. */
async function timeFlushes(stores: Array<(seq: number, sections: SpoolSections) => Promise<unknown>>, logs: number, startSeq: number): Promise<number[]> {
  const ms: number[][] = stores.map(() => []);
  for (let i = 0; i < flushes; i++) {
    const seq = startSeq + i;
    const sections = encodeBatch(batch(seq, logs), who.vps, who.app);
    for (const [k, store] of stores.entries()) {
      const t0 = performance.now();
      await store(seq, sections);
      ms[k]!.push(performance.now() - t0);
    }
  }
  return ms.map(median);
}

async function main(): Promise<void> {
  const server = await benchServer();
  const admin = server.admin;
  const before040 = mkdtempSync(join(tmpdir(), 'observ-bench-migrations-'));
  try {
    // Before 040, with 050 too: the app columns the writer sends now are independent of it.
    for (const f of readdirSync(MIGRATIONS_DIR)) if (/^0[0-3]\d_|^050_/.test(f)) cpSync(join(MIGRATIONS_DIR, f), join(before040, f));
    const base = await database(admin, 'bench_ownership_before', before040);
    const now = await database(admin, 'bench_ownership_after', MIGRATIONS_DIR);
    const agent = await agentLogin(now.owner, now.url);
    const result: Record<string, unknown> = { scenario: 'per-agent writes: cost per flush (median ms)', flushes };
    for (const logs of [10, 5000]) {
      const [beforeMs, afterMs] = await timeFlushes([(seq, s) => storeBefore(base.owner, seq, s), (seq, s) => storeEncoded(agent, seq, [], s, who)],
        logs, logs * 10_000) as [number, number];
      result[`logs${logs}`] = { agentLoginMs: afterMs, baseline: { before040Ms: beforeMs }, extraMs: Math.round((afterMs - beforeMs) * 100) / 100 };
    }
    await agent.end();
    await base.owner.end();
    await now.owner.end();
    const a = await connect(admin);
    try {
      await a.query('DROP DATABASE IF EXISTS bench_ownership_before WITH (FORCE)');
      await a.query('DROP DATABASE IF EXISTS bench_ownership_after WITH (FORCE)');
      await a.query('DROP ROLE IF EXISTS bench_agent');
    } finally { await a.end(); }
    process.stdout.write(JSON.stringify({ ...result, node: process.version }) + '\n');
  } finally {
    rmSync(before040, { recursive: true, force: true });
    await server.stop();
  }
}

await main();
