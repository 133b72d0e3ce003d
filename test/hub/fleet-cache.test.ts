// The fleet overview from the hub's memory: what it reads, when it reads again, and what it recomputes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase, eventually } from '../helpers/pg.js';
import { createPool, type PgPool } from '../../src/db/pg.js';
import { FleetCache } from '../../src/hub/fleet-cache.js';
import { queryFleet } from '../../src/hub/api/fleet.js';
import { getJson, hubFor, minutesAgo, sample, store } from './fixtures.js';
import type { FleetRow } from '../../src/hub/api/types.js';

/** A real pool that counts the statements sent through it. */
function counted(url: string): { pool: PgPool; queries: () => number } {
  const pool = createPool(url, { max: 3 });
  let n = 0;
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  (pool as unknown as { query: unknown }).query = (...a: unknown[]) => { n++; return query(...a); };
  return { pool, queries: () => n };
}

test('served from memory until it is older than its bound, and from the database while batch notifications are not arriving', async (t) => {
  const db = await testDatabase(t);
  await store(db.client, 'web1', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 10 })] });
  const { pool, queries } = counted(db.url);
  t.after(() => pool.end());
  let clock = Date.now();
  const cache = new FleetCache(pool, {}, 10_000, () => clock);

  assert.equal((await cache.fleet())[0]!.cpuPercent, 10, 'not listening: read from the database');
  assert.equal((await cache.fleet()).length, 1);
  const direct = queries();
  assert.ok(direct >= 2);

  cache.listening(true);
  await cache.fleet();
  const afterFull = queries();
  assert.equal(cache.stats.fullReads, 1);
  for (let i = 0; i < 5; i++) assert.equal((await cache.fleet())[0]!.cpuPercent, 10);
  assert.equal(queries(), afterFull, 'five requests, no statement');
  assert.equal(cache.stats.hits, 5);

  clock += 10_001;
  await cache.fleet();
  assert.equal(cache.stats.fullReads, 2, 'read again once older than its bound');

  cache.listening(false);
  const before = queries();
  await cache.fleet();
  assert.ok(queries() > before, 'the LISTEN connection lost: back to the database');
  cache.listening(true);
  await cache.fleet();
  assert.equal(cache.stats.fullReads, 3, 'back up: a full read first, since notifications were lost meanwhile');
});

test('an agent that stops sending turns stale on time without a read; an older read never replaces a newer row', async (t) => {
  const db = await testDatabase(t);
  await store(db.client, 'web1', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 10 })] }, 60);
  await store(db.client, 'web2', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 20 })] }, 60);
  const pool = createPool(db.url, { max: 2 });
  t.after(() => pool.end());
  let clock = Date.now();
  const cache = new FleetCache(pool, { statusFromAlerts: true }, 600_000, () => clock);
  cache.listening(true);
  assert.deepEqual((await cache.fleet()).map((r) => [r.vps, r.status, r.stale]), [['web1', 'up', false], ['web2', 'up', false]]);

  clock += 136_000; // past 2 × 60 s + 15 s since each last batch
  assert.deepEqual((await cache.fleet()).map((r) => [r.vps, r.status, r.stale]), [['web1', 'stale', true], ['web2', 'stale', true]]);
  assert.equal(cache.stats.fullReads, 1);

  // web1 sends again: the live feed's re-read of it (put) wins over a full read that had started before it.
  const fullStarted = clock - 1;
  const full = await queryFleet(pool, {});
  await store(db.client, 'web1', 'shop', { metrics: [sample(new Date(clock).toISOString(), { cpuPercent: 77 })] }, 60);
  await db.client.query(`UPDATE agent_checkpoints SET updated_at = to_timestamp($1 / 1000.0) WHERE vps_name = 'web1'`, [clock]);
  cache.put(await queryFleet(pool, { vps: 'web1', app: 'shop' }), clock);
  cache.replace(full.map((r): FleetRow => r), fullStarted);
  const rows = await cache.fleet();
  assert.deepEqual(rows.map((r) => [r.vps, r.cpuPercent, r.status]), [['web1', 77, 'up'], ['web2', 20, 'stale']]);
  assert.deepEqual((await cache.fleet({ vps: 'web2' })).map((r) => r.vps), ['web2'], 'filters apply to the rows in memory');
});

test('the hub answers /api/fleet from memory, and a committed batch shows there within moments', async (t) => {
  const { hub, db } = await hubFor(t, { liveTickMs: 60_000 });
  await store(db.client, 'web1', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 10 })] });
  const fleet = async () => (await getJson<{ fleet: FleetRow[] }>(`${hub.url}/api/fleet`)).body.fleet;
  assert.equal((await fleet())[0]!.cpuPercent, 10);
  await store(db.client, 'web1', 'shop', { metrics: [sample(new Date().toISOString(), { cpuPercent: 42 })] });
  await eventually(async () => (await fleet())[0]!.cpuPercent === 42, 'the new sample in /api/fleet', 5000, 25);
  await store(db.client, 'web2', 'api', { metrics: [sample(new Date().toISOString(), { cpuPercent: 5 })] });
  await eventually(async () => (await fleet()).length === 2, 'a new agent in /api/fleet', 5000, 25);
});
