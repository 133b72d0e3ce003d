// The fleet overview at fleet scale: the database read behind /api/fleet (queryFleet) for N agents with
// D days of history, against the query it replaced (before migration 060: per agent, an index walk over
// every daily partition for the newest sample and a scan of its newest 500 check results); the hub's
// answer from memory (FleetCache, serialised); the one-agent re-read the live feed runs after each
// batch; one agent's charts (metrics 24 h from raw rows, 7 d and 30 d from the rollups, health 24 h);
// and what the triggers that keep the latest state add to a flush carrying a sample and a probe result
// (flushes of log lines only do not fire them). Prints one JSON object.
//
//   npm run build && node dist/bench/fleet-read.js [--agents 1000] [--days 30] [--runs 60]
//
// History per agent: a sample a minute for the last day and one an hour before it, two checks every 30 s
// for the last 4 hours and hourly before, all generated in the database. Starts a private embedded
// PostgreSQL (or uses OBSERV_BENCH_PG_URL, an admin URL).
import { parseArgs } from 'node:util';
import { benchServer } from './lib/server.js';
import { batch } from './lib/batch.js';
import { connect, createPool, type PgClient, type PgPool } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { encodeBatch, storeEncoded } from '../src/workers/writer/writer.js';
import { queryFleet } from '../src/hub/api/fleet.js';
import { FleetCache } from '../src/hub/fleet-cache.js';
import { parseMetricsQuery, queryMetrics } from '../src/hub/api/metrics.js';
import { parseHealthQuery, queryHealth } from '../src/hub/api/health.js';

const { values: args } = parseArgs({ options: {
  agents: { type: 'string', default: '1000' }, days: { type: 'string', default: '30' }, runs: { type: 'string', default: '60' } } });
const AGENTS = Number(args.agents);
const DAYS = Number(args.days);
const RUNS = Number(args.runs);
const DB = 'bench_fleet_read';

const BEFORE_060_SQL = `
SELECT c.vps_name, c.app_name, c.updated_at, c.collection_interval,
       (now() - c.updated_at) > make_interval(secs => 2 * coalesce(c.collection_interval, 60) + 15) AS stale,
       m.timestamp AS metrics_at, m.cpu_percent, m.memory_percent, m.memory_mb, m.disk_percent, m.disk_gb,
       m.load_avg_1m, m.load_avg_5m, m.load_avg_15m,
       m.app_source, m.app_processes, m.app_cpu_percent, m.app_rss_mb, m.app_threads, m.app_open_files,
       coalesce(rs.restarts, 0)::int AS app_restarts_24h,
       coalesce(h.checks, '[]'::jsonb) AS checks, coalesce(al.alerts, '[]'::jsonb) AS alerts
  FROM agent_checkpoints c
  LEFT JOIN LATERAL (
        SELECT * FROM vps_metrics v
         WHERE v.vps_name = c.vps_name AND v.app_name = c.app_name
         ORDER BY v.timestamp DESC LIMIT 1) m ON true
  LEFT JOIN LATERAL (
        -- Partial index vps_metrics_app_restarts: only rows with a restart are read.
        SELECT sum(r.app_restarts) AS restarts FROM vps_metrics r
         WHERE r.vps_name = c.vps_name AND r.app_name = c.app_name AND r.app_restarts > 0
           AND r.timestamp > now() - interval '1 day') rs ON true
  LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('url', x.url, 'success', x.success, 'statusCode', x.status_code,
                 'responseTimeMs', x.response_time_ms, 'errorMessage', x.error_message, 'timestamp', x.timestamp) ORDER BY x.url) AS checks
          FROM (SELECT DISTINCT ON (r.url) r.*
                  FROM (SELECT hc.* FROM health_checks hc
                         WHERE hc.vps_name = c.vps_name AND hc.app_name = c.app_name
                           AND hc.timestamp > now() - interval '1 day'
                         ORDER BY hc.timestamp DESC LIMIT 500) r
                 ORDER BY r.url, r.timestamp DESC) x) h ON true
  LEFT JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object('rule', a.rule_name, 'type', a.rule_type, 'status', a.status, 'subject', a.subject,
                 'severity', a.severity, 'since', coalesce(a.firing_since, a.pending_since)) ORDER BY a.rule_name, a.subject) AS alerts
          FROM alert_state a
         WHERE a.vps_name = c.vps_name AND a.app_name = c.app_name AND a.status <> 'resolved') al ON true
 WHERE ($1::text IS NULL OR c.vps_name = $1) AND ($2::text IS NULL OR c.app_name = $2)
 ORDER BY c.vps_name, c.app_name`;


const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 100) / 100; };

async function timed(runs: number, work: (i: number) => Promise<unknown>): Promise<{ p50: number; p95: number; max: number }> {
  for (let i = 0; i < 3; i++) await work(i); // warm: plans, buffers
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await work(i);
    ms.push(performance.now() - t0);
  }
  return { p50: pct(ms, 0.5), p95: pct(ms, 0.95), max: pct(ms, 1) };
}

async function load(c: PgClient): Promise<Record<string, number>> {
  await c.query('SELECT observ_ensure_partitions($1, 3)', [DAYS + 1]);
  const agents = `SELECT 'vps' || (i / 4) AS vps, 'app' || (i % 4) AS app, i FROM generate_series(0, ${AGENTS - 1}) i`;
  await c.query(`INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq, collection_interval, updated_at)
                 SELECT vps, app, 1, 60, now() FROM (${agents}) a`);
  const t0 = performance.now();
  const metrics = (from: string, to: string, step: string) => c.query(`
    INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, memory_percent, memory_mb, disk_percent, disk_gb, load_avg_1m, load_avg_5m, load_avg_15m,
                             app_source, app_processes, app_cpu_percent, app_rss_mb, app_restarts)
    SELECT ts, a.vps, a.app, 10 + (a.i % 50), 40, 800, 55, 20, 0.5, 0.4, 0.3, 'unit:app.service', 3, 2, 120,
           CASE WHEN a.i % 97 = 0 AND extract(minute FROM ts) = 0 THEN 1 END
      FROM (${agents}) a, generate_series(date_trunc('minute', now()) - interval '${from}', date_trunc('minute', now()) - interval '${to}', interval '${step}') ts`);
  const checks = (from: string, to: string, step: string) => c.query(`
    INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, response_time_ms, success, error_message)
    SELECT ts, a.vps, a.app, u.url, CASE WHEN a.i % 50 = 0 THEN 503 ELSE 200 END, 12, a.i % 50 <> 0, NULL
      FROM (${agents}) a, (VALUES ('http://127.0.0.1:8000/health'), ('http://127.0.0.1:8000/ready')) u(url),
           generate_series(date_trunc('minute', now()) - interval '${from}', date_trunc('minute', now()) - interval '${to}', interval '${step}') ts`);
  await metrics(`${DAYS} days`, '1 day', '1 hour');
  await metrics('1 day', '0', '1 minute');
  await checks(`${DAYS} days`, '4 hours', '1 hour');
  await checks('4 hours', '0', '30 seconds');
  const loadS = (performance.now() - t0) / 1000;
  await c.query('VACUUM ANALYZE');
  const n = await c.query<{ m: number; h: number }>('SELECT (SELECT count(*) FROM vps_metrics)::int AS m, (SELECT count(*) FROM health_checks)::int AS h');
  return { metricRows: n.rows[0]!.m, checkRows: n.rows[0]!.h, loadSeconds: Math.round(loadS) };
}

/** A typical flush (one sample, one probe result, 10 lines) with the latest-state triggers on and off. */
async function flushCost(admin: PgClient, url: string): Promise<Record<string, number>> {
  const c = await connect(url);
  const who = { vps: 'vps0', app: 'app0', collectionInterval: 60, startedAt: new Date().toISOString() };
  let seq = 10;
  const store = () => storeEncoded(c, ++seq, [], encodeBatch(batch(seq, 10), who.vps, who.app), who);
  try {
    const on = await timed(RUNS * 3, store);
    for (const t of ['vps_metrics', 'health_checks']) await admin.query(`ALTER TABLE ${t} DISABLE TRIGGER observ_fleet_latest`);
    const off = await timed(RUNS * 3, store);
    for (const t of ['vps_metrics', 'health_checks']) await admin.query(`ALTER TABLE ${t} ENABLE TRIGGER observ_fleet_latest`);
    return { flushP50Ms: on.p50, flushP95Ms: on.p95, withoutTriggersP50Ms: off.p50, withoutTriggersP95Ms: off.p95 };
  } finally { await c.end(); }
}

async function main(): Promise<void> {
  const server = await benchServer({ fsync: 'off', synchronous_commit: 'off', max_wal_size: '4GB' });
  let pool: PgPool | null = null;
  try {
    const a = await connect(server.admin);
    try { await a.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`); await a.query(`CREATE DATABASE ${DB}`); } finally { await a.end(); }
    const u = new URL(server.admin);
    u.pathname = `/${DB}`;
    const c = await connect(u.toString(), { queryTimeoutMs: 1_800_000, statementTimeoutMs: null });
    try {
      await migrate(c);
      const data = await load(c);
      pool = createPool(u.toString(), { max: 2 });
      const p = pool;
      const fleet = await timed(RUNS, () => queryFleet(p));
      const before = await timed(Math.min(RUNS, 15), () => p.query(BEFORE_060_SQL, [null, null]));
      const one = await timed(RUNS, (i) => queryFleet(p, { vps: `vps${i % (AGENTS / 4)}`, app: `app${i % 4}` }));
      const oneBefore = await timed(RUNS, (i) => p.query(BEFORE_060_SQL, [`vps${i % (AGENTS / 4)}`, `app${i % 4}`]));
      const rows = (await queryFleet(p)).length;
      // One agent's charts, as the detail view asks for them: the last 24 h from raw rows, 7 and 30 days
      // from the hourly rollups (filled first, as the hub's maintenance does).
      const rollupT0 = performance.now();
      await c.query('SELECT * FROM observ_rollup()');
      const rollupSeconds = Math.round((performance.now() - rollupT0) / 1000);
      const agentOf = (i: number) => ({ vps: `vps${(i * 37) % (AGENTS / 4)}`, app: `app${i % 4}` });
      const chart = (days: number, kind: 'metrics' | 'health') => (i: number) => {
        const { vps, app } = agentOf(i);
        const q = new URLSearchParams({ vps, app, from: new Date(Date.now() - days * 86_400_000).toISOString() });
        return kind === 'metrics' ? queryMetrics(p, parseMetricsQuery(q)) : queryHealth(p, parseHealthQuery(q));
      };
      const charts = {
        metrics24h: await timed(RUNS, chart(1, 'metrics')), metrics7d: await timed(RUNS, chart(7, 'metrics')),
        metrics30d: await timed(RUNS, chart(30, 'metrics')), health24h: await timed(RUNS, chart(1, 'health')), rollupSeconds,
      };
      // What the hub answers /api/fleet with: the rows in memory, serialised.
      const cache = new FleetCache(p, {}, 3_600_000);
      cache.listening(true);
      const memory = await timed(RUNS, async () => JSON.stringify({ fleet: await cache.fleet() }));
      const flush = await flushCost(c, u.toString());
      console.log(JSON.stringify({
        scenario: 'fleet overview at fleet scale (ms)', agents: AGENTS, days: DAYS, runs: RUNS, ...data, fleetRows: rows,
        fleet: { ...fleet, baseline: { before060: before } },
        fleetFromMemory: { ...memory, fullReads: cache.stats.fullReads },
        oneAgent: { ...one, baseline: { before060: oneBefore } },
        charts, flush, node: process.version,
      }));
    } finally { await c.end(); }
  } finally {
    await pool?.end();
    await server.stop();
  }
}

await main();
