import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { encodeBatch, readCheckpoint, storeBatch, storeEncoded, type Batch } from '../../src/workers/writer/writer.js';
import type { LogRecord, MetricSample } from '../../src/supervisor/messages.js';

const who = { vps: 'vps-1', app: 'store', collectionInterval: 60, startedAt: new Date().toISOString() };

function log(message: string, extra: Partial<LogRecord> = {}): LogRecord {
  return { timestamp: '2026-01-02T03:04:05.678Z', level: 'INFO', logger: 'test', message, context: null, exception: null, flags: [],
    raw: null, sourceFile: '/var/log/app.log', ...extra };
}

function batch(seq: number, logs: LogRecord[], offset = seq * 10): Batch {
  return { seq, createdAt: new Date().toISOString(), metrics: [], probes: [], logs, events: [],
    files: [{ path: '/var/log/app.log', identity: { dev: 1, ino: 2, fingerprint: 'ab' }, offset }] };
}

test('a batch stored twice with the same seq is stored once; the replay is a no-op', async (t) => {
  const { client } = await testDatabase(t);
  await client.query('SELECT observ_ensure_partitions()');
  assert.equal(await storeBatch(client, batch(1, [log('one'), log('two')]), who), 'committed');
  assert.equal(await storeBatch(client, batch(1, [log('one'), log('two')]), who), 'duplicate');
  // A replay at or below the committed seq is skipped even when it differs (the tailer re-read more).
  assert.equal(await storeBatch(client, batch(1, [log('one'), log('two'), log('three')]), who), 'duplicate');
  assert.equal(await storeBatch(client, batch(2, [log('three')]), who), 'committed');
  const rows = await client.query<{ message: string }>('SELECT message FROM log_entries ORDER BY id');
  assert.deepEqual(rows.rows.map((r) => r.message), ['one', 'two', 'three']);
  assert.deepEqual(await readCheckpoint(client, who.vps, who.app),
    { seq: 2, files: [{ path: '/var/log/app.log', identity: { dev: 1, ino: 2, fingerprint: 'ab' }, offset: 20 }] });
});

test('a failed batch commits nothing: no rows, and the checkpoint stays where it was', async (t) => {
  const { client } = await testDatabase(t);
  await storeBatch(client, batch(5, [log('kept')]), who);
  const sections = encodeBatch(batch(6, [log('lost')]), who.vps, who.app);
  sections.logs += 'not-a-timestamp\tvps-1\tstore\tINFO\tbad row\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n';
  await assert.rejects(storeEncoded(client, 6, batch(6, []).files, sections, who), { code: '22007' });
  const rows = await client.query<{ message: string }>('SELECT message FROM log_entries');
  assert.deepEqual(rows.rows.map((r) => r.message), ['kept']);
  assert.equal((await readCheckpoint(client, who.vps, who.app)).seq, 5);
});

test('row by row, the rows the server refuses are skipped and counted, the rest commit with the checkpoint', async (t) => {
  const { client } = await testDatabase(t);
  const sections = encodeBatch(batch(7, [log('good one'), log('good two')]), who.vps, who.app);
  sections.logs += 'not-a-timestamp\tvps-1\tstore\tINFO\tbad row\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n';
  const r = await storeEncoded(client, 7, batch(7, []).files, sections, who, { rowByRow: true });
  assert.deepEqual(r, { outcome: 'committed', rejected: { log_entries: 1 } });
  const rows = await client.query<{ message: string }>('SELECT message FROM log_entries ORDER BY id');
  assert.deepEqual(rows.rows.map((x) => x.message), ['good one', 'good two']);
  const ev = await client.query<{ detail: { rejected: Record<string, number> } }>(`SELECT detail FROM agent_events WHERE kind = 'rows_rejected'`);
  assert.deepEqual(ev.rows[0]!.detail.rejected, { log_entries: 1 });
  assert.equal((await readCheckpoint(client, who.vps, who.app)).seq, 7);
});

test('each commit sends one NOTIFY on observ_batch with the counts', async (t) => {
  const { client, url } = await testDatabase(t);
  const { connect } = await import('../../src/db/pg.js');
  const listener = await connect(url);
  t.after(() => listener.end());
  await listener.query('LISTEN observ_batch');
  const got = new Promise<string>((resolve) => listener.once('notification', (n) => resolve(n.payload ?? '')));
  await storeBatch(client, batch(3, [log('a'), log('b')]), who);
  assert.deepEqual(JSON.parse(await got), { vps: 'vps-1', app: 'store', seq: 3, metrics: 0, health: 0, logs: 2, events: 0 });
});

function metric(timestamp: string, app: MetricSample['app']): MetricSample {
  return { timestamp, cpuPercent: 40, cpuUser: 30, cpuSystem: 10, cpuIowait: 0, cpuSteal: 0, memoryPercent: 50, memoryMb: 1000,
    memoryAvailableMb: 1000, swapPercent: 0, swapUsedMb: 0, diskPercent: 30, diskGb: 10, diskFreeGb: 20, diskReadBps: 0, diskWriteBps: 0,
    netRxBps: 0, netTxBps: 0, loadAvg1m: 1, loadAvg5m: 1, loadAvg15m: 1, uptimeSeconds: 100, mounts: [], ...(app === undefined ? {} : { app }) };
}

test('the app\'s processes land in their own columns beside the host\'s; a sample without them leaves them null', async (t) => {
  const { client } = await testDatabase(t);
  const b: Batch = { ...batch(1, []), metrics: [
    metric('2026-01-02T03:04:00.000Z', { source: 'unit:shop.service', processes: 3, cpuPercent: 2.5, rssMb: 120.4, threads: 14, openFiles: 37, restarts: 1 }),
    metric('2026-01-02T03:05:00.000Z', undefined),
  ] };
  assert.equal(await storeBatch(client, b, who), 'committed');
  const r = await client.query('SELECT cpu_percent, app_source, app_processes, app_cpu_percent, app_rss_mb, app_threads, app_open_files, app_restarts FROM vps_metrics ORDER BY timestamp');
  assert.deepEqual(r.rows, [
    { cpu_percent: 40, app_source: 'unit:shop.service', app_processes: 3, app_cpu_percent: 2.5, app_rss_mb: 120.4, app_threads: 14, app_open_files: 37, app_restarts: 1 },
    { cpu_percent: 40, app_source: null, app_processes: null, app_cpu_percent: null, app_rss_mb: null, app_threads: null, app_open_files: null, app_restarts: null },
  ]);
});

test('a spooled batch of an agent from before the app columns replays into the columns it was written for', async (t) => {
  const { client } = await testDatabase(t);
  const sections = encodeBatch({ ...batch(1, []), metrics: [metric('2026-01-02T03:04:00.000Z', null)] }, who.vps, who.app);
  // The previous layout: the same row without the 7 app fields at its end.
  const legacy = sections.metrics.split('\n').filter(Boolean).map((line) => line.split('\t').slice(0, -7).join('\t') + '\n').join('');
  assert.equal(legacy.split('\t').length, 25);
  assert.equal((await storeEncoded(client, 1, [], { ...sections, metrics: legacy }, who)).outcome, 'committed');
  const r = await client.query('SELECT cpu_percent, uptime_seconds, app_source FROM vps_metrics');
  assert.deepEqual(r.rows, [{ cpu_percent: 40, uptime_seconds: 100, app_source: null }]);
});
