import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson, store, logLine } from './fixtures.js';
import { parseLogQuery, searchLogs } from '../../src/hub/api/logs.js';
import type { LogSearchResult } from '../../src/hub/api/types.js';
import { loadPg } from '../../src/db/pg.js';

const BASE = Date.parse('2030-03-01T12:00:00Z');
const at = (s: number) => new Date(BASE - s * 1000).toISOString();

/** 300 lines over two apps and two VPS; a few rare words, some equal timestamps (to test the id tie-break). */
async function seed(client: import('../../src/db/pg.js').PgClient): Promise<void> {
  const api = [];
  for (let i = 0; i < 200; i++) {
    const message = i % 50 === 7 ? `connection refused by upstream ${i}` : i % 10 === 3 ? `payment ${i} failed${i % 20 === 3 ? ' refund issued' : ''}` : `request ${i} served`;
    api.push(logLine(at(Math.floor(i / 2)), message, {
      level: i % 10 === 3 ? 'ERROR' : i % 25 === 0 ? 'WARN' : 'INFO',
      context: i % 40 === 0 ? { user_id: 42, order: { id: 'A-7' } } : { user_id: i },
    }));
  }
  await store(client, 'vps-1', 'api', { logs: api });
  const worker = [];
  for (let i = 0; i < 100; i++) worker.push(logLine(at(i * 3 + 1), i === 50 ? 'zanzibar job stuck' : `job ${i} done`, { level: i === 50 ? 'FATAL' : 'INFO' }));
  await store(client, 'vps-2', 'worker', { logs: worker });
}

test('log search finds words, phrases and exclusions, filters by level, app, vps, time and context, newest first', async (t) => {
  const { hub, db } = await hubFor(t);
  await seed(db.client);
  const search = async (qs: string) => {
    const r = await getJson<LogSearchResult>(`${hub.url}/api/logs?${qs}`);
    assert.equal(r.status, 200, qs);
    return r.body;
  };
  const messages = (r: LogSearchResult) => r.entries.map((e) => e.message);

  const refused = await search('q=refused');
  assert.deepEqual(messages(refused), ['connection refused by upstream 7', 'connection refused by upstream 57', 'connection refused by upstream 107', 'connection refused by upstream 157']);
  assert.equal((await search('q=' + encodeURIComponent('"refused by upstream"'))).entries.length, 4);
  assert.equal((await search('q=' + encodeURIComponent('"upstream by refused"'))).entries.length, 0, 'a phrase is ordered');
  const payments = await search('q=' + encodeURIComponent('payment -refund'));
  assert.equal(payments.entries.length, 10);
  assert.ok(payments.entries.every((e) => !e.message.includes('refund')));
  assert.equal((await search('q=payments')).entries.length, 20, 'english stemming: payments finds payment');
  assert.equal((await search('q=nosuchword')).entries.length, 0);

  assert.deepEqual(messages(await search('level=fatal')), ['zanzibar job stuck']);
  const errorsOrWarnings = await search('level=ERROR,WARN&app=api&limit=500');
  assert.equal(errorsOrWarnings.entries.length, 20 + 8);
  assert.ok((await search('vps=vps-2&limit=500')).entries.every((e) => e.vps === 'vps-2' && e.app === 'worker'));
  assert.equal((await search('vps=vps-2&limit=500')).entries.length, 100);
  const ctx = await search('ctx.user_id=42');
  assert.equal(ctx.entries.length, 5 + 1, 'the number 42, five times, plus user_id 42 itself once');
  assert.deepEqual(ctx.entries[0]!.context, { user_id: 42, order: { id: 'A-7' } });
  assert.equal((await search('ctx.order.id=A-7')).entries.length, 5);
  const windowed = await search(`app=api&from=${at(10)}&to=${at(5)}&limit=500`);
  assert.equal(windowed.entries.length, 10);

  const all = (await search('limit=500')).entries;
  assert.equal(all.length, 300);
  for (let i = 1; i < all.length; i++) {
    const [a, b] = [all[i - 1]!, all[i]!];
    assert.ok(a.timestamp > b.timestamp || (a.timestamp === b.timestamp && BigInt(a.id) > BigInt(b.id)), 'newest first, then highest id');
  }
});

test('cursor paging visits every match exactly once, newest first', async (t) => {
  const { hub, db } = await hubFor(t);
  await seed(db.client);
  const everything = (await getJson<LogSearchResult>(`${hub.url}/api/logs?app=api&limit=500`)).body.entries.map((e) => e.id);
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r: { body: LogSearchResult } = await getJson<LogSearchResult>(`${hub.url}/api/logs?app=api&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...r.body.entries.map((e) => e.id));
    cursor = r.body.nextCursor;
    if (!cursor) break;
  }
  assert.equal(everything.length, 200);
  assert.deepEqual(seen, everything);
});

test('the walk, the bitmap and the walk that falls back to a bitmap return the same page', async (t) => {
  const { db } = await hubFor(t);
  await seed(db.client);
  const pg = loadPg();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => {}); // the database is dropped (FORCE) when the test ends
  t.after(() => pool.end());
  const queries = ['q=refused', 'q=' + encodeURIComponent('payment -refund'), 'q=zanzibar', 'level=ERROR', 'ctx.user_id=42', 'q=request&app=api', 'q=nosuchword'];
  for (const qs of queries) {
    const q = parseLogQuery(new URLSearchParams(qs + '&limit=5'));
    const bitmap = await searchLogs(pool, q, { bitmapMinMatches: 1e12, bitmapMaxMatches: 1e12, walkMinRows: 1, walkMaxRows: 1, budgetMs: 60_000, initialSliceMs: 7_000 });
    const walk = await searchLogs(pool, q, { bitmapMinMatches: -1, bitmapMaxMatches: -1, walkMinRows: 1e6, walkMaxRows: 1e6, budgetMs: 60_000 });
    const fallback = await searchLogs(pool, q, { bitmapMinMatches: -1, bitmapMaxMatches: -1, walkMinRows: 3, walkMaxRows: 3, budgetMs: 60_000 });
    assert.equal(bitmap.plan.strategy, 'bitmap', qs);
    assert.equal(walk.plan.strategy, 'walk', qs);
    const ids = (r: LogSearchResult) => r.entries.map((e) => e.id);
    assert.deepEqual(ids(walk), ids(bitmap), qs);
    assert.deepEqual(ids(fallback), ids(bitmap), qs);
    assert.equal(walk.nextCursor, bitmap.nextCursor, qs);
    assert.equal(fallback.nextCursor, bitmap.nextCursor, qs);
    if (bitmap.entries.length < 5) assert.equal(fallback.plan.strategy, 'walk+bitmap', qs);
  }
});

test('user text only ever reaches SQL as a parameter', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'api', { logs: [logLine(at(1), "it's a quote ' and a drop table")] });
  for (const qs of ["q=%27%3B%20DROP%20TABLE%20log_entries%3B%20--", "app=%27%20OR%201%3D1%20--", "ctx.a%27b=%27%29%3B--", "level=INFO&vps=x%27%29"]) {
    const r = await fetch(`${hub.url}/api/logs?${qs}`);
    assert.equal(r.status, 200, qs);
  }
  const found = await getJson<LogSearchResult>(`${hub.url}/api/logs?q=${encodeURIComponent("quote '")}`);
  assert.equal(found.body.entries.length, 1);
  const count = await db.client.query('SELECT count(*)::int AS n FROM log_entries');
  assert.equal(count.rows[0].n, 1);
});

test('a search that runs out of time returns what it found and a cursor that continues below', async (t) => {
  const { db } = await hubFor(t);
  await seed(db.client);
  const pg = loadPg();
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => {});
  t.after(() => pool.end());
  // No budget: every call searches one 20-second slice, then stops.
  const tuning = { bitmapMinMatches: 1e12, bitmapMaxMatches: 1e12, walkMinRows: 1, walkMaxRows: 1, budgetMs: 0, initialSliceMs: 20_000 };
  const found: string[] = [];
  let cursor: string | null = null;
  let calls = 0;
  let partials = 0;
  do {
    const r: LogSearchResult = await searchLogs(pool, parseLogQuery(new URLSearchParams(`q=refused${cursor ? `&cursor=${cursor}` : ''}`)), tuning);
    found.push(...r.entries.map((e) => e.message));
    if (r.partial) { partials++; assert.ok(r.searchedBackTo && r.nextCursor); }
    cursor = r.nextCursor;
  } while (cursor && ++calls < 50);
  assert.ok(partials >= 2, `several partial pages (got ${partials})`);
  assert.deepEqual(found, ['connection refused by upstream 7', 'connection refused by upstream 57', 'connection refused by upstream 107', 'connection refused by upstream 157']);
});
