// A fleet on one PostgreSQL: N simulated agents, each a real Writer (src/workers/writer: spool, COPY,
// checkpoint, exactly once), write through a real PgBouncer in transaction pooling set up as the
// README's pgbouncer.ini says, into one PostgreSQL on this machine, while a real hub (its own process,
// connected directly as the README says) answers the fleet overview, a log search and one agent's
// charts. Each agent offers what a typical one sends: a sample a minute, two health checks every 30 s,
// 10 log lines a second, flushed every 5 s. For each N, after a warm-up: rows/s offered and committed,
// the batch commit latency (durable in the spool → committed), PostgreSQL's CPU and memory (postmaster
// and every backend, from /proc), PgBouncer's CPU, server connections (SHOW POOLS and pg_stat_activity),
// the spool backlog (did it keep up?) and the hub's latencies meanwhile. Prints one JSON object.
//
//   npm run build && node dist/bench/fleet-scale.js [--agents 100,300,1000] [--duration 90] [--warmup 20] [--logins agent|shared]
//        [--pool-size 2]
//
// --logins agent (default): one database login per agent, as the README sets agents up; shared: one
// login for every agent. PgBouncer pools server connections per login: --pool-size is its
// default_pool_size (the README's 2), under max_db_connections 40 for all logins together. Spools live in /dev/shm where it exists: the agents are on other machines in
// a real fleet, so their fdatasyncs should not load this machine's disk. Starts a private embedded
// PostgreSQL (fsync on, defaults) or uses OBSERV_BENCH_PG_URL (an admin URL; PostgreSQL's CPU and
// memory are then null). Linux only for CPU, memory and CPU pressure. The machine is shared: read the figures with what else ran.
import { parseArgs } from 'node:util';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { benchServer } from './lib/server.js';
import { connect } from '../src/db/pg.js';
import { migrate, MIGRATIONS_DIR } from '../src/db/migrate.js';
import { freePort } from '../src/db/embedded.js';
import { Writer, type BatchInfo } from '../src/workers/writer/writer.js';
import type { LogRecord, MetricSample, ProbeResult } from '../src/supervisor/messages.js';
import { PGBOUNCER, startPgBouncer, type PgBouncer } from '../test/helpers/pgbouncer.js';

const { values: args } = parseArgs({ options: {
  agents: { type: 'string', default: '100,300,1000' }, duration: { type: 'string', default: '90' }, warmup: { type: 'string', default: '20' },
  logins: { type: 'string', default: 'agent' }, 'pool-size': { type: 'string', default: '2' } } });
const POOL_SIZE = Number(args['pool-size']);
if (!Number.isInteger(POOL_SIZE) || POOL_SIZE < 1 || POOL_SIZE > 40) throw new Error('--pool-size: server connections per login, 1..40 (the README says 2)');
const COUNTS = args.agents.split(',').map(Number);
const DURATION_S = Number(args.duration);
const WARMUP_S = Number(args.warmup);
const LOGINS = args.logins;
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1 || n > 5000)) throw new Error('--agents: a comma list of integers 1..5000');
if (!(DURATION_S >= 10 && DURATION_S <= 3600) || !(WARMUP_S >= 0 && WARMUP_S <= 600)) throw new Error('--duration 10..3600, --warmup 0..600 (seconds)');
if (LOGINS !== 'agent' && LOGINS !== 'shared') throw new Error('--logins: agent or shared');
if (!PGBOUNCER) throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');

const DB = 'bench_fleet_scale';
const PASSWORD = 'bench-fleet-pw';
const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../sql/roles.sql', import.meta.url)), 'utf8');
const HUB_BIN = fileURLToPath(new URL('../../bin/fleet-hub.js', import.meta.url));
const TICK_MS = 100;
const LINES_PER_S = 10;
const FLUSH_MS = 5000;
/** The README's [pgbouncer] settings (test/writer/pooling.test.ts checks the README runs as written). */
const README_PGBOUNCER = { pool_mode: 'transaction', default_pool_size: '2', max_db_connections: '40', max_client_conn: '2000', server_idle_timeout: '60' };
/** What the issue measured before this work (20 agents, one day; PgBouncer refused every agent). */
const BASELINE = {
  note: 'before: each agent held a connection for life and passed statement_timeout in the startup packet',
  pgbouncer100Agents: { linesArrived: 0, linesOffered: 30_000, minutes: 2.5, why: 'unsupported startup parameter: statement_timeout' },
  hub20Agents1Day: { fleetP50Ms: 254, fleetP99Ms: 331, metrics24hP50Ms: 379, metrics24hP99Ms: 596 },
  idleBackendsPssMb: { 100: 173, 500: 612, 1000: 1160 },
};

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
function pct(xs: number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- /proc ----

function statFields(pid: number): number[] | null {
  try { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number); } catch { return null; }
}
/** The postmaster's children (backends, background workers). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) if (/^\d+$/.test(e) && statFields(Number(e))?.[1] === pid) out.push(Number(e));
  return out;
}
/** CPU seconds used by a postmaster and all its children so far (reaped ones via cutime/cstime). */
function serverCpuS(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  let ticks = f[11]! + f[12]! + f[13]! + f[14]!;
  for (const c of children(pid)) { const g = statFields(c); if (g) ticks += g[11]! + g[12]!; }
  return ticks / 100;
}
/** Microseconds some task waited for a CPU (Linux PSI), or NaN: how contended the machine was. */
function cpuPressureUs(): number {
  try { return Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN); } catch { return NaN; }
}
const loadAvg = () => { try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]); } catch { return null; } };
const cpuS = (pid: number) => { const f = statFields(pid); return f ? (f[11]! + f[12]!) / 100 : NaN; };
/** PSS and private MB of a postmaster and its children. */
function serverMemMb(pid: number): { pssMb: number; privateMb: number; processes: number } {
  let pss = 0; let priv = 0; let n = 0;
  for (const p of [pid, ...children(pid)]) {
    try {
      const t = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
      pss += kb('Pss'); priv += kb('Private_Clean') + kb('Private_Dirty'); n++;
    } catch { /* exited */ }
  }
  return { pssMb: round(pss / 1024), privateMb: round(priv / 1024), processes: n };
}
// ---- one simulated agent ----

const WORDS = ['checkout', 'payment', 'inventory', 'session', 'render', 'cache', 'queue', 'webhook'];
function logLine(agent: number, n: number): LogRecord {
  const word = WORDS[(agent + n) % WORDS.length]!;
  const status = n % 97 === 0 ? 500 : 200;
  return { timestamp: new Date().toISOString(), level: status === 500 ? 'ERROR' : 'INFO', logger: 'app',
    message: `${word} request handled path=/api/${word}/${n % 1000} status=${status} duration_ms=${(n * 7) % 300}`,
    context: { request_id: `${agent}-${n}`, user: n % 50 }, exception: null, flags: [], raw: null, sourceFile: '/var/log/app.log' };
}
function metric(): MetricSample {
  return { timestamp: new Date().toISOString(), cpuPercent: 20 + Math.random() * 30, cpuUser: 15, cpuSystem: 5, cpuIowait: 1, cpuSteal: 0,
    memoryPercent: 55, memoryMb: 2200, memoryAvailableMb: 1800, swapPercent: 0, swapUsedMb: 0, diskPercent: 61, diskGb: 30, diskFreeGb: 19,
    diskReadBps: 1000, diskWriteBps: 50_000, netRxBps: 20_000, netTxBps: 80_000, loadAvg1m: 0.8, loadAvg5m: 0.7, loadAvg15m: 0.6,
    uptimeSeconds: 86_400, mounts: [] };
}
const probe = (url: string): ProbeResult => ({ timestamp: new Date().toISOString(), url, statusCode: 200, responseTimeMs: 20 + Math.random() * 30,
  success: true, errorMessage: null, certDaysLeft: null });

interface Agent { writer: Writer; spoolDir: string; n: number; offset: number; paused: boolean; durableAt: Map<number, number> }

interface Window { open: boolean; offeredRows: number; withheldLines: number; committedRows: number; commitMs: number[]; batches: number }

// ---- the hub, in its own process ----

async function startHubProcess(dbUrl: string): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [HUB_BIN, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OBSERV_DB_URL: dbUrl, OBSERV_DB_READ_URL: '' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${url}/api/status`)).ok) break; } catch { /* not yet */ }
    if (i > 300 || child.exitCode !== null) throw new Error(`the hub did not start: ${stderr}`);
    await sleep(100);
  }
  const stop = async () => { child.kill('SIGTERM'); await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000)]); if (child.exitCode === null) child.kill('SIGKILL'); };
  return { url, child, stop };
}

async function hubLoop(url: string, agents: number, until: () => boolean): Promise<Record<string, { n: number; errors: number; p50: number | null; p95: number | null; p99: number | null }>> {
  const ms: Record<string, number[]> = { fleet: [], search: [], metrics1h: [] };
  const errors: Record<string, number> = { fleet: 0, search: 0, metrics1h: 0 };
  let i = 0;
  while (!until()) {
    const a = (i * 7919) % agents;
    const from = new Date(Date.now() - 15 * 60_000).toISOString();
    const paths: [string, string][] = [
      ['fleet', '/api/fleet'],
      ['search', `/api/logs?q=${WORDS[i % WORDS.length]}%20status%3D500&from=${encodeURIComponent(from)}&limit=50`],
      ['metrics1h', `/api/metrics?vps=vps-${Math.floor(a / 3)}&app=app${a % 3}`],
    ];
    for (const [name, path] of paths) {
      const t0 = performance.now();
      try {
        const res = await fetch(url + path);
        await res.arrayBuffer();
        if (!res.ok) errors[name]!++; else ms[name]!.push(performance.now() - t0);
      } catch { errors[name]!++; }
    }
    i++;
    await sleep(500);
  }
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, { n: v.length, errors: errors[k]!, p50: pct(v, 0.5), p95: pct(v, 0.95), p99: pct(v, 0.99) }]));
}

// ---- one run ----

async function run(n: number, admin: string, bouncer: PgBouncer, logins: string[], pgPid: number | null): Promise<Record<string, unknown>> {
  const a = await connect(admin);
  try { await a.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`); await a.query(`CREATE DATABASE ${DB}`); } finally { await a.end(); }
  const ownerUrl = new URL(admin); ownerUrl.pathname = '/' + DB;
  const owner = await connect(ownerUrl.toString());
  await migrate(owner, MIGRATIONS_DIR);
  await owner.query(ROLES_SQL);
  const hub = await startHubProcess(ownerUrl.toString());

  const spoolRoot = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'observ-fleet-scale-'));
  const win: Window = { open: false, offeredRows: 0, withheldLines: 0, committedRows: 0, commitMs: [], batches: 0 };
  const warnings = new Map<string, { count: number; firstError: string }>();
  const agents: Agent[] = [];
  const agentUrl = (i: number) => {
    const u = new URL(bouncer.via(ownerUrl.toString()));
    u.username = LOGINS === 'shared' ? logins[0]! : logins[i]!;
    u.password = PASSWORD;
    return u.toString();
  };
  const startedAt = performance.now();
  for (let i = 0; i < n; i++) {
    const spoolDir = join(spoolRoot, String(i));
    const agent: Agent = { writer: null as unknown as Writer, spoolDir, n: 0, offset: 0, paused: false, durableAt: new Map() };
    agent.writer = new Writer({
      postgresUrl: agentUrl(i), vpsName: `vps-${Math.floor(i / 3)}`, app: `app${i % 3}`, collectionInterval: 60, flushIntervalMs: FLUSH_MS,
      spoolDir, spoolMaxBytes: 16 * 1024 * 1024,
      onDurable: (b: BatchInfo) => { agent.durableAt.set(b.seq, performance.now()); },
      onCommitted: (b: BatchInfo) => {
        const t = agent.durableAt.get(b.seq);
        agent.durableAt.delete(b.seq);
        if (!win.open) return;
        win.batches++;
        win.committedRows += b.rows.metrics + b.rows.health + b.rows.logs;
        if (t !== undefined) win.commitMs.push(performance.now() - t);
      },
      onBackpressure: (paused) => { agent.paused = paused; },
      log: (level, message, context) => {
        if (level !== 'warn' && level !== 'error') return;
        const w = warnings.get(message) ?? { count: 0, firstError: String(context?.error ?? '') };
        w.count++;
        warnings.set(message, w);
      },
    });
    agents.push(agent);
  }
  // Started in groups, as a fleet comes up over some seconds (each logs in through PgBouncer).
  for (let i = 0; i < n; i += 50) await Promise.all(agents.slice(i, i + 50).map((x) => x.writer.start()));
  const startSeconds = round((performance.now() - startedAt) / 1000);

  // The load: every 100 ms a tenth of the agents get 10 lines (10 lines/s each, spread over the
  // second), samples and probe results on each agent's own offset in their period.
  // Ticks are due by the clock: a timer that fires late (a busy machine) catches up, so the offered
  // load is the stated one whatever the event loop's delays.
  let tick = 0;
  const loadStart = performance.now();
  const file = { path: '/var/log/app.log', identity: { dev: 1, ino: 2, fingerprint: 'bench' } };
  const lines: LogRecord[] = [];
  const load = setInterval(() => {
    const due = Math.floor((performance.now() - loadStart) / TICK_MS);
    for (let k = 0; tick < due && k < 100; k++) oneTick(tick++);
  }, TICK_MS);
  const oneTick = (t: number) => {
    for (let i = t % 10; i < n; i += 10) {
      const ag = agents[i]!;
      if (ag.paused) { if (win.open) { win.withheldLines += LINES_PER_S; win.offeredRows += LINES_PER_S; } continue; }
      lines.length = 0;
      for (let k = 0; k < LINES_PER_S; k++) lines.push(logLine(i, ag.n++));
      ag.offset += 1500;
      ag.writer.addLogs(lines, { ...file, offset: ag.offset }, 1500);
      if (win.open) win.offeredRows += LINES_PER_S;
    }
    for (let i = t % 600; i < n; i += 600) { agents[i]!.writer.addMetric(metric()); if (win.open) win.offeredRows++; }
    for (let i = t % 300; i < n; i += 300) {
      agents[i]!.writer.addProbe(probe('http://127.0.0.1:8000/health'));
      agents[i]!.writer.addProbe(probe('http://127.0.0.1:8000/ready'));
      if (win.open) win.offeredRows += 2;
    }
  };

  await sleep(WARMUP_S * 1000);
  // ---- the measured window ----
  const backlog = () => agents.reduce((s, x) => { const st = x.writer.status(); return { batches: s.batches + st.spoolBatches, bytes: s.bytes + st.spoolBytes }; }, { batches: 0, bytes: 0 });
  const backlogStart = backlog();
  const cpu0 = { pg: pgPid ? serverCpuS(pgPid) : NaN, bouncer: cpuS(bouncer.child.pid!), hub: cpuS(hub.child.pid!), agents: process.cpuUsage(), pressure: cpuPressureUs() };
  const t0 = performance.now();
  win.open = true;
  const conn: { pools: number[]; activity: number[]; backends: number[] } = { pools: [], activity: [], backends: [] };
  const waits = new Map<string, number>();
  let mem = pgPid ? serverMemMb(pgPid) : null;
  let memPeak = mem?.pssMb ?? 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const pools = await bouncer.show('POOLS').catch(() => []);
      conn.pools.push(pools.reduce((s, p) => s + ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((x, k) => x + Number(p[k] ?? 0), 0), 0));
      const r = await owner.query<{ agents: number; all: number }>(`SELECT count(*) FILTER (WHERE application_name LIKE 'obs-agent%')::int AS agents,
        count(*) FILTER (WHERE backend_type = 'client backend')::int AS all FROM pg_stat_activity`);
      conn.activity.push(r.rows[0]!.agents);
      // What the agents' busy backends wait on (CPU when nothing): where a ceiling comes from.
      const w = await owner.query<{ w: string; n: number }>(`SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w, count(*)::int AS n
        FROM pg_stat_activity WHERE application_name LIKE 'obs-agent%' AND state NOT IN ('idle') GROUP BY 1`);
      for (const row of w.rows) waits.set(row.w, (waits.get(row.w) ?? 0) + row.n);
      conn.backends.push(r.rows[0]!.all);
      if (pgPid) { mem = serverMemMb(pgPid); memPeak = Math.max(memPeak, mem.pssMb); }
      await sleep(1000);
    }
  })();
  const hubFigures = hubLoop(hub.url, n, () => performance.now() - t0 > DURATION_S * 1000);
  await sleep(DURATION_S * 1000);
  win.open = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = { pg: pgPid ? serverCpuS(pgPid) : NaN, bouncer: cpuS(bouncer.child.pid!), hub: cpuS(hub.child.pid!), agents: process.cpuUsage(cpu0.agents), pressure: cpuPressureUs() };
  const backlogEnd = backlog();
  done = true;
  const hubLatency = await hubFigures;
  await sampler;
  clearInterval(load);

  // Drain what is left, then stop: nothing offered is lost (counted below).
  const closing = performance.now();
  await Promise.all(agents.map((x) => x.writer.close(60_000)));
  const drainSeconds = round((performance.now() - closing) / 1000);
  const committed = (await owner.query<{ logs: number; metrics: number; health: number }>(`SELECT (SELECT count(*) FROM log_entries)::int AS logs,
    (SELECT count(*) FROM vps_metrics)::int AS metrics, (SELECT count(*) FROM health_checks)::int AS health`)).rows[0]!;
  const offeredTotal = agents.reduce((s, x) => s + x.n, 0);
  await hub.stop();
  await owner.end();
  rmSync(spoolRoot, { recursive: true, force: true });

  const offeredPerS = round(win.offeredRows / seconds);
  const committedPerS = round(win.committedRows / seconds);
  const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  return {
    agents: n,
    seconds: round(seconds),
    startSeconds,
    rowsPerSecond: { offered: offeredPerS, committed: committedPerS, logLinesWithheldByBackpressure: win.withheldLines },
    keptUp: committedPerS >= 0.97 * offeredPerS && backlogEnd.batches <= backlogStart.batches + n,
    spoolBacklog: { start: backlogStart, end: backlogEnd },
    commitMs: { batches: win.batches, p50: pct(win.commitMs, 0.5), p99: pct(win.commitMs, 0.99), max: pct(win.commitMs, 1) },
    postgres: pgPid ? { cpuCores: round((cpu1.pg - cpu0.pg) / seconds, 2), pssMbEnd: mem?.pssMb ?? null, pssMbPeak: memPeak, privateMbEnd: mem?.privateMb ?? null,
      processes: mem?.processes ?? null } : null,
    pgbouncerCpuCores: round((cpu1.bouncer - cpu0.bouncer) / seconds, 2),
    hubCpuCores: round((cpu1.hub - cpu0.hub) / seconds, 2),
    agentsProcessCpuCores: round((cpu1.agents.user + cpu1.agents.system) / 1e6 / seconds, 2),
    // The machine meanwhile: share of the time some task waited for a CPU (PSI), and the load average.
    machine: { cpuPressureSome: Number.isFinite(cpu1.pressure - cpu0.pressure) ? round((cpu1.pressure - cpu0.pressure) / 1e6 / seconds, 2) : null, loadAvg1m: loadAvg() },
    serverConnections: { pgbouncerMax: maxOf(conn.pools), agentBackendsMax: maxOf(conn.activity), clientBackendsMax: maxOf(conn.backends) },
    agentBackendWaits: Object.fromEntries([...waits].sort((x, y) => y[1] - x[1]).slice(0, 6)),
    hubLatencyMs: hubLatency,
    afterDrain: { drainSeconds, logLinesOffered: offeredTotal, logLinesStored: committed.logs, samplesStored: committed.metrics, checksStored: committed.health },
    writerWarnings: Object.fromEntries(warnings),
  };
}

async function main(): Promise<void> {
  const server = await benchServer();
  const cleanups: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { cleanups.push(fn); } } as unknown as TestContext;
  try {
    const maxN = Math.max(...COUNTS);
    const logins = Array.from({ length: LOGINS === 'shared' ? 1 : maxN }, (_, i) => `bench_fs_${i}`);
    // Agent logins in the observ_agent role (roles.sql, run in a first database so that the role exists).
    const a = await connect(server.admin);
    try {
      await a.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
      await a.query(`CREATE DATABASE ${DB}`);
      const u = new URL(server.admin); u.pathname = '/' + DB;
      const c = await connect(u.toString());
      try { await migrate(c, MIGRATIONS_DIR); await c.query(ROLES_SQL); } finally { await c.end(); }
      for (const l of logins) await a.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${l}') THEN
        CREATE ROLE ${l} LOGIN PASSWORD '${PASSWORD}' IN ROLE observ_agent; END IF; END $$`);
    } finally { await a.end(); }
    const bouncer = await startPgBouncer(t, server.admin, {
      users: [{ user: 'bench_admin', password: 'bench-admin-pw' }, ...logins.map((user) => ({ user, password: PASSWORD }))],
      poolMode: 'transaction', poolSize: POOL_SIZE, extra: { ...README_PGBOUNCER, default_pool_size: String(POOL_SIZE) } });
    const pc = await connect(server.admin);
    const settings = (await pc.query<{ v: string; m: string; f: string }>(`SELECT current_setting('server_version') AS v,
      current_setting('max_connections') AS m, current_setting('fsync') AS f`)).rows[0]!;
    await pc.end();
    const pgPid = server.pid ?? null;
    const runs: Record<string, unknown>[] = [];
    for (const n of COUNTS) {
      runs.push(await run(n, server.admin, bouncer, logins, pgPid));
      process.stderr.write(`fleet-scale: ${n} agents done\n`);
    }
    const c = await connect(server.admin);
    try {
      await c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
      for (const l of logins) await c.query(`DROP ROLE IF EXISTS ${l}`);
    } finally { await c.end(); }
    process.stdout.write(JSON.stringify({
      scenario: 'N agents (real Writer each: 1 sample/min, 2 checks/30 s, 10 log lines/s, flush every 5 s) through PgBouncer (transaction pooling, README settings) into one PostgreSQL; the hub read meanwhile',
      durationSeconds: DURATION_S, warmupSeconds: WARMUP_S, logins: LOGINS,
      postgres: { version: settings.v, maxConnections: Number(settings.m), fsync: settings.f, embedded: !server.external },
      pgbouncer: { binary: PGBOUNCER, ...README_PGBOUNCER, default_pool_size: String(POOL_SIZE) },
      cpus: (await import('node:os')).cpus().length,
      runs,
      baseline: BASELINE,
      node: process.version,
    }) + '\n');
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    await server.stop();
  }
}

await main();
