import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { encodeBatch, readCheckpoint, storeBatch, storeEncoded, type Batch } from '../../src/workers/writer/writer.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

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
