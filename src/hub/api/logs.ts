// GET /api/logs?q&level&app&vps&from&to&ctx.<key>=<value>&cursor&limit — log search, newest first,
// keyset-paged on (timestamp, id).
//
// Why the query is planned here and not left to PostgreSQL alone: "newest 50 lines matching X" has two
// good plans and the planner, with a LIMIT in front, often picks the wrong one.
//   walk   — read lines newest first off a btree and test each one. Cost ∝ lines read until 50
//            match: excellent for common terms, catastrophic for rare or absent ones (whole table).
//   bitmap — collect every match from the GIN index (tsvector, jsonb) or the level btree, then keep
//            the newest 50. Cost ∝ lines the index points at: excellent for rare terms, slow for
//            common ones — and for phrases of common words, whose lines must all be rechecked.
// So: ask the planner's statistics (EXPLAIN, no execution: ~1 ms) how many lines match. Surely few →
// bitmap. Otherwise walk first, bounded to K lines read (K from the estimated match rate, with slack).
// When the walk comes up short (a rare-ish term, or statistics fooled by correlated words), the rest
// comes from the bitmap, run over time slices newest first: a slice's cost ∝ the matches in it, the
// slice grows while slices are cheap, and a time budget ends the search early with a cursor to go on
// ("searched back to …") instead of running for seconds. Each path is forced with SET LOCAL inside a
// read-only transaction.
import type { PgPool, PgClient } from '../../db/pg.js';
import { BadRequest, intParam, optionalName, parseTime, rejectUnknown } from './params.js';
import type { LogEntry, LogSearchResult } from './types.js';

/** Thresholds of the plan choice (tests change them to exercise every path on small data). */
export interface LogSearchTuning {
  /** Below this many estimated matches, straight to the bitmap, no walk… */
  bitmapMinMatches: number;
  /** …above this many, walk first. In between, the cheaper by the estimate. */
  bitmapMaxMatches: number;
  /** Bounds of the newest-first walk, in lines read. */
  walkMinRows: number;
  walkMaxRows: number;
  /** Time budget of the sliced bitmap search; past it, a partial page and a cursor to continue. */
  budgetMs: number;
  /** First slice length; by default from the estimated match rate. */
  initialSliceMs?: number;
}

export const DEFAULT_TUNING: Readonly<LogSearchTuning> = Object.freeze({ bitmapMinMatches: 1_000, bitmapMaxMatches: 30_000, walkMinRows: 2_000, walkMaxRows: 10_000, budgetMs: 40 });

export interface LogQuery {
  q: string | null;
  levels: string[];
  app: string | null;
  vps: string | null;
  from: Date | null;
  to: Date | null;
  /** JSONB containment alternatives per ctx filter: each filter matches if any alternative is contained. */
  context: { key: string; value: string; alternatives: string[] }[];
  cursor: { ts: string; id: string } | null;
  limit: number;
}

const CTX_PREFIX = 'ctx.';

export function encodeCursor(ts: string, id: string): string {
  return Buffer.from(JSON.stringify([ts, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { ts: string; id: string } {
  let parsed: unknown;
  try { parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')); } catch { parsed = null; }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string' ||
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(parsed[0]) || !/^\d{1,19}$/.test(parsed[1])) {
    throw new BadRequest('cursor is not valid (pass back nextCursor from the previous page unchanged)');
  }
  return { ts: parsed[0], id: parsed[1] };
}

/** ctx.user.id=42 → {"user":{"id":42}} and {"user":{"id":"42"}}: the value may have been logged as either. */
export function contextAlternatives(path: string, value: string): string[] {
  const keys = path.split('.');
  if (!keys.length || keys.some((k) => k === '' || k.length > 128)) throw new BadRequest(`ctx.${path.slice(0, 40)}: key must be non-empty dot-separated names`);
  const values: unknown[] = [value];
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value))) values.push(Number(value));
  else if (value === 'true' || value === 'false') values.push(value === 'true');
  else if (value === 'null') values.push(null);
  return values.map((v) => JSON.stringify(keys.reduceRight<unknown>((inner, k) => ({ [k]: inner }), v)));
}

export function parseLogQuery(query: URLSearchParams): LogQuery {
  rejectUnknown(query, ['q', 'level', 'app', 'vps', 'from', 'to', 'cursor', 'limit'], [CTX_PREFIX]);
  const q = query.get('q')?.trim() || null;
  if (q && q.length > 1000) throw new BadRequest('q must be at most 1000 characters');
  const levels = (query.get('level') ?? '').split(',').map((l) => l.trim().toUpperCase()).filter(Boolean);
  for (const l of levels) if (!/^[A-Z]{1,16}$/.test(l)) throw new BadRequest('level must be a comma-separated list of level names (e.g. ERROR,WARN)');
  const from = query.get('from') ? parseTime(query.get('from')!, 'from') : null;
  const to = query.get('to') ? parseTime(query.get('to')!, 'to') : null;
  if (from && to && from.getTime() >= to.getTime()) throw new BadRequest('from must be earlier than to');
  const context: LogQuery['context'] = [];
  for (const [key, value] of query) {
    if (!key.startsWith(CTX_PREFIX)) continue;
    if (context.length >= 8) throw new BadRequest('at most 8 ctx.<key> filters');
    if (value.length > 1000) throw new BadRequest(`${key.slice(0, 40)} value must be at most 1000 characters`);
    const path = key.slice(CTX_PREFIX.length);
    context.push({ key: path, value, alternatives: contextAlternatives(path, value) });
  }
  const cursorRaw = query.get('cursor');
  return {
    q, levels, from, to, context,
    app: optionalName(query, 'app'),
    vps: optionalName(query, 'vps'),
    cursor: cursorRaw ? decodeCursor(cursorRaw) : null,
    limit: intParam(query, 'limit', 1, 500, 50)!,
  };
}

/** Builds parameterised conditions: SQL text comes only from the fixed templates below. */
class Conditions {
  readonly params: unknown[] = [];
  readonly ordered: string[] = []; // served by the newest-first btree walk (app, time bounds, cursor)
  readonly tested: string[] = [];  // tested per line during a walk (everything else)
  p(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
  all(): string {
    const c = [...this.ordered, ...this.tested];
    return c.length ? c.join(' AND ') : 'true';
  }
}

function buildConditions(q: LogQuery, before: { ts: string; id: string } | null): Conditions {
  const c = new Conditions();
  if (q.app !== null) c.ordered.push(`app_name = ${c.p(q.app)}`);
  if (q.from) c.ordered.push(`timestamp >= ${c.p(q.from)}`);
  if (q.to) c.ordered.push(`timestamp < ${c.p(q.to)}`);
  if (before) c.ordered.push(`(timestamp, id) < (${c.p(before.ts)}::timestamptz, ${c.p(before.id)}::bigint)`);
  if (q.vps !== null) c.tested.push(`vps_name = ${c.p(q.vps)}`);
  if (q.levels.length) c.tested.push(`level = ANY(${c.p(q.levels)}::text[])`);
  for (const f of q.context) c.tested.push('(' + f.alternatives.map((a) => `context @> ${c.p(a)}::jsonb`).join(' OR ') + ')');
  if (q.q) c.tested.push(`search @@ websearch_to_tsquery('english', ${c.p(q.q)})`);
  return c;
}

const COLUMNS = `id, to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, vps_name, app_name, level, logger,
  message, context, exception, flags, source_file, raw`;

interface LogRow {
  id: string; ts: string; vps_name: string; app_name: string; level: string; logger: string | null; message: string;
  context: Record<string, unknown> | null; exception: Record<string, unknown> | null; flags: string[] | null; source_file: string | null; raw: string | null;
}

const toEntry = (r: LogRow): LogEntry => ({
  id: r.id, timestamp: r.ts, vps: r.vps_name, app: r.app_name, level: r.level, logger: r.logger, message: r.message,
  context: r.context, exception: r.exception, flags: r.flags, sourceFile: r.source_file, raw: r.raw,
});

async function estimateRows(client: PgClient, where: string, params: unknown[]): Promise<number> {
  const r = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM log_entries WHERE ${where}`, params);
  return r.rows[0]!['QUERY PLAN'][0].Plan['Plan Rows'];
}

/** Every match below `extra` bounds, newest first, from the indexes that collect matches (GIN, level btree); no ordered walk. */
async function bitmapSearch(client: PgClient, q: LogQuery, before: { ts: string; id: string } | null, want: number, slice?: { lo: Date | null; hi: Date | null }): Promise<LogRow[]> {
  const c = buildConditions(q, before);
  if (slice?.lo) c.ordered.push(`timestamp >= ${c.p(slice.lo)}`);
  if (slice?.hi) c.ordered.push(`timestamp < ${c.p(slice.hi)}`);
  // Inside the caller's transaction; a failed query aborts it, so the reset is only needed on success.
  await client.query('SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off');
  const r = await client.query<LogRow>(
    `SELECT ${COLUMNS} FROM log_entries WHERE ${c.all()} ORDER BY timestamp DESC, id DESC LIMIT ${c.p(want)}`, c.params);
  await client.query('SET LOCAL enable_indexscan = DEFAULT; SET LOCAL enable_indexonlyscan = DEFAULT');
  return r.rows;
}

const isoMicro = (d: Date) => d.toISOString().replace(/Z$/, '000Z');

/**
 * The bitmap search over time slices, newest first, within a time budget. Returns the matches and,
 * when the budget ran out first, the slice boundary it stopped at.
 */
async function slicedBitmap(client: PgClient, q: LogQuery, before: { ts: string; id: string } | null, want: number,
  estimatedMatches: number, deadline: number, tuning: LogSearchTuning): Promise<{ rows: LogRow[]; stoppedAt: Date | null; slices: number }> {
  const c = buildConditions({ ...q, q: null, levels: [], context: [], vps: null }, before); // the btree-served bounds only
  const span = await client.query<{ lo: Date | null; hi: Date | null }>(`SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM log_entries WHERE ${c.all()}`, c.params);
  const { lo: oldest, hi: newest } = span.rows[0]!;
  if (!oldest || !newest) return { rows: [], stoppedAt: null, slices: 0 };
  const spanMs = Math.max(1, newest.getTime() - oldest.getTime());
  // First slice: long enough to hold ~2 pages at the estimated rate (the whole span when matches are few).
  let sliceMs = tuning.initialSliceMs ?? Math.max(60_000, (2 * want * spanMs) / Math.max(1, estimatedMatches));
  let hi: Date | null = null;
  const rows: LogRow[] = [];
  let slices = 0;
  for (;;) {
    const top: number = hi ? hi.getTime() : newest.getTime() + 1;
    const lo: Date | null = top - sliceMs <= oldest.getTime() ? null : new Date(top - sliceMs);
    const started = performance.now();
    const found = await bitmapSearch(client, q, before, want - rows.length, { lo, hi });
    rows.push(...found);
    slices++;
    if (rows.length >= want || lo === null) return { rows, stoppedAt: null, slices };
    if (performance.now() >= deadline) return { rows, stoppedAt: lo, slices };
    // Cheap slices grow (a rare term covers the span in a few steps); an expensive one stays put.
    if (performance.now() - started < tuning.budgetMs / 8) sliceMs *= found.length ? 4 : 16;
    hi = lo;
  }
}

/**
 * Newest-first walk over at most `walkLimit` lines (those passing the ordered conditions), testing the
 * rest per line. Returns the matches and, when the walk read all `walkLimit` lines, the key of the
 * last line read (so a follow-up can continue strictly below it).
 */
async function boundedWalk(client: PgClient, q: LogQuery, before: { ts: string; id: string } | null, want: number, walkLimit: number):
  Promise<{ rows: LogRow[]; stoppedAt: { ts: string; id: string } | null }> {
  const c = buildConditions(q, before);
  const ordered = c.ordered.length ? c.ordered.join(' AND ') : 'true';
  const tested = c.tested.length ? c.tested.join(' AND ') : 'true';
  const k = c.p(walkLimit);
  await client.query('SET LOCAL enable_bitmapscan = off');
  const r = await client.query<LogRow & { hit: boolean; rn: string }>(
    `SELECT * FROM (
       SELECT ${COLUMNS}, timestamp AS sort_ts, id AS sort_id, (${tested}) AS hit,
              row_number() OVER (ORDER BY timestamp DESC, id DESC) AS rn
         FROM log_entries WHERE ${ordered}
        ORDER BY timestamp DESC, id DESC LIMIT ${k}) s
      WHERE s.hit OR s.rn = ${k}
      ORDER BY s.sort_ts DESC, s.sort_id DESC LIMIT ${c.p(want + 1)}`, c.params);
  const rows = r.rows.filter((row) => row.hit).slice(0, want);
  const last = r.rows[r.rows.length - 1];
  const stoppedAt = rows.length < want && last && Number(last.rn) === walkLimit ? { ts: last.ts, id: last.id } : null;
  await client.query('SET LOCAL enable_bitmapscan = DEFAULT');
  return { rows, stoppedAt };
}

export async function searchLogs(pool: PgPool, q: LogQuery, tuning: LogSearchTuning = DEFAULT_TUNING): Promise<LogSearchResult> {
  const started = performance.now();
  const client = await pool.connect();
  try {
    let tsquery: string | null = null;
    if (q.q) {
      const t = await client.query<{ n: number; tsq: string }>(
        `SELECT numnode(websearch_to_tsquery('english', $1)) AS n, websearch_to_tsquery('english', $1)::text AS tsq`, [q.q]);
      if (!t.rows[0]!.n) throw new BadRequest('q has no searchable words (only stop words or punctuation); add a more specific word');
      tsquery = t.rows[0]!.tsq;
    }
    const all = buildConditions(q, q.cursor);
    const base = buildConditions({ ...q, q: null, levels: [], context: [], vps: null }, q.cursor);
    const estimatedMatches = await estimateRows(client, all.all(), all.params);
    const estimatedRows = all.tested.length ? await estimateRows(client, base.all(), base.params) : estimatedMatches;
    const want = q.limit + 1; // one extra tells whether there is a next page
    let strategy: LogSearchResult['plan']['strategy'];
    let walkLimit: number | null = null;
    let rows: LogRow[];
    let stoppedAt: Date | null = null;
    let slices = 0;
    const deadline = started + tuning.budgetMs;
    await client.query('BEGIN READ ONLY');
    try {
      let from = q.cursor;
      // The bitmap's cost grows with the matches M, the walk's with the lines read until `want` match,
      // want·N/M: they cross near M = √(want·N). Capped, since an estimate can be off.
      const bitmapLimit = Math.min(tuning.bitmapMaxMatches, Math.max(tuning.bitmapMinMatches, Math.sqrt(want * estimatedRows)));
      if (estimatedMatches <= bitmapLimit) {
        strategy = 'bitmap';
        rows = [];
      } else {
        // Expected lines read until `want` match, times 4 for slack against a skewed distribution.
        const rate = Math.max(estimatedMatches / Math.max(estimatedRows, 1), 1e-9);
        walkLimit = Math.round(Math.min(tuning.walkMaxRows, Math.max(tuning.walkMinRows, (4 * want) / rate)));
        const walk = await boundedWalk(client, q, q.cursor, want, walkLimit);
        rows = walk.rows;
        strategy = 'walk';
        from = walk.stoppedAt;
        if (walk.stoppedAt) strategy = 'walk+bitmap';
      }
      if (strategy !== 'walk') {
        const sliced = await slicedBitmap(client, q, from, want - rows.length, estimatedMatches, deadline, tuning);
        rows = rows.concat(sliced.rows);
        stoppedAt = sliced.stoppedAt;
        slices = sliced.slices;
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const partial = !more && stoppedAt !== null;
    return {
      entries: page.map(toEntry),
      // A partial page continues strictly below the slice boundary (ids start at 1).
      nextCursor: more && last ? encodeCursor(last.ts, last.id) : partial ? encodeCursor(isoMicro(stoppedAt!), '0') : null,
      partial,
      searchedBackTo: partial ? stoppedAt!.toISOString() : null,
      plan: { strategy, estimatedRows, estimatedMatches, walkLimit, slices, tsquery },
    };
  } finally {
    client.release();
  }
}

/** Live tail: one agent's lines committed after `afterId`, oldest first. */
export async function logsAfter(pool: PgPool, vps: string, app: string, afterId: string, limit: number): Promise<LogEntry[]> {
  const r = await pool.query<LogRow>(
    `SELECT ${COLUMNS} FROM log_entries WHERE vps_name = $1 AND app_name = $2 AND id > $3::bigint ORDER BY id LIMIT $4`,
    [vps, app, afterId, limit]);
  return r.rows.map(toEntry);
}
