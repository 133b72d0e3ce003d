import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabase, eventually } from '../helpers/pg.js';
import { freePort } from '../../src/db/embedded.js';
import { Writer, type WriterOptions } from '../../src/workers/writer/writer.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

function log(n: number): LogRecord {
  return { timestamp: new Date().toISOString(), level: 'INFO', logger: null, message: `w-${n}`, context: null, exception: null, flags: [],
    raw: null, sourceFile: '/var/log/app.log' };
}

function options(spoolDir: string, postgresUrl: string, extra: Partial<WriterOptions> = {}): WriterOptions {
  return { postgresUrl, vpsName: 'vps-w', app: 'writer', collectionInterval: 60, flushIntervalMs: 60_000, spoolDir,
    spoolMaxBytes: 8 * 1024 * 1024, queryTimeoutMs: 2000, retryBaseMs: 50, retryMaxMs: 200, ...extra };
}

test('with the database unreachable, batches go to the spool; a restart replays them exactly once, resuming from the spool', async (t) => {
  const { url, client } = await testDatabase(t);
  const dir = mkdtempSync(join(tmpdir(), 'observ-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const deadUrl = `postgresql://nobody:x@127.0.0.1:${await freePort()}/none`;

  const durable: number[] = [];
  const down = new Writer(options(dir, deadUrl, { onDurable: (b) => durable.push(b.files[0]!.offset) }));
  const resume1 = await down.start();
  assert.deepEqual(resume1, { seq: 0, files: [], source: 'none', databaseReachable: false });
  for (let i = 1; i <= 3; i++) {
    down.addLogs([log(i * 2 - 1), log(i * 2)], { path: '/var/log/app.log', identity: null, offset: i * 100 }, 20);
    await down.flush();
  }
  assert.deepEqual(durable, [100, 200, 300], 'each batch is reported durable once it is in the spool');
  assert.equal(down.status().spoolBatches, 3);
  const closed = await down.close(1000);
  assert.deepEqual(closed, { unflushedRows: 0, spooledBatches: 3 });

  const committed: number[] = [];
  const up = new Writer(options(dir, url, { onCommitted: (b) => committed.push(b.files[0]!.offset) }));
  const resume2 = await up.start();
  assert.equal(resume2.source, 'spool');
  assert.deepEqual(resume2.files, [{ path: '/var/log/app.log', identity: null, offset: 300 }]);
  await eventually(async () => up.status().spoolBatches === 0, 'spool drained', 10_000);
  await up.close(2000);
  assert.deepEqual(committed, [100, 200, 300]);
  const rows = await client.query<{ message: string }>(`SELECT message FROM log_entries ORDER BY message`);
  assert.deepEqual(rows.rows.map((r) => r.message), ['w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6']);

  // A third start finds the database as new as the spool: it resumes from the database, with a seq above it.
  const again = new Writer(options(dir, url));
  const resume3 = await again.start();
  await again.close(1000);
  assert.equal(resume3.source, 'database');
  assert.equal(resume3.files[0]!.offset, 300);
  const cp = await client.query<{ batch_seq: string }>(`SELECT batch_seq FROM agent_checkpoints`);
  assert.ok(again.status().nextSeq > Number(cp.rows[0]!.batch_seq));
});

test('work submitted after close is rejected with a typed error, and close is idempotent', async (t) => {
  const { url } = await testDatabase(t);
  const dir = mkdtempSync(join(tmpdir(), 'observ-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new Writer(options(dir, url));
  await w.start();
  const a = w.close();
  const b = w.close();
  assert.equal(a, b);
  await a;
  assert.throws(() => w.addEvent({ timestamp: new Date().toISOString(), kind: 'x', detail: {} }), { code: 'OBS_ERR_CLOSED' });
});

test('an agent upgraded before the database (no app columns yet) stores the host figures, drops the app\'s, and says so', async (t) => {
  const { url, client } = await testDatabase(t);
  // A database from before 050 has no fleet_latest trigger either (060), which reads those columns.
  await client.query('DROP TRIGGER observ_fleet_latest ON vps_metrics');
  await client.query(`ALTER TABLE vps_metrics DROP COLUMN app_source, DROP COLUMN app_processes, DROP COLUMN app_cpu_percent,
    DROP COLUMN app_rss_mb, DROP COLUMN app_threads, DROP COLUMN app_open_files, DROP COLUMN app_restarts CASCADE`);
  const dir = mkdtempSync(join(tmpdir(), 'observ-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: string[] = [];
  const w = new Writer(options(dir, url, { log: (_level, message) => logs.push(message) }));
  await w.start();
  const sample = { timestamp: new Date().toISOString(), cpuPercent: 12.5, cpuUser: 1, cpuSystem: 1, cpuIowait: 0, cpuSteal: 0, memoryPercent: 1,
    memoryMb: 1, memoryAvailableMb: 1, swapPercent: null, swapUsedMb: 0, diskPercent: 1, diskGb: 1, diskFreeGb: 1, diskReadBps: null,
    diskWriteBps: null, netRxBps: null, netTxBps: null, loadAvg1m: 0, loadAvg5m: 0, loadAvg15m: 0, uptimeSeconds: 5, mounts: [],
    app: { source: 'unit:shop.service', processes: 1, cpuPercent: 1, rssMb: 50, threads: 7, openFiles: 20, restarts: 0 } };
  w.addMetric(sample);
  await w.flush();
  await eventually(async () => w.status().spoolBatches === 0, 'batch committed', 10_000);
  await w.close(1000);
  const r = await client.query<{ cpu_percent: number; uptime_seconds: number }>('SELECT cpu_percent, uptime_seconds FROM vps_metrics');
  assert.deepEqual(r.rows, [{ cpu_percent: 12.5, uptime_seconds: 5 }]);
  assert.ok(logs.some((m) => /no app_\* columns in vps_metrics \(migration 050\)/.test(m)), logs.join('\n'));
});
