// Ingest throughput, log lines → committed rows. Prints one JSON object.
//
//   npm run build && node dist/bench/ingest.js [rows]
//
// Starts a private embedded PostgreSQL (or uses OBSERV_BENCH_PG_URL, an admin URL); each scenario
// gets a fresh migrated database. Scenarios, with and without the full-text tsvector column
// ("nofts" drops log_entries.search, which also drops its GIN index):
//   - copy / insert: storeEncoded-style transactions of 5000 parsed lines, COPY against a multi-row
//     INSERT (500 rows per statement), same checkpoint + NOTIFY work in the transaction
//   - copy_2conn: two writers (two agents) in parallel, COPY
//   - writer_spool: the Writer class itself (seal → spool append + fdatasync → read back → COPY)
//   - agent_e2e: the real agent process (`observ agent`) tailing a file written beforehand, timed
//     from its start until every row is committed (tailer + parser + writer + spool + COPY)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchServer } from './lib/server.js';
import { connect, type PgClient } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { parseLogLine } from '../src/workers/tailer/parse.js';
import { encodeBatch, storeEncoded, Writer, type Batch } from '../src/workers/writer/writer.js';
import type { LogRecord } from '../src/supervisor/messages.js';

const ROWS = Number(process.argv[2] ?? 100_000);
const BATCH = 5000;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function line(n: number): string {
  return JSON.stringify({ timestamp: new Date(Date.now() - (ROWS - n) * 10).toISOString(), level: n % 50 === 0 ? 'ERROR' : 'INFO',
    logger: 'shop.http', message: `request handled method=GET path=/api/orders/${n} status=200 duration_ms=${n % 300} user=u${n % 977}`,
    context: { request_id: `r-${n}`, order_id: n, tags: ['a', 'b'] } });
}

function records(): LogRecord[] {
  const out: LogRecord[] = [];
  const readAt = new Date();
  for (let n = 0; n < ROWS; n++) out.push(parseLogLine(Buffer.from(line(n)), { readAt, sourceFile: '/var/log/shop.log', maxLineBytes: 65536 }));
  return out;
}

async function database(admin: string, name: string, fts: boolean): Promise<{ url: string; client: PgClient }> {
  const a = await connect(admin);
  try { await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); await a.query(`CREATE DATABASE ${name}`); } finally { await a.end(); }
  const u = new URL(admin);
  u.pathname = '/' + name;
  const client = await connect(u.toString(), { queryTimeoutMs: 600_000, statementTimeoutMs: 0 });
  await migrate(client);
  if (!fts) await client.query('ALTER TABLE log_entries DROP COLUMN search');
  return { url: u.toString(), client };
}

const who = (app: string) => ({ vps: 'bench-vps', app, collectionInterval: 60, startedAt: new Date().toISOString() });

function batches(all: LogRecord[]): Batch[] {
  const out: Batch[] = [];
  for (let i = 0; i < all.length; i += BATCH) {
    out.push({ seq: out.length + 1, createdAt: new Date().toISOString(), metrics: [], probes: [], logs: all.slice(i, i + BATCH), events: [],
      files: [{ path: '/var/log/shop.log', identity: null, offset: i + BATCH }] });
  }
  return out;
}

async function copyRun(client: PgClient, all: LogRecord[], app: string): Promise<void> {
  for (const b of batches(all)) await storeEncoded(client, b.seq, b.files, encodeBatch(b, 'bench-vps', app), who(app));
}

const LOG_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'level', 'message', 'context', 'logger', 'exception', 'source_file', 'flags', 'raw'];

async function insertRun(client: PgClient, all: LogRecord[], app: string): Promise<void> {
  const perStatement = 500;
  for (const b of batches(all)) {
    await client.query('BEGIN');
    await client.query('INSERT INTO agent_checkpoints (vps_name, app_name) VALUES ($1, $2) ON CONFLICT DO NOTHING', ['bench-vps', app]);
    await client.query('SELECT batch_seq FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2 FOR UPDATE', ['bench-vps', app]);
    for (let i = 0; i < b.logs.length; i += perStatement) {
      const chunk = b.logs.slice(i, i + perStatement);
      const values: unknown[] = [];
      const tuples = chunk.map((r, j) => {
        values.push(r.timestamp, 'bench-vps', app, r.level, r.message, r.context && JSON.stringify(r.context), r.logger,
          r.exception && JSON.stringify(r.exception), r.sourceFile, r.flags.length ? r.flags : null, r.raw);
        return '(' + LOG_COLUMNS.map((_, k) => `$${j * LOG_COLUMNS.length + k + 1}`).join(', ') + ')';
      });
      await client.query(`INSERT INTO log_entries (${LOG_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, values);
    }
    await client.query('UPDATE agent_checkpoints SET batch_seq = $3, files = $4::jsonb WHERE vps_name = $1 AND app_name = $2',
      ['bench-vps', app, b.seq, JSON.stringify(b.files)]);
    await client.query('SELECT pg_notify($1, $2)', ['observ_batch', JSON.stringify({ seq: b.seq })]);
    await client.query('COMMIT');
  }
}

async function writerRun(url: string, all: LogRecord[], spoolDir: string): Promise<void> {
  const w = new Writer({ postgresUrl: url, vpsName: 'bench-vps', app: 'writer', collectionInterval: 60, flushIntervalMs: 1000, spoolDir,
    spoolMaxBytes: 256 * 1024 * 1024, maxBatchRows: BATCH, queryTimeoutMs: 60_000 });
  await w.start();
  let committed = 0;
  const done = new Promise<void>((resolve) => {
    const check = setInterval(() => { committed = w.stats.rowsCommitted; if (committed >= all.length) { clearInterval(check); resolve(); } }, 5);
  });
  for (let i = 0; i < all.length; i += 1000) {
    w.addLogs(all.slice(i, i + 1000), { path: '/var/log/shop.log', identity: null, offset: i + 1000 }, 1000 * 200);
    // Yield so the drain can run while lines keep arriving, as they do from the tailer.
    await new Promise((r) => setImmediate(r));
  }
  await w.flush();
  await done;
  await w.close();
}

async function agentRun(url: string, dir: string): Promise<number> {
  const logFile = join(dir, 'shop.log');
  let text = '';
  for (let n = 0; n < ROWS; n++) text += line(n) + '\n';
  writeFileSync(logFile, text);
  const config = join(dir, 'config.yml');
  writeFileSync(config, `monitoring:\n  enabled: true\n  postgres_url: "${url}"\n  collection_interval: 60\n  flush_interval: 1\n  log_files:\n    - ${logFile}\n`);
  const started = performance.now();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/observ.js'), 'agent', 'e2e', '--config', config, '--state-dir', join(dir, 'state'),
    '--vps-name', 'bench-vps'], { stdio: 'ignore' });
  const c = await connect(url);
  try {
    for (const until = Date.now() + 600_000; Date.now() < until;) {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM log_entries WHERE app_name = 'e2e'`);
      if (Number(r.rows[0]!.n) >= ROWS) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    return performance.now() - started;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await c.end();
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const perSecond = (rows: number, ms: number) => Math.round(rows / (ms / 1000));

async function main(): Promise<void> {
  const server = await benchServer({ fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_wal_size: '4GB' });
  const admin = server.admin;
  const work = mkdtempSync(join(tmpdir(), 'observ-bench-ingest-'));
  try {
    const all = records();
    const results: Record<string, number> = {};
    for (const fts of [false, true]) {
      const suffix = fts ? 'fts' : 'nofts';
      {
        const { client } = await database(admin, `bench_copy_${suffix}`, fts);
        results[`copy_${suffix}_rows_per_s`] = perSecond(ROWS, await timed(() => copyRun(client, all, 'copy')));
        await client.end();
      }
      {
        const { client } = await database(admin, `bench_insert_${suffix}`, fts);
        results[`insert_${suffix}_rows_per_s`] = perSecond(ROWS, await timed(() => insertRun(client, all, 'insert')));
        await client.end();
      }
      {
        const { url, client } = await database(admin, `bench_two_${suffix}`, fts);
        const other = await connect(url, { queryTimeoutMs: 600_000, statementTimeoutMs: 0 });
        const half = Math.floor(all.length / 2);
        results[`copy_2conn_${suffix}_rows_per_s`] = perSecond(ROWS, await timed(async () => {
          await Promise.all([copyRun(client, all.slice(0, half), 'two-a'), copyRun(other, all.slice(half), 'two-b')]);
        }));
        await other.end();
        await client.end();
      }
      {
        const { url, client } = await database(admin, `bench_writer_${suffix}`, fts);
        const spoolDir = join(work, `spool-${suffix}`);
        results[`writer_spool_${suffix}_rows_per_s`] = perSecond(ROWS, await timed(() => writerRun(url, all, spoolDir)));
        await client.end();
      }
      {
        const { url, client } = await database(admin, `bench_e2e_${suffix}`, fts);
        const e2eDir = join(work, `e2e-${suffix}`);
        (await import('node:fs')).mkdirSync(e2eDir);
        results[`agent_e2e_${suffix}_lines_per_s`] = perSecond(ROWS, await agentRun(url, e2eDir));
        await client.end();
      }
    }
    process.stdout.write(JSON.stringify({
      bench: 'ingest',
      rows: ROWS,
      batchRows: BATCH,
      node: process.version,
      server: server.external ? 'external' : 'embedded, fsync=off, synchronous_commit=off',
      ...results,
      baseline: { note: 'reference figures measured earlier on the same kind of machine', copy_nofts_rows_per_s: 180_000,
        copy_fts_rows_per_s: '19000-24000', copy_2conn_fts_rows_per_s: 31_000 },
    }, null, 2) + '\n');
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
