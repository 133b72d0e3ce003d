// The batch's notification to the hub is sent after its COMMIT, in a statement of its own: inside the
// transaction it made every agent's commit wait for the others' WAL flush (docs/scale.md). So a
// notification that cannot be sent leaves the batch committed, once, and a listener hears of a batch
// only once its rows are visible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type PgClient } from '../../src/db/pg.js';
import { storeBatch } from '../../src/workers/writer/writer.js';
import { testDatabase, eventually } from '../helpers/pg.js';
import { logLine, sample } from '../hub/fixtures.js';

const who = { vps: 'web1', app: 'shop', collectionInterval: 60, startedAt: new Date().toISOString() };
const batch = (seq: number) => ({ seq, createdAt: new Date().toISOString(), metrics: [sample(new Date().toISOString())], probes: [],
  logs: [logLine(new Date().toISOString(), `line of batch ${seq}`)], events: [], files: [] });

test('a batch whose notification fails is committed once; a listener hears of a batch when its rows are already visible', async (t) => {
  const db = await testDatabase(t);
  const listener = await connect(db.url);
  t.after(() => listener.end());
  const heard: { seq: number; rowsVisible: number }[] = [];
  const reader = await connect(db.url);
  t.after(() => reader.end());
  listener.on('notification', (n) => {
    const { seq } = JSON.parse(n.payload!) as { seq: number };
    void reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM log_entries WHERE message = $1`, [`line of batch ${seq}`])
      .then((r) => heard.push({ seq, rowsVisible: r.rows[0]!.n }));
  });
  await listener.query('LISTEN observ_batch');

  // A writer connection whose pg_notify fails, as when the connection drops right after the COMMIT.
  const failing = await connect(db.url);
  t.after(() => failing.end());
  const query = failing.query.bind(failing) as (...a: unknown[]) => Promise<unknown>;
  (failing as unknown as { query: unknown }).query = (...a: unknown[]) =>
    typeof a[0] === 'string' && a[0].includes('pg_notify') ? Promise.reject(new Error('connection lost after COMMIT')) : query(...a);
  assert.equal(await storeBatch(failing as PgClient, batch(1), who), 'committed');
  assert.equal(await storeBatch(failing as PgClient, batch(1), who), 'duplicate', 'its replay is a no-op: it was committed');

  assert.equal(await storeBatch(db.client, batch(2), who), 'committed');
  await eventually(async () => heard.length >= 1, 'the notification of batch 2');
  assert.deepEqual(heard, [{ seq: 2, rowsVisible: 1 }], 'only batch 2 was announced, after its rows were committed');
  const stored = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM log_entries`);
  assert.equal(stored.rows[0]!.n, 2);
});
