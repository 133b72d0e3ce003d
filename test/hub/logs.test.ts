import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson, store, logLine } from './fixtures.js';
import { parseLogQuery, searchLogs } from '../../src/hub/api/logs.js';
import type { LogSearchResult } from '../../src/hub/api/types.js';
import { loadPg } from '../../src/db/pg.js';

const BASE = Date.parse('2030-03-01T12:00:00Z');

/**
 * GET /api/logs, following partial pages: on a loaded machine a statement may hit its time bound and
 * answer a partial page with a cursor, which is correct behaviour; these tests are about the results.
 */
async function page(url: string): Promise<{ status: number; body: LogSearchResult }> {
  const first = await getJson<LogSearchResult>(url);
  const body = first.body;
  for (let i = 0; first.status === 200 && body.partial && body.nextCursor && i < 100; i++) {
    const next = await getJson<LogSearchResult>(`${url}&cursor=${body.nextCursor}`);
    assert.equal(next.status, 200);
    body.entries.push(...next.body.entries);
    Object.assign(body, { partial: next.body.partial, nextCursor: next.body.nextCursor, searchedBackTo: next.body.searchedBackTo });
  }
  return first;
}
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
    const r = await page(`${hub.url}/api/logs?${qs}`);
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
  const everything = (await page(`${hub.url}/api/logs?app=api&limit=500`)).body.entries.map((e) => e.id);
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
    const bitmap = await searchLogs(pool, q, { bitmapMinMatches: 1e12, bitmapMaxMatches: 1e12, walkMinRows: 1, walkMaxRows: 1, budgetMs: 60_000, emptyPageBudgetMs: 60_000, statementTimeoutMs: 60_000, initialSliceMs: 7_000 });
    const walk = await searchLogs(pool, q, { bitmapMinMatches: -1, bitmapMaxMatches: -1, walkMinRows: 1e6, walkMaxRows: 1e6, budgetMs: 60_000, emptyPageBudgetMs: 60_000, statementTimeoutMs: 60_000 });
    const fallback = await searchLogs(pool, q, { bitmapMinMatches: -1, bitmapMaxMatches: -1, walkMinRows: 3, walkMaxRows: 3, budgetMs: 60_000, emptyPageBudgetMs: 60_000, statementTimeoutMs: 60_000 });
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
  const found = await page(`${hub.url}/api/logs?q=${encodeURIComponent("quote '")}`);
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
  const tuning = { bitmapMinMatches: 1e12, bitmapMaxMatches: 1e12, walkMinRows: 1, walkMaxRows: 1, budgetMs: 0, emptyPageBudgetMs: 0, statementTimeoutMs: 60_000, initialSliceMs: 20_000 };
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

test('one search covers message, logger and context keys and values', async (t) => {
  const { hub, db } = await hubFor(t);
  const lines = [];
  for (let i = 0; i < 120; i++) {
    lines.push(logLine(at(i), 'User action', { logger: i % 3 ? 'shop.http' : 'billing.worker', context: { user_id: i, action: i % 4 === 0 ? 'logout' : 'view' } }));
  }
  lines.push(logLine(at(200), 'User action', { context: { order_ref: 'ordzq9x7k', note: 'first line\nsecond line' } }));
  await store(db.client, 'vps-1', 'shop', { logs: lines });
  const count = async (q: string) => {
    const r = await page(`${hub.url}/api/logs?limit=500&q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, q);
    return r.body.entries.length;
  };
  assert.equal(await count('logout'), 30, 'a word only in context.action');
  assert.equal(await count('billing'), 40, 'a word only in the logger ("billing.worker" is split)');
  assert.equal(await count('billing.worker'), 40, 'the logger as written');
  assert.equal(await count('order_ref'), 1, 'a context key');
  assert.equal(await count('ordzq9x7k'), 1, 'a context value that occurs once');
  assert.equal(await count('"second line"'), 1, 'a phrase inside a multi-line context value (escapes do not glue words)');
  assert.equal(await count('logout -billing'), 20);
});

test('invalid parameters get a 400 that names them (each was a 500 or a silent 200)', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'api', { logs: [logLine(at(1), 'hello')] });
  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const cases: [string, RegExp][] = [
    [`cursor=${cursor(['9999-99-99T99:99:99.999999Z', '1'])}`, /^cursor/],
    [`cursor=${cursor(['2030-02-30T00:00:00.000000Z', '1'])}`, /^cursor/],
    [`cursor=${cursor(['2030-01-01T00:00:00.000000Z', '9999999999999999999'])}`, /^cursor/],
    [`cursor=${cursor(['2030-01-01T00:00:00.000000Z', '1', -5])}`, /^cursor/],
    [`ctx.${Array(5000).fill('a').join('.')}=1`, /^ctx\.a\.a.*at most 8/], // 10 KB: within every transport's URL limit
    ['ctx.a=' + encodeURIComponent('x\u0000y'), /^ctx\.a value/],
    ['level=BOGUS', /^level: unknown level "BOGUS"/],
    ['level=ERROR&level=WARN', /^level may be given only once/],
    ['q=' + encodeURIComponent('"' + Array(90).fill('user login').join(' ') + '"'), /^q must be at most 512 characters/],
    ['q=' + encodeURIComponent('"' + Array(5).fill('user login').join(' ') + '"'), /^q: a quoted phrase may hold at most 8 words \(got 10\)/],
    ['q=' + encodeURIComponent(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ')), /^q may hold at most 16 words/],
    ['q=' + encodeURIComponent('a\u0000b'), /^q must not contain control characters/],
    ['from=2030-13-45', /^from must be/],
    ['limit=0', /^limit must be/],
    ['colour=red', /^unknown parameter "colour"/],
  ];
  for (const [qs, message] of cases) {
    const r = await getJson<{ error: string }>(`${hub.url}/api/logs?${qs}`);
    assert.equal(r.status, 400, qs.slice(0, 80));
    assert.match(r.body.error, message, qs.slice(0, 80));
  }
  assert.equal((await getJson(`${hub.url}/api/logs?level=warning,error`)).status, 200, 'level synonyms are accepted');
});

const FILLER = Array.from({ length: 40 }, (_, i) => `filler${i}`).join(' ');

/** Lines holding both "user" and "login", never in that order: every one is a candidate the phrase "user login" must recheck. */
async function seedPhraseTrap(client: import('../../src/db/pg.js').PgClient, lines: number): Promise<string[]> {
  const planted: string[] = [];
  for (let batch = 0; batch < lines; batch += 5000) {
    const logs = [];
    for (let i = batch; i < Math.min(lines, batch + 5000); i++) {
      const hit = i % 7919 === 123;
      const message = hit ? `user login accepted ${i}` : `login attempt ${i} for user u${i % 97} from the web form ${FILLER}`;
      if (hit) planted.push(message);
      logs.push(logLine(at(i * 10), message, { context: { request: i } }));
    }
    await store(client, 'vps-1', 'auth', { logs });
  }
  return planted;
}

test('a phrase that is costly to recheck is cut by its statement time bound and pages on, finding every match', async (t) => {
  const { hub, db } = await hubFor(t);
  const planted = await seedPhraseTrap(db.client, 40_000);
  await db.client.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message) VALUES ($1, 'vps-1', 'auth', 'INFO', 'order123457 shipped')`, [at(40_000 * 10 + 5)]);
  const pg = loadPg();
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => {});
  t.after(() => pool.end());
  // A statement bound a quarter of what the whole-range recheck takes on this machine (and above
  // the fixed cost of a statement, so that short slices get through). Timed warm, the fastest of
  // three; if a busy machine still let every statement through, the bound is halved and the walk
  // repeated (every walk must find every match, cut or not).
  let wholeRangeMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await pool.query(`SELECT count(*) FROM log_entries WHERE search @@ websearch_to_tsquery('english', '"user login"')`);
    wholeRangeMs = Math.min(wholeRangeMs, performance.now() - t0);
  }
  let statementTimeoutMs = Math.max(10, Math.round(wholeRangeMs / 4));
  let tuning = (await import('../../src/hub/api/logs.js')).DEFAULT_TUNING;
  let cut = 0;
  let partial = 0;
  for (let attempt = 0; attempt < 4 && cut === 0; attempt++, statementTimeoutMs = Math.max(5, Math.round(statementTimeoutMs / 2))) {
    tuning = { ...tuning, statementTimeoutMs, emptyPageBudgetMs: 3 * statementTimeoutMs, budgetMs: statementTimeoutMs };
    const found: string[] = [];
    let cursor: string | null = null;
    let requests = 0;
    do {
      const r: LogSearchResult = await searchLogs(pool, parseLogQuery(new URLSearchParams(`q=${encodeURIComponent('"user login"')}&limit=500${cursor ? `&cursor=${cursor}` : ''}`)), tuning);
      found.push(...r.entries.map((e) => e.message));
      cut += r.plan.cutStatements;
      if (r.partial) partial++;
      cursor = r.nextCursor;
    } while (cursor && ++requests < 2_000);
    assert.equal(cursor, null, `the cursors reached the end (${statementTimeoutMs} ms bound)`);
    assert.deepEqual(found, planted, `every match exactly once, newest first (${statementTimeoutMs} ms bound)`);
  }
  assert.ok(cut > 0, `some statements were cut by their time bound (down to ${tuning.statementTimeoutMs} ms; the whole range took ${Math.round(wholeRangeMs)} ms)`);
  assert.ok(partial > 0, 'and answered with partial pages, not errors');

  // Twelve at once through the hub: each answers (200, partial or not, or 429 from the per-client
  // limit), none is a 500 after a statement timeout.
  const attack = `${hub.url}/api/logs?q=${encodeURIComponent('"user login"')}`;
  const answers = (await Promise.all(Array.from({ length: 12 }, () => getJson<LogSearchResult>(attack)))).map((a) => a.status);
  assert.ok(answers.every((s) => s === 200 || s === 429), answers.join(' '));
  assert.ok(answers.filter((s) => s === 200).length >= 2, answers.join(' '));

  // A term that occurs once, in the oldest line, is found by the first request even with no time to spare.
  const once = await searchLogs(pool, parseLogQuery(new URLSearchParams('q=order123457')), { ...tuning, budgetMs: 0, emptyPageBudgetMs: 0, statementTimeoutMs: 5_000 });
  assert.deepEqual(once.entries.map((e) => e.message), ['order123457 shipped']);
  assert.equal(once.partial, false);
});

test('a cursor round-trips with its slice length; a forged one is refused', async () => {
  const { encodeCursor, decodeCursor } = await import('../../src/hub/api/logs.js');
  assert.deepEqual(decodeCursor(encodeCursor('2030-01-01T00:00:00.000000Z', '0', 86_400_000)), { ts: '2030-01-01T00:00:00.000000Z', id: '0', sliceMs: 86_400_000 });
  assert.deepEqual(decodeCursor(encodeCursor('2024-02-29T23:59:59.999999Z', '9223372036854775807')), { ts: '2024-02-29T23:59:59.999999Z', id: '9223372036854775807' });
  for (const forged of [['2023-02-29T00:00:00.000000Z', '1'], ['2030-01-01T24:00:00.000000Z', '1'], ['2030-01-01T00:00:00.000000Z', '9223372036854775808'], ['2030-01-01T00:00:00.000000Z', '1', 1.5]]) {
    assert.throws(() => decodeCursor(Buffer.from(JSON.stringify(forged)).toString('base64url')), /^BadRequest: cursor is not valid/, JSON.stringify(forged));
  }
});
