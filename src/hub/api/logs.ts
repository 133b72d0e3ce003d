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
//
// Why every statement has its own time bound: the estimate can be wrong by orders of magnitude (a phrase
// of common words: the planner multiplies the words' frequencies, but every line holding all of them
// must be rechecked, since the GIN index has no positions). So each walk and each slice runs under a
// savepoint with SET LOCAL statement_timeout; one that is cut is rolled back to its savepoint, and the
// slice is shrunk and retried while the request's budget lasts, read line by line through the time
// btree (through GIN, a short slice costs as much as the whole range: every candidate is rechecked
// before the time bounds are applied, since the planner trusts its estimate of few matches). A request
// therefore costs at most emptyPageBudgetMs + statementTimeoutMs of database time, whatever the query,
// and a partial page's cursor carries the slice length that was cheap enough, so the next request
// makes progress too.
// The query itself is bounded (characters, words, phrase length) before it reaches PostgreSQL.
import type { PgPool, PgClient } from '../../db/pg.js';
import { BadRequest, intParam, optionalName, parseTime, rejectUnknown } from './params.js';
import type { LogEntry, LogSearchResult } from './types.js';
import { normalizeLevel, type CanonicalLevel } from '../../workers/tailer/parse.js';

/** Thresholds of the plan choice (tests change them to exercise every path on small data). */
export interface LogSearchTuning {
  /** Below this many estimated matches, straight to the bitmap, no walk… */
  bitmapMinMatches: number;
  /** …above this many, walk first. In between, the cheaper by the estimate. */
  bitmapMaxMatches: number;
  /** Bounds of the newest-first walk, in lines read. */
  walkMinRows: number;
  walkMaxRows: number;
  /** Time budget of the sliced bitmap search: past it, no new slice once the page holds a line… */
  budgetMs: number;
  /** …and past this one, none at all: a partial page (possibly empty) and a cursor to continue. */
  emptyPageBudgetMs: number;
  /** Bound of each walk and slice statement (SET LOCAL statement_timeout); a slice cut by it shrinks. */
  statementTimeoutMs: number;
  /** First slice length; by default the whole range when matches are surely few, else from the estimated match rate. */
  initialSliceMs?: number;
}

export const DEFAULT_TUNING: Readonly<LogSearchTuning> = Object.freeze({
  bitmapMinMatches: 1_000, bitmapMaxMatches: 30_000, walkMinRows: 2_000, walkMaxRows: 10_000,
  budgetMs: 40, emptyPageBudgetMs: 300, statementTimeoutMs: 200,
});

/** Bounds of `q`: what one search may ask of PostgreSQL (docs/hub.md, "Log search"). */
export const QUERY_LIMITS = Object.freeze({ chars: 512, words: 16, phraseWords: 8, tsqueryNodes: 64, ctxFilters: 8, ctxDepth: 8, ctxValueChars: 1000 });

export interface LogQuery {
  q: string | null;
  levels: string[];
  app: string | null;
  vps: string | null;
  from: Date | null;
  to: Date | null;
  /** JSONB containment alternatives per ctx filter: each filter matches if any alternative is contained. */
  context: { key: string; value: string; alternatives: string[] }[];
  cursor: LogCursor | null;
  limit: number;
}

/** A position in the newest-first order; `sliceMs`, on a partial page's cursor, is the slice length to resume with. */
export interface LogCursor { ts: string; id: string; sliceMs?: number }

const CTX_PREFIX = 'ctx.';
const CONTROL = /[\u0000-\u001f\u007f]/;

export function encodeCursor(ts: string, id: string, sliceMs?: number): string {
  return Buffer.from(JSON.stringify(sliceMs === undefined ? [ts, id] : [ts, id, sliceMs])).toString('base64url');
}

const BIGINT_MAX = 9223372036854775807n;
const MAX_SLICE_MS = 400 * 86_400_000;
const CURSOR_TS = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{6}Z$/;

/** A real UTC instant in PostgreSQL's range, written as encodeCursor writes it (not merely shaped like one). */
function isCursorTime(ts: string): boolean {
  const m = CURSOR_TS.exec(ts);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return y >= 1 && t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s;
}

export function decodeCursor(cursor: string): LogCursor {
  const invalid = () => new BadRequest('cursor is not valid (pass back nextCursor from the previous page unchanged)');
  if (cursor.length > 200) throw invalid();
  let parsed: unknown;
  try { parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')); } catch { parsed = null; }
  if (!Array.isArray(parsed) || (parsed.length !== 2 && parsed.length !== 3) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string' ||
      !isCursorTime(parsed[0]) || !/^\d{1,19}$/.test(parsed[1]) || BigInt(parsed[1]) > BIGINT_MAX) throw invalid();
  const sliceMs: unknown = parsed[2];
  if (sliceMs !== undefined && !(typeof sliceMs === 'number' && Number.isInteger(sliceMs) && sliceMs >= 1 && sliceMs <= MAX_SLICE_MS)) throw invalid();
  return sliceMs === undefined ? { ts: parsed[0], id: parsed[1] } : { ts: parsed[0], id: parsed[1], sliceMs };
}

/** ctx.user.id=42 → {"user":{"id":42}} and {"user":{"id":"42"}}: the value may have been logged as either. */
export function contextAlternatives(path: string, value: string): string[] {
  // Bounded before splitting: a 5,000-level path would nest JSON deeper than PostgreSQL's stack allows.
  if (path.length > 8 * 129 || path.split('.', QUERY_LIMITS.ctxDepth + 1).length > QUERY_LIMITS.ctxDepth) {
    throw new BadRequest(`ctx.${path.slice(0, 40)}…: a context key may have at most ${QUERY_LIMITS.ctxDepth} dot-separated levels of at most 128 characters`);
  }
  const keys = path.split('.');
  if (!keys.length || keys.some((k) => k === '' || k.length > 128 || CONTROL.test(k))) throw new BadRequest(`ctx.${path.slice(0, 40)}: key must be non-empty dot-separated names of at most 128 printable characters`);
  const values: unknown[] = [value];
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value))) values.push(Number(value));
  else if (value === 'true' || value === 'false') values.push(value === 'true');
  else if (value === 'null') values.push(null);
  return values.map((v) => JSON.stringify(keys.reduceRight<unknown>((inner, k) => ({ [k]: inner }), v)));
}

const KNOWN_LEVELS: readonly CanonicalLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/**
 * q bounded before PostgreSQL sees it: characters, words, and words per quoted phrase (a phrase of
 * common words costs a recheck of every line holding them all, each check ∝ the phrase's length).
 */
export function checkQueryText(q: string): void {
  const { chars, words, phraseWords } = QUERY_LIMITS;
  if (q.length > chars) throw new BadRequest(`q must be at most ${chars} characters (got ${q.length}): search for a few distinctive words`);
  if (CONTROL.test(q)) throw new BadRequest('q must not contain control characters');
  const wordsOf = (s: string) => s.split(/[^\p{L}\p{N}_]+/u).filter((w) => w && w.toLowerCase() !== 'or');
  const total = wordsOf(q).length;
  if (total > words) throw new BadRequest(`q may hold at most ${words} words (got ${total}): search for a few distinctive words`);
  for (const m of q.matchAll(/"([^"]*)"?/g)) {
    const n = wordsOf(m[1]!).length;
    if (n > phraseWords) throw new BadRequest(`q: a quoted phrase may hold at most ${phraseWords} words (got ${n}): quote a shorter, more distinctive part`);
  }
}

export function parseLevels(raw: string | null): string[] {
  const out = new Set<string>();
  for (const given of (raw ?? '').split(',').map((l) => l.trim()).filter(Boolean)) {
    const level = given.length <= 16 && /^[A-Za-z]+$/.test(given) ? normalizeLevel(given) : null;
    if (!level) throw new BadRequest(`level: unknown level ${JSON.stringify(given.slice(0, 20))} (known: ${KNOWN_LEVELS.join(', ')}; a comma-separated list)`);
    out.add(level);
  }
  return [...out];
}

export function parseLogQuery(query: URLSearchParams): LogQuery {
  rejectUnknown(query, ['q', 'level', 'app', 'vps', 'from', 'to', 'cursor', 'limit'], [CTX_PREFIX]);
  for (const key of ['q', 'level', 'app', 'vps', 'from', 'to', 'cursor', 'limit']) {
    if (query.getAll(key).length > 1) throw new BadRequest(`${key} may be given only once`);
  }
  const q = query.get('q')?.trim() || null;
  if (q) checkQueryText(q);
  const levels = parseLevels(query.get('level'));
  const from = query.get('from') ? parseTime(query.get('from')!, 'from') : null;
  const to = query.get('to') ? parseTime(query.get('to')!, 'to') : null;
  if (from && to && from.getTime() >= to.getTime()) throw new BadRequest('from must be earlier than to');
  const context: LogQuery['context'] = [];
  for (const [key, value] of query) {
    if (!key.startsWith(CTX_PREFIX)) continue;
    if (context.length >= QUERY_LIMITS.ctxFilters) throw new BadRequest(`at most ${QUERY_LIMITS.ctxFilters} ctx.<key> filters`);
    if (value.length > QUERY_LIMITS.ctxValueChars || CONTROL.test(value)) throw new BadRequest(`${key.slice(0, 40)} value must be at most ${QUERY_LIMITS.ctxValueChars} printable characters`);
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

/**
 * Every match in the time slice, newest first, from the indexes that collect matches (GIN, level
 * btree); no ordered walk. `lineByLine` reads the slice through the time btree instead and tests each
 * line: its cost follows the lines in the slice, where the GIN route costs every candidate's recheck
 * over the whole range, however short the slice (the planner, trusting its estimate, filters the
 * time bounds after the recheck).
 */
async function bitmapSearch(client: PgClient, q: LogQuery, before: { ts: string; id: string } | null, want: number,
  slice: { lo: Date; hi: Date }, lineByLine: boolean): Promise<LogRow[]> {
  const c = buildConditions(q, before);
  c.ordered.push(`timestamp >= ${c.p(slice.lo)}`, `timestamp < ${c.p(slice.hi)}`);
  // GIN has no plain index scan, so with bitmaps off the time btree drives the line-by-line read.
  const settings = lineByLine ? ['enable_bitmapscan'] : ['enable_indexscan', 'enable_indexonlyscan'];
  // Inside the caller's transaction; a failed query aborts it, so the reset is only needed on success.
  await client.query(settings.map((name) => `SET LOCAL ${name} = off`).join('; '));
  const r = await client.query<LogRow>(
    `SELECT ${COLUMNS} FROM log_entries WHERE ${c.all()} ORDER BY timestamp DESC, id DESC LIMIT ${c.p(want)}`, c.params);
  await client.query(settings.map((name) => `SET LOCAL ${name} = DEFAULT`).join('; '));
  return r.rows;
}

const isoMicro = (d: Date) => d.toISOString().replace(/Z$/, '000Z');
const QUERY_CANCELED = '57014';

/** The request's clock: when to stop starting slices, and how long the next statement may run. */
class Budget {
  private readonly started = performance.now();
  constructor(private readonly tuning: LogSearchTuning) {}
  elapsed(): number { return performance.now() - this.started; }
  /** No new slice: the page has a line and the budget is spent, or the empty-page budget is spent. */
  spent(found: number): boolean { return this.elapsed() >= (found > 0 ? this.tuning.budgetMs : this.tuning.emptyPageBudgetMs); }
  /** The bound of the next statement: its own limit, within what is left of the request's. */
  statementMs(): number {
    const hardEnd = this.tuning.emptyPageBudgetMs + this.tuning.statementTimeoutMs;
    return Math.max(0, Math.min(this.tuning.statementTimeoutMs, hardEnd - this.elapsed()));
  }
}

/**
 * Runs `work` under a savepoint with its own statement_timeout. Returns null when PostgreSQL cut it
 * for time (the savepoint is rolled back, the transaction goes on); other errors propagate.
 */
async function withinTime<T>(client: PgClient, timeoutMs: number, outerTimeoutMs: number, work: () => Promise<T>): Promise<T | null> {
  if (timeoutMs < 1) return null;
  await client.query(`SAVEPOINT bounded; SET LOCAL statement_timeout = ${Math.ceil(timeoutMs)}`);
  try {
    const result = await work();
    await client.query(`RELEASE SAVEPOINT bounded; SET LOCAL statement_timeout = ${Math.ceil(outerTimeoutMs)}`);
    return result;
  } catch (err) {
    if ((err as { code?: string }).code !== QUERY_CANCELED) throw err;
    await client.query('ROLLBACK TO SAVEPOINT bounded');
    return null;
  }
}

interface SliceOutcome { rows: LogRow[]; stoppedAt: Date | null; nextSliceMs: number | null; slices: number; cut: number }

/**
 * The bitmap search over time slices, newest first, within the request's budget. Returns the matches
 * and, when the budget ran out first, the slice boundary it stopped at and the slice length to go on with.
 */
async function slicedBitmap(client: PgClient, q: LogQuery, before: LogCursor | null, want: number,
  estimatedMatches: number, budget: Budget, tuning: LogSearchTuning, outerTimeoutMs: number): Promise<SliceOutcome> {
  const c = buildConditions({ ...q, q: null, levels: [], context: [], vps: null }, before); // the btree-served bounds only
  const span = await client.query<{ lo: Date | null; hi: Date | null }>(`SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM log_entries WHERE ${c.all()}`, c.params);
  const { lo: oldest, hi: newest } = span.rows[0]!;
  const out: SliceOutcome = { rows: [], stoppedAt: null, nextSliceMs: null, slices: 0, cut: 0 };
  if (!oldest || !newest) return out;
  const spanMs = Math.max(1, newest.getTime() - oldest.getTime());
  // First slice: what the previous page found cheap enough; else the whole range when matches are
  // surely few (a term that occurs once is found by one statement); else ~2 pages at the estimated rate.
  let sliceMs = before?.sliceMs ?? tuning.initialSliceMs ??
    (estimatedMatches <= tuning.bitmapMinMatches ? spanMs + 1 : Math.max(60_000, (2 * want * spanMs) / Math.max(1, estimatedMatches)));
  let hi: Date | null = null;
  // After the first cut, slices are read line by line: shrinking them then shrinks their cost.
  let lineByLine = false;
  // Bounded: slices at least double while cheap, and every cut divides by 8 down to 1 ms.
  for (let round = 0; round < 1_000; round++) {
    const top: number = hi ? hi.getTime() : newest.getTime() + 1;
    // Both bounds always given, the last slice's at the oldest line: with only the cursor's row
    // comparison to go by, the planner reads the whole table line by line.
    const last = top - sliceMs <= oldest.getTime();
    const lo = last ? oldest : new Date(top - sliceMs);
    if (budget.statementMs() < 1) return { ...out, stoppedAt: new Date(top), nextSliceMs: Math.round(sliceMs) }; // no time left to run one
    const started = performance.now();
    const found = await withinTime(client, budget.statementMs(), outerTimeoutMs, () => bitmapSearch(client, q, before, want - out.rows.length, { lo, hi: new Date(top) }, lineByLine));
    out.slices++;
    if (found === null) {
      // Too many lines to recheck in this slice: a shorter one, from the same place, read line by line.
      out.cut++;
      sliceMs = Math.max(1, Math.floor(Math.min(sliceMs, top - oldest.getTime()) / 8));
      lineByLine = true;
      if (budget.spent(out.rows.length)) return { ...out, stoppedAt: new Date(top), nextSliceMs: sliceMs };
      continue;
    }
    out.rows.push(...found);
    if (out.rows.length >= want || last) return out;
    // Cheap slices grow (a rare term covers the span in a few steps); an expensive one stays put.
    const tookMs = performance.now() - started;
    if (tookMs < tuning.budgetMs / 8) sliceMs *= found.length ? 4 : 16;
    else if (tookMs < tuning.statementTimeoutMs / 4) sliceMs *= 2;
    hi = lo;
    if (budget.spent(out.rows.length)) return { ...out, stoppedAt: lo, nextSliceMs: Math.round(sliceMs) };
  }
  return { ...out, stoppedAt: new Date(hi ? hi.getTime() : newest.getTime() + 1), nextSliceMs: Math.round(sliceMs) };
}

/**
 * Newest-first walk over at most `walkLimit` lines (those passing the ordered conditions), testing the
 * rest per line. Returns the matches and, when the walk read all `walkLimit` lines, the key of the
 * last line read (so a follow-up can continue strictly below it).
 */
async function boundedWalk(client: PgClient, q: LogQuery, before: LogCursor | null, want: number, walkLimit: number):
  Promise<{ rows: LogRow[]; stoppedAt: LogCursor | null }> {
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

/**
 * One page of log search. Works with any pool: it holds one connection for at most about
 * emptyPageBudgetMs + statementTimeoutMs, inside one read-only transaction.
 */
export async function searchLogs(pool: PgPool, q: LogQuery, tuning: LogSearchTuning = DEFAULT_TUNING): Promise<LogSearchResult> {
  const budget = new Budget(tuning);
  const client = await pool.connect();
  try {
    // The estimates and the span are quick, but bounded too: the whole request's worth.
    const outerTimeoutMs = Math.ceil(tuning.emptyPageBudgetMs + tuning.statementTimeoutMs);
    await client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${outerTimeoutMs}`);
    try {
      let tsquery: string | null = null;
      if (q.q) {
        const t = await client.query<{ n: number; tsq: string }>(
          `SELECT numnode(websearch_to_tsquery('english', $1)) AS n, websearch_to_tsquery('english', $1)::text AS tsq`, [q.q]);
        if (!t.rows[0]!.n) throw new BadRequest('q has no searchable words (only stop words or punctuation); add a more specific word');
        if (t.rows[0]!.n > QUERY_LIMITS.tsqueryNodes) throw new BadRequest(`q is too complex (${t.rows[0]!.n} search terms and operators, at most ${QUERY_LIMITS.tsqueryNodes}): search for fewer words`);
        tsquery = t.rows[0]!.tsq;
      }
      const all = buildConditions(q, q.cursor);
      const base = buildConditions({ ...q, q: null, levels: [], context: [], vps: null }, q.cursor);
      const estimatedMatches = await estimateRows(client, all.all(), all.params);
      const estimatedRows = all.tested.length ? await estimateRows(client, base.all(), base.params) : estimatedMatches;
      const want = q.limit + 1; // one extra tells whether there is a next page
      let strategy: LogSearchResult['plan']['strategy'];
      let walkLimit: number | null = null;
      let rows: LogRow[] = [];
      let sliced: SliceOutcome | null = null;
      let cutStatements = 0;
      let from = q.cursor;
      // The bitmap's cost grows with the matches M, the walk's with the lines read until `want` match,
      // want·N/M: they cross near M = √(want·N). Capped, since an estimate can be off.
      const bitmapLimit = Math.min(tuning.bitmapMaxMatches, Math.max(tuning.bitmapMinMatches, Math.sqrt(want * estimatedRows)));
      if (estimatedMatches <= bitmapLimit) {
        strategy = 'bitmap';
      } else {
        // Expected lines read until `want` match, times 4 for slack against a skewed distribution.
        const rate = Math.max(estimatedMatches / Math.max(estimatedRows, 1), 1e-9);
        walkLimit = Math.round(Math.min(tuning.walkMaxRows, Math.max(tuning.walkMinRows, (4 * want) / rate)));
        const walk = await withinTime(client, budget.statementMs(), outerTimeoutMs, () => boundedWalk(client, q, q.cursor, want, walkLimit!));
        strategy = 'walk';
        if (walk === null) {
          cutStatements++; // each line costs more to test than the estimate said: collect from the index instead
          strategy = 'walk+bitmap';
        } else {
          rows = walk.rows;
          from = walk.stoppedAt;
          if (walk.stoppedAt) strategy = 'walk+bitmap';
        }
      }
      if (strategy !== 'walk') {
        sliced = await slicedBitmap(client, q, from, want - rows.length, estimatedMatches, budget, tuning, outerTimeoutMs);
        rows = rows.concat(sliced.rows);
        cutStatements += sliced.cut;
      }
      await client.query('COMMIT');
      const more = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const stoppedAt = sliced?.stoppedAt ?? null;
      const partial = !more && stoppedAt !== null;
      return {
        entries: page.map(toEntry),
        // A partial page continues strictly below the slice boundary (ids start at 1).
        nextCursor: more && last ? encodeCursor(last.ts, last.id) : partial ? encodeCursor(isoMicro(stoppedAt!), '0', sliced!.nextSliceMs === null ? undefined : Math.min(MAX_SLICE_MS, Math.max(1, Math.round(sliced!.nextSliceMs)))) : null,
        partial,
        searchedBackTo: partial ? stoppedAt!.toISOString() : null,
        plan: { strategy, estimatedRows, estimatedMatches, walkLimit, slices: sliced?.slices ?? 0, cutStatements, elapsedMs: Math.round(budget.elapsed()), tsquery },
      };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
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
