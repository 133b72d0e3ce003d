// The read replica's pure part: WAL positions, the lag from the primary's recorded positions, which
// failures send a read to the primary, and a read URL that is not one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSample, isUnreachable, lagSeconds, parseLsn } from '../../src/hub/read-replica.js';
import { startHub } from '../../src/hub/server.js';

test('a WAL position is read as bytes, and anything else is refused by name', () => {
  assert.equal(parseLsn('0/0'), 0n);
  assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) + 0xB374D848n);
  assert.ok(parseLsn('1/0') > parseLsn('0/FFFFFFFF'));
  assert.throws(() => parseLsn('16B374D848'), /not a WAL position: "16B374D848"/);
});

test('the lag is the age of the oldest primary position not replayed, not the age of the last replayed commit', () => {
  const s = [{ at: 1_000, lsn: 100n }, { at: 6_000, lsn: 200n }, { at: 11_000, lsn: 300n }];
  assert.equal(lagSeconds(s, 300n, 20_000), 0, 'everything replayed: current, however long the primary was idle');
  assert.equal(lagSeconds(s, 250n, 20_000), 9, 'what the primary had at 11 s is missing');
  assert.equal(lagSeconds(s, 150n, 20_000), 14);
  assert.equal(lagSeconds(s, 0n, 20_000), 19);
  assert.equal(lagSeconds([], 0n, 20_000), 0);
});

test('samples the replica has replayed are dropped, and at most `max` are kept', () => {
  let s = addSample([], { at: 1, lsn: 10n }, null);
  s = addSample(s, { at: 2, lsn: 20n }, 5n);
  assert.deepEqual(s.map((x) => x.at), [1, 2]);
  s = addSample(s, { at: 3, lsn: 30n }, 20n);
  assert.deepEqual(s.map((x) => x.at), [3], 'positions up to 20 are on the replica');
  s = addSample(s, { at: 4, lsn: 30n }, 30n);
  assert.deepEqual(s, []);
  for (let i = 0; i < 10; i++) s = addSample(s, { at: i, lsn: BigInt(100 + i) }, 0n, 4);
  assert.deepEqual(s.map((x) => x.at), [6, 7, 8, 9]);
});

test('connection failures send a read to the primary; query errors do not', () => {
  const pgError = (code: string) => Object.assign(new Error('x'), { code });
  for (const e of [pgError('ECONNREFUSED'), pgError('57P01'), pgError('08006'), pgError('53300'), pgError('40001'),
    new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect'),
    new Error('wrapped', { cause: pgError('ECONNRESET') })]) assert.equal(isUnreachable(e), true, e.message);
  for (const e of [pgError('42P01'), pgError('57014'), pgError('22P02'), new Error('bad request')]) assert.equal(isUnreachable(e), false, (e as { code?: string }).code);
});

test('a read URL that is not a postgresql:// URL stops the hub at start, naming where it came from', async () => {
  await assert.rejects(startHub({ databaseUrl: 'postgresql://x@127.0.0.1:1/x', readDatabaseUrl: 'mysql://r:secret@db/x', port: 0, log: () => {} }),
    (err: Error & { code?: string }) => err.code === 'OBS_ERR_CONFIG' && /readDatabaseUrl must be a postgresql:\/\/ URL/.test(err.message) && !err.message.includes('secret'));
  const before = process.env.OBSERV_DB_READ_URL;
  process.env.OBSERV_DB_READ_URL = 'not a url';
  try {
    await assert.rejects(startHub({ databaseUrl: 'postgresql://x@127.0.0.1:1/x', port: 0, log: () => {} }), /OBSERV_DB_READ_URL must be a postgresql:\/\/ URL/);
  } finally {
    if (before === undefined) delete process.env.OBSERV_DB_READ_URL; else process.env.OBSERV_DB_READ_URL = before;
  }
});
