// What a reconnect per flush costs an agent whose writer closed its connection after
// monitoring.db_idle_close: agent-side CPU (process.cpuUsage, user+system) and wall time of one
// connect() with the writer's options, its first query (readCheckpoint) and end(), as an agent login
// over TCP with password auth — directly, and through a PgBouncer in transaction pooling (whose
// server connection stays pooled, so the agent pays client↔PgBouncer SCRAM only). Beside it the same
// query on a kept-open connection (`steady`), the server's CPU per direct connect (backends reaped by
// the postmaster) and PgBouncer's, and the memory one idle backend holds (PSS and private kB from
// /proc/<pid>/smaps_rollup; null when unreadable). The three legs alternate, so that load on the
// machine falls on all alike. Prints one JSON object.
//
//   npm run build && node dist/bench/connect-cost.js [iterations]
//
// Starts a private embedded PostgreSQL (or uses OBSERV_BENCH_PG_URL, an admin URL) and a PgBouncer
// (skipped, null, when not installed). Linux only for the server-side figures.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { benchServer } from './lib/server.js';
import { batch } from './lib/batch.js';
import { clientConfig, connect, loadPg, type ConnectOptions, type PgClient } from '../src/db/pg.js';
import { migrate, MIGRATIONS_DIR } from '../src/db/migrate.js';
import { encodeBatch, readCheckpoint, storeEncoded } from '../src/workers/writer/writer.js';
import { PGBOUNCER, startPgBouncer } from '../test/helpers/pgbouncer.js';

const iterations = Number(process.argv[2] ?? 200);
const WARMUP = 10; // unmeasured cycles first: JIT, PgBouncer's first server connection, the backends' caches
const IDLE_BACKENDS = 20;
const INTERVALS_S = [5, 30, 60];
const DB = 'bench_connect';
const LOGIN = 'bench_connect_agent';
const PASSWORD = 'bench-connect-pw';
const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../sql/roles.sql', import.meta.url)), 'utf8');
const who = { vps: 'vps1', app: 'shop', collectionInterval: 60, startedAt: new Date().toISOString() };
// The writer's connection() with its defaults (queryTimeoutMs 30 s, connectTimeoutMs 10 s).
const WRITER: ConnectOptions = { connectTimeoutMs: 10_000, queryTimeoutMs: 30_000, statementTimeoutMs: null, applicationName: `obs-agent ${who.app}` };


/** The writer's connection(): connect, then read the checkpoint. */
async function writerConnect(url: string): Promise<PgClient> {
  const client = await connect(url, WRITER);
  await readCheckpoint(client, who.vps, who.app);
  return client;
}

/** How the server (or PgBouncer) made this client authenticate, as the client saw it, and SCRAM's iteration count. */
async function authSeen(url: string): Promise<{ auth: string; scramIterations: number | null }> {
  const client = new (loadPg().Client)(clientConfig(url, WRITER));
  const con = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
  let auth = 'trust';
  let scramIterations: number | null = null;
  con.on('authenticationCleartextPassword', () => { auth = 'password'; });
  con.on('authenticationMD5Password', () => { auth = 'md5'; });
  con.on('authenticationSASL', (m: { mechanisms: string[] }) => { auth = `sasl (${m.mechanisms.join(', ')})`; });
  con.on('authenticationSASLContinue', (m: { data: string }) => { scramIterations = Number(/(?:^|,)i=(\d+)/.exec(m.data)?.[1]) || null; });
  await client.connect();
  await client.end();
  return { auth, scramIterations };
}

/** utime+stime (own, or of reaped children) of a process in µs; null when unreadable. */
function procCpuUs(pid: number | null | undefined, children = false): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const ticks = children ? f[13]! + f[14]! : f[11]! + f[12]!; // cutime+cstime, utime+stime
    return ticks * 10_000; // USER_HZ is 100 on Linux
  } catch { return null; }
}

/** Mean PSS and private kB of the login's backends; null when /proc is unreadable. */
async function backendKb(admin: PgClient): Promise<{ pssKb: number; privateKb: number } | null> {
  const pids = (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE usename = $1', [LOGIN])).rows.map((r) => r.pid);
  let pss = 0;
  let priv = 0;
  try {
    for (const pid of pids) {
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
      pss += kb('Pss');
      priv += kb('Private_Clean') + kb('Private_Dirty');
    }
  } catch { return null; }
  return pids.length && Number.isFinite(pss + priv) ? { pssKb: Math.round(pss / pids.length), privateKb: Math.round(priv / pids.length) } : null;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Samples { cpuUs: number[]; wallMs: number[] }
async function sample(into: Samples | null, work: () => Promise<unknown>): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (into) { into.cpuUs.push(c.user + c.system); into.wallMs.push(wall); }
}
const summary = (s: Samples) => ({ cpuUs: Math.round(mean(s.cpuUs)), wallMsP50: pct(s.wallMs, 0.5), wallMsP99: pct(s.wallMs, 0.99) });
/** Agent CPU % when one such cycle runs every `interval` seconds. */
const cpuPercentAt = (cpuUs: number) => Object.fromEntries(INTERVALS_S.map((s) => [`${s}s`, round(cpuUs / (s * 1e6) * 100, 4)]));

async function main(): Promise<void> {
  const pgServer = await benchServer();
  const admin = pgServer.admin;
  // startPgBouncer takes a test context only for its cleanup.
  const cleanups: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { cleanups.push(fn); } } as unknown as TestContext;
  try {
    const a = await connect(admin);
    try { await a.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`); await a.query(`CREATE DATABASE ${DB}`); } finally { await a.end(); }
    const ownerUrl = new URL(admin);
    ownerUrl.pathname = '/' + DB;
    const owner = await connect(ownerUrl.toString());
    await migrate(owner, MIGRATIONS_DIR);
    await owner.query(ROLES_SQL);
    await owner.query(`DROP ROLE IF EXISTS ${LOGIN}`);
    await owner.query(`CREATE ROLE ${LOGIN} LOGIN PASSWORD '${PASSWORD}' IN ROLE observ_agent`);
    const agentUrl = new URL(ownerUrl);
    agentUrl.username = LOGIN;
    agentUrl.password = PASSWORD;
    const direct = agentUrl.toString();
    // How the server stores the login's password and which pg_hba rule covers 127.0.0.1 (superuser only: else null).
    const one = async (sql: string, params: unknown[] = []) => (await owner.query(sql, params).catch(() => null))?.rows[0]?.v ?? null;
    const server = { version: await one(`SELECT current_setting('server_version') AS v`), passwordEncryption: await one(`SELECT current_setting('password_encryption') AS v`),
      loginPassword: await one(`SELECT split_part(rolpassword, '$', 1) AS v FROM pg_authid WHERE rolname = $1`, [LOGIN]),
      hbaHost127: await one(`SELECT auth_method AS v FROM pg_hba_file_rules WHERE type = 'host' AND address = '127.0.0.1' ORDER BY rule_number LIMIT 1`) };

    // One committed batch first, so that readCheckpoint finds a row as it does for a running agent.
    const first = await writerConnect(direct);
    await storeEncoded(first, 1, [], encodeBatch(batch(1, 10), who.vps, who.app), who);
    await first.end();

    const bouncer = PGBOUNCER ? await startPgBouncer(t, admin, {
      users: [{ user: 'bench_admin', password: 'bench-admin-pw' }, { user: LOGIN, password: PASSWORD }], poolMode: 'transaction', poolSize: 1 }) : null;
    const pooled = bouncer?.via(direct) ?? null;
    const auth = { direct: await authSeen(direct), pgbouncer: pooled ? await authSeen(pooled) : null };

    const steadyClient = await writerConnect(direct);
    const s = { direct: { cpuUs: [], wallMs: [] } as Samples, pgbouncer: { cpuUs: [], wallMs: [] } as Samples, steady: { cpuUs: [], wallMs: [] } as Samples };
    const cycle = (url: string) => async () => { await (await writerConnect(url)).end(); };
    let serverCpu0: number | null = null;
    let bouncerCpu0: number | null = null;
    for (let i = -WARMUP; i < iterations; i++) {
      if (i === 0) { serverCpu0 = procCpuUs(pgServer.pid, true); bouncerCpu0 = procCpuUs(bouncer?.child.pid); }
      await sample(i < 0 ? null : s.direct, cycle(direct));
      if (pooled) await sample(i < 0 ? null : s.pgbouncer, cycle(pooled));
      await sample(i < 0 ? null : s.steady, () => readCheckpoint(steadyClient, who.vps, who.app));
    }
    await new Promise((r) => setTimeout(r, 500)); // the postmaster reaps the last backends
    const serverCpu1 = procCpuUs(pgServer.pid, true);
    const bouncerCpu1 = procCpuUs(bouncer?.child.pid);
    const serverConnections = bouncer ? (await bouncer.show('SERVERS')).filter((r) => r.user === LOGIN).length : null;
    await steadyClient.end();

    // Idle backends as the writer leaves them: after connection(), and after a flush (COPY into the partitions, checkpoint).
    const idle: PgClient[] = [];
    for (let i = 0; i < IDLE_BACKENDS; i++) idle.push(await writerConnect(direct));
    const afterConnect = await backendKb(owner);
    for (const [i, c] of idle.entries()) await storeEncoded(c, 2 + i, [], encodeBatch(batch(2 + i, 10), who.vps, who.app), who);
    const afterFlush = await backendKb(owner);
    for (const c of idle) await c.end();

    const steady = summary(s.steady);
    const leg = (x: Samples, extra: Record<string, unknown>) => {
      const r = summary(x);
      return { cpuUsPerConnect: r.cpuUs, wallMsP50: r.wallMsP50, wallMsP99: r.wallMsP99, xSteadyQueryCpu: round(r.cpuUs / steady.cpuUs, 1), ...extra };
    };
    const directLeg = leg(s.direct, { ...auth.direct,
      serverCpuUsPerConnect: serverCpu0 !== null && serverCpu1 !== null ? Math.round((serverCpu1 - serverCpu0) / iterations) : null });
    const bouncerLeg = pooled ? leg(s.pgbouncer, { ...auth.pgbouncer, poolMode: 'transaction', serverConnections,
      pgbouncerCpuUsPerConnect: bouncerCpu0 !== null && bouncerCpu1 !== null ? Math.round((bouncerCpu1 - bouncerCpu0) / iterations) : null }) : null;

    await owner.end();
    const d = await connect(admin);
    try { await d.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`); await d.query(`DROP ROLE IF EXISTS ${LOGIN}`); } finally { await d.end(); }
    process.stdout.write(JSON.stringify({
      scenario: 'agent reconnect per flush: connect + readCheckpoint + end, agent login, per cycle (CPU µs mean, wall ms)',
      iterations, warmup: WARMUP,
      server: { ...server, pgbouncer: bouncer ? PGBOUNCER : null },
      direct: directLeg,
      pgbouncer: bouncerLeg,
      steady: { cpuUsPerQuery: steady.cpuUs, wallMsP50: steady.wallMsP50, wallMsP99: steady.wallMsP99 },
      cpuPercentAt: { direct: cpuPercentAt(directLeg.cpuUsPerConnect), pgbouncer: bouncerLeg ? cpuPercentAt(bouncerLeg.cpuUsPerConnect) : null,
        steady: cpuPercentAt(steady.cpuUs) },
      backendIdleKb: { backends: IDLE_BACKENDS, afterConnect, afterFlush },
      node: process.version,
    }) + '\n');
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    await pgServer.stop();
  }
}

await main();
