// Log search latency per query class on a large log_entries table, ours (src/hub/api/logs.ts) beside
// the baseline (the one-statement query, planner's choice: search @@ q ORDER BY timestamp DESC LIMIT 51).
//
//   node dist/bench/log-search.js [--rows 10000000] [--days 10] [--runs 20] [--baseline-runs 3] [--dir DIR]
//
// Loads `rows` synthetic lines by COPY into a fresh embedded PostgreSQL (all of the schema's indexes:
// the stored tsvector's GIN, timestamp, app, level, context GIN, live-tail), spread over `days` daily
// partitions in time order as agents would write them, ANALYZEs, then times each query class.
// --dir keeps the database between runs (a second run with the same --rows skips the load).
// Prints one JSON object: load rate, then p50/p95 (ms) per class for ours and for the baseline, the
// context- and logger-only words, terms that occur once (found by the first request?), the costliest
// phrase the query limits allow, issue 16's 991-character phrase (must be a 400), and 12 of the
// costliest phrase at once on the 2-connection pool.
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { connect, loadPg } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { encodeCopyRow } from '../src/workers/writer/copy-encode.js';
import { parseLogQuery, searchLogs } from '../src/hub/api/logs.js';
import type { LogSearchResult } from '../src/hub/api/types.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    days: { type: 'string', default: '10' },
    runs: { type: 'string', default: '20' },
    'baseline-runs': { type: 'string', default: '3' },
    dir: { type: 'string' },
    'load-only': { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const DAYS = Number(args.days);
const RUNS = Number(args.runs);
const BASELINE_RUNS = Number(args['baseline-runs']);
/** Bumped whenever the synthetic data changes, so that --dir does not reuse a stale load. */
const GENERATOR = 2;
const say = (m: string) => process.stderr.write(`[log-search] ${m}\n`);

// ---- synthetic logs: deterministic (seeded), Zipf-ish vocabulary, a few planted rare tokens ----
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
const WORDS = Array.from({ length: 3000 }, (_, i) => 'w' + i.toString(36) + ['alpha', 'beta', 'gamma', 'delta', 'omega'][i % 5]);
const zipfWord = () => WORDS[Math.floor(WORDS.length * rnd() ** 3)]!;
/** Planted tokens: each appears in RARE_COUNT lines' messages at random positions. */
const RARE = ['zebracorn', 'quokkafire', 'mangosteenx', 'vorpalblade', 'snarkhunt'];
const RARE_COUNT = 20;
/** Tokens that occur exactly once: in a message, or only in a context value (`order_ref`). */
const ONCE_MESSAGE = ['order123457', 'jabberwockq', 'frumiousbx'];
const ONCE_CONTEXT = ['ordzq9x7k', 'tumtumtree', 'borogovemx'];
const LOGGERS = ['shop.http', 'shop.db', 'billing.worker', 'auth.session', 'mailer'];
/** context.action: "logout" is in ~2 % of lines, never in a message ("logged in" stems to "log"). */
const ACTIONS = ['view', 'view', 'view', 'click', 'search', 'purchase', 'login', 'view', 'click', 'view', 'view', 'click', 'search', 'view', 'view', 'view', 'view', 'click', 'view', 'view', 'view', 'search', 'click', 'view', 'view', 'view', 'view', 'view', 'view', 'click', 'view', 'view', 'view', 'view', 'search', 'view', 'click', 'view', 'view', 'view', 'view', 'view', 'view', 'click', 'view', 'view', 'view', 'view', 'search', 'logout'];
const TEMPLATES: (() => { level: string; message: string })[] = [
  () => ({ level: 'INFO', message: `request served GET /api/${zipfWord()}/${Math.floor(rnd() * 1e5)} 200 in ${Math.floor(rnd() * 300)} ms` }),
  () => ({ level: 'INFO', message: `user ${Math.floor(rnd() * 1e4)} logged in from ${zipfWord()}` }),
  () => ({ level: 'DEBUG', message: `cache ${pick(['hit', 'miss'])} for key ${zipfWord()}:${Math.floor(rnd() * 1e6)}` }),
  () => ({ level: 'INFO', message: `job ${zipfWord()} finished in ${Math.floor(rnd() * 9000)} ms` }),
  () => ({ level: 'WARN', message: `slow query on ${zipfWord()} took ${Math.floor(rnd() * 5000)} ms` }),
  () => ({ level: 'ERROR', message: `payment failed for order ${Math.floor(rnd() * 1e6)}: ${pick(['card declined', 'timeout talking to gateway', 'insufficient funds'])}` }),
  () => ({ level: 'ERROR', message: `upstream ${zipfWord()} error: connection refused` }),
];
const TEMPLATE_WEIGHTS = [0.45, 0.15, 0.12, 0.12, 0.08, 0.05, 0.03];

function makeRow(i: number, start: number, spanMs: number, planted: Map<number, { message?: string; context?: string }>): string {
  let r = rnd();
  let t = 0;
  while (t < TEMPLATES.length - 1 && r > TEMPLATE_WEIGHTS[t]!) { r -= TEMPLATE_WEIGHTS[t]!; t++; }
  let { level, message } = TEMPLATES[t]!();
  const plant = planted.get(i);
  if (plant?.message) message += ` ${plant.message}`;
  if (i % 1_000_003 === 17) level = 'FATAL';
  const app = `app-${Math.floor(rnd() ** 2 * 20)}`;
  const vps = `vps-${Math.floor(rnd() * 10)}`;
  const ts = new Date(start + Math.floor((i / ROWS) * spanMs));
  const context: Record<string, unknown> = { user_id: Math.floor(rnd() * 1e4), request_id: Math.floor(rnd() * 1e9).toString(36), action: pick(ACTIONS) };
  if (plant?.context) context.order_ref = plant.context;
  return encodeCopyRow([ts.toISOString(), vps, app, level, message, context, pick(LOGGERS), null, '/var/log/app.log', null, null]);
}

async function load(url: string): Promise<{ seconds: number; rowsPerSecond: number }> {
  const client = await connect(url, { queryTimeoutMs: 0, statementTimeoutMs: 0 });
  await migrate(client);
  await client.query('SELECT observ_ensure_partitions($1, 2)', [DAYS + 1]);
  const planted = new Map<number, { message?: string; context?: string }>();
  for (const token of RARE) for (let k = 0; k < RARE_COUNT; k++) planted.set(Math.floor(rnd() * ROWS), { message: token });
  for (const token of ONCE_MESSAGE) planted.set(Math.floor(rnd() * ROWS), { message: token });
  for (const token of ONCE_CONTEXT) planted.set(Math.floor(rnd() * ROWS), { context: token });
  const spanMs = DAYS * 86_400_000;
  const start = Date.now() - spanMs;
  const { from } = require('pg-copy-streams') as typeof import('pg-copy-streams');
  const t0 = performance.now();
  const CHUNK = 250_000;
  for (let base = 0; base < ROWS; base += CHUNK) {
    const end = Math.min(ROWS, base + CHUNK);
    function* rows() {
      let buf = '';
      for (let i = base; i < end; i++) {
        buf += makeRow(i, start, spanMs, planted);
        if (buf.length > 1 << 20) { yield buf; buf = ''; }
      }
      if (buf) yield buf;
    }
    await pipeline(Readable.from(rows()), client.query(from(`COPY log_entries (timestamp, vps_name, app_name, level, message, context, logger, exception, source_file, flags, raw) FROM STDIN`)));
    const s = (performance.now() - t0) / 1000;
    say(`${end.toLocaleString('en')} rows in ${s.toFixed(0)} s (${Math.round(end / s).toLocaleString('en')} rows/s)`);
  }
  const seconds = (performance.now() - t0) / 1000;
  // VACUUM flushes the GIN pending lists (fastupdate) that every search would otherwise scan linearly;
  // a live table has one of up to gin_pending_list_limit (4 MB) in its newest partition.
  say('VACUUM ANALYZE…');
  await client.query('VACUUM ANALYZE log_entries');
  await client.end();
  return { seconds: Math.round(seconds), rowsPerSecond: Math.round(ROWS / seconds) };
}

/** `rejected`: the hub must answer 400 (the query is beyond QUERY_LIMITS); `baselineRuns` overrides --baseline-runs. */
interface QueryClass { name: string; queries: string[]; rejected?: boolean; baselineRuns?: number }

const enc = encodeURIComponent;
/** Issue 16's attack: the pair 90 times in one quoted phrase (991 characters with the quotes). */
const LONG_PHRASE_ATTACK = '"' + Array(90).fill('user login').join(' ') + '"';
/** The costliest phrase the limits allow: 8 common words that share ~15 % of the lines, never in this order. */
const LONGEST_ALLOWED_PHRASE = '"' + Array(4).fill('logged user').join(' ') + '"';

const CLASSES: QueryClass[] = [
  { name: 'common', queries: ['q=request', 'q=served', 'q=user', 'q=payment', 'q=' + WORDS[0]] },
  { name: 'rare', queries: RARE.map((r) => `q=${r}`) },
  { name: 'phrase', queries: ['q=' + encodeURIComponent('"connection refused"'), 'q=' + encodeURIComponent('"card declined"'), 'q=' + encodeURIComponent('"insufficient funds"')] },
  { name: 'negation', queries: ['q=' + encodeURIComponent('payment -timeout'), 'q=' + encodeURIComponent('error -refused'), 'q=' + encodeURIComponent('-request')] },
  { name: 'noMatch', queries: ['q=xylophonequartz', 'q=nonexistentterm', 'q=' + encodeURIComponent('zebracorn payment')] },
  // Adversarial: both words are common, never in this order. Every line holding both must be rechecked
  // (the index has no positions), so this is bounded by the time budget and returns partial pages.
  { name: 'noMatchPhraseOfCommonWords', queries: ['q=' + encodeURIComponent('"refused connection"'), 'q=' + encodeURIComponent('"served request"')] },
  { name: 'contextWord', queries: ['q=logout', 'q=purchase', 'q=' + enc('logout -purchase')] },
  { name: 'loggerWord', queries: ['q=billing', 'q=mailer', 'q=' + enc('auth.session')] },
  // A term that occurs once in 10M lines: in a message, or only in a context value. Found by the first request?
  { name: 'onceInMessage', queries: ONCE_MESSAGE.map((t) => `q=${t}`) },
  { name: 'onceInContext', queries: ONCE_CONTEXT.map((t) => `q=${t}`) },
  { name: 'longestAllowedPhrase', queries: ['q=' + enc(LONGEST_ALLOWED_PHRASE), 'q=' + enc('"refused connection"')], baselineRuns: 1 },
  { name: 'longPhraseAttack', queries: ['q=' + enc(LONG_PHRASE_ATTACK)], rejected: true, baselineRuns: 1 },
  { name: 'filterOnly', queries: ['level=ERROR', 'app=app-3', 'level=WARN&app=app-7', 'level=FATAL', 'ctx.user_id=4242', 'vps=vps-3&level=ERROR'] },
  { name: 'textAndFilter', queries: ['q=refused&app=app-2', 'q=zebracorn&level=INFO', 'q=payment&vps=vps-1&level=ERROR'] },
];

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };
const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Issue 16's flood: 12 searches at once for the costliest allowed phrase on the same 2-connection pool,
 * and meanwhile a cheap query (as /api/fleet would be on a shared pool), timed from its submission.
 */
async function parallelAttack(pool: import('../src/db/pg.js').PgPool): Promise<Record<string, unknown>> {
  const q = () => parseLogQuery(new URLSearchParams('q=' + enc(LONGEST_ALLOWED_PHRASE)));
  const t0 = performance.now();
  let errors = 0;
  let partial = 0;
  const each: number[] = [];
  const searches = Array.from({ length: 12 }, async () => {
    const s0 = performance.now();
    try { if ((await searchLogs(pool, q())).partial) partial++; } catch { errors++; }
    each.push(performance.now() - s0);
  });
  await new Promise((r) => setTimeout(r, 50));
  const c0 = performance.now();
  await pool.query('SELECT count(*) FROM agent_checkpoints');
  const cheapQueryMs = performance.now() - c0;
  await Promise.all(searches);
  return { clients: 12, poolSize: 2, wallMs: Math.round(performance.now() - t0), maxRequestMs: Math.round(Math.max(...each)), errors, partialPages: partial,
    cheapQueryOnSamePoolMs: Math.round(cheapQueryMs) };
}

async function main(): Promise<void> {
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'observ-bench-logs-'));
  mkdirSync(dir, { recursive: true });
  const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '512MB', maintenance_work_mem: '256MB', max_wal_size: '8GB' } });
  await pg.start();
  try {
    const marker = join(dir, 'observ-bench-loaded.json');
    const admin = await connect(pg.urlFor('postgres'));
    const prior = existsSync(marker) ? JSON.parse(readFileSync(marker, 'utf8')) as { rows: number; days: number; generator?: number; load: { seconds: number; rowsPerSecond: number } } : null;
    let loadFigures: { seconds: number; rowsPerSecond: number };
    if (prior && prior.rows === ROWS && prior.days === DAYS && prior.generator === GENERATOR) {
      say(`reusing the ${ROWS.toLocaleString('en')} rows loaded before in ${dir}`);
      loadFigures = prior.load;
    } else {
      await admin.query('DROP DATABASE IF EXISTS bench_logs WITH (FORCE)');
      await admin.query('CREATE DATABASE bench_logs');
      say(`loading ${ROWS.toLocaleString('en')} rows over ${DAYS} days…`);
      loadFigures = await load(pg.urlFor('bench_logs'));
      writeFileSync(marker, JSON.stringify({ rows: ROWS, days: DAYS, generator: GENERATOR, load: loadFigures }));
    }
    await admin.end();
    if (args['load-only']) { say(`loaded; --load-only: no queries (${JSON.stringify(loadFigures)})`); return; }
    const url = pg.urlFor('bench_logs');
    const pool = new (loadPg().Pool)({ connectionString: url, max: 2, statement_timeout: 20_000 });
    pool.on('error', () => {});
    const size = await pool.query<{ mb: number }>(`SELECT (sum(pg_total_relation_size(c.oid)) / 1048576)::int AS mb FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'log_entries'::regclass`);

    const ours: Record<string, unknown> = {};
    const baseline: Record<string, unknown> = {};
    for (const cls of CLASSES) {
      if (cls.rejected) {
        let rejected = 0;
        for (const qs of cls.queries) {
          try { parseLogQuery(new URLSearchParams(qs)); } catch (err) { if ((err as { status?: string }).status?.startsWith('400')) rejected++; }
        }
        ours[cls.name] = { rejectedWith400: rejected, queries: cls.queries.length };
        say(`ours ${cls.name}: ${JSON.stringify(ours[cls.name])}`);
      } else {
        // Warm-up: one pass, untimed (first touch of a partition's index pages).
        for (const qs of cls.queries) await searchLogs(pool, parseLogQuery(new URLSearchParams(qs)));
        const times: number[] = [];
        const strategies: Record<string, number> = {};
        const found: number[] = [];
        let partial = 0;
        let cut = 0;
        for (let r = 0; r < RUNS; r++) {
          for (const qs of cls.queries) {
            const t0 = performance.now();
            const res: LogSearchResult = await searchLogs(pool, parseLogQuery(new URLSearchParams(qs)));
            times.push(performance.now() - t0);
            strategies[res.plan.strategy] = (strategies[res.plan.strategy] ?? 0) + 1;
            if (r === 0) found.push(res.entries.length);
            if (res.partial) partial++;
            cut += res.plan.cutStatements;
          }
      }
      ours[cls.name] = { p50: round(pct(times, 50)), p95: round(pct(times, 95)), max: round(Math.max(...times)), queries: times.length, strategies, partialPages: partial, cutStatements: cut, resultsPerQuery: found };
      say(`ours ${cls.name}: ${JSON.stringify(ours[cls.name])}`);
      }

      // Baseline: one statement, planner's choice.
      const btimes: number[] = [];
      for (let r = 0; r < (cls.baselineRuns ?? BASELINE_RUNS); r++) {
        for (const qs of cls.queries) {
          const q = cls.rejected ? { ...parseLogQuery(new URLSearchParams()), q: new URLSearchParams(qs).get('q') } : parseLogQuery(new URLSearchParams(qs));
          const conds: string[] = [];
          const params: unknown[] = [];
          const p = (v: unknown) => { params.push(v); return `$${params.length}`; };
          if (q.q) conds.push(`search @@ websearch_to_tsquery('english', ${p(q.q)})`);
          if (q.app) conds.push(`app_name = ${p(q.app)}`);
          if (q.vps) conds.push(`vps_name = ${p(q.vps)}`);
          if (q.levels.length) conds.push(`level = ANY(${p(q.levels)}::text[])`);
          for (const c of q.context) conds.push(`context @> ${p(c.alternatives[1] ?? c.alternatives[0])}::jsonb`);
          const t0 = performance.now();
          try {
            await pool.query(`SELECT id, timestamp, message FROM log_entries WHERE ${conds.join(' AND ') || 'true'} ORDER BY timestamp DESC, id DESC LIMIT 51`, params);
            btimes.push(performance.now() - t0);
          } catch {
            btimes.push(20_000); // statement_timeout (counted as 20 s)
          }
        }
      }
      baseline[cls.name] = { p50: round(pct(btimes, 50)), p95: round(pct(btimes, 95)), max: round(Math.max(...btimes)), queries: btimes.length };
      say(`baseline ${cls.name}: ${JSON.stringify(baseline[cls.name])}`);
    }
    const parallel = await parallelAttack(pool);
    say(`parallel: ${JSON.stringify(parallel)}`);
    await pool.end();
    process.stdout.write(JSON.stringify({
      bench: 'log-search', node: process.version, rows: ROWS, days: DAYS, tableSizeMb: size.rows[0]!.mb, load: loadFigures,
      note: 'ms per query, searchLogs() called directly on a 2-connection pool; baseline = one statement, ORDER BY timestamp DESC LIMIT 51, planner\'s choice',
      classes: Object.fromEntries(CLASSES.map((c) => [c.name, c.queries.map((q) => decodeURIComponent(q))])),
      ours, baseline, parallelLongestAllowedPhrase: parallel,
    }, null, 2) + '\n');
  } finally {
    await pg.stop();
    if (!args.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
