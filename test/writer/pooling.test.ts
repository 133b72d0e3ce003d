// Many agents, few database connections: writers through a real PgBouncer in transaction pooling
// mode, and writers against a PostgreSQL with fewer connection slots than agents (the idle close).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDatabase, eventually, type TestDatabase } from '../helpers/pg.js';
import { noPgBouncer, startPgBouncer } from '../helpers/pgbouncer.js';
import { connect, type PgClient } from '../../src/db/pg.js';
import { migrate, latestVersion, schemaVersion } from '../../src/db/migrate.js';
import { Writer, type WriterOptions } from '../../src/workers/writer/writer.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

const ROLES_SQL = readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8');
const PASSWORD = 'pool-agent-pw';

/** The [pgbouncer] settings of the README's pgbouncer.ini, as written there. */
function readmePgBouncerSettings(): Record<string, string> {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const ini = /```ini\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(ini, 'the README has a pgbouncer.ini block');
  const settings: Record<string, string> = {};
  let section = '';
  for (const raw of ini.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(l);
    if (s) { section = s[1]!; continue; }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(l);
    assert.ok(kv, `a setting line: ${l}`);
    if (section === 'pgbouncer') settings[kv[1]!] = kv[2]!;
  }
  return settings;
}

function line(agent: number, n: number): LogRecord {
  return { timestamp: new Date().toISOString(), level: 'INFO', logger: null, message: `a${agent}-${n}`, context: null, exception: null,
    flags: [], raw: null, sourceFile: '/var/log/app.log' };
}

/** Agent logins (the observ_agent role, as the README sets them up), dropped after the test. */
async function agentLogins(t: TestContext, db: TestDatabase, count: number, extra = ''): Promise<{ user: string; url: string }[]> {
  await db.client.query(ROLES_SQL);
  const stamp = Date.now().toString(36);
  const logins = Array.from({ length: count }, (_, i) => `pool_${stamp}_${i}`);
  for (const login of logins) await db.client.query(`CREATE ROLE ${login} LOGIN PASSWORD '${PASSWORD}' ${extra} IN ROLE observ_agent`);
  t.after(async () => {
    for (const login of logins) {
      await db.client.query(`DROP OWNED BY ${login}`).catch(() => {});
      await db.client.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
    }
  });
  return logins.map((user) => {
    const u = new URL(db.url);
    u.username = user;
    u.password = PASSWORD;
    return { user, url: u.toString() };
  });
}

function writerOptions(t: TestContext, agent: number, postgresUrl: string, extra: Partial<WriterOptions>): WriterOptions {
  const spoolDir = mkdtempSync(join(tmpdir(), 'observ-pool-'));
  t.after(() => rmSync(spoolDir, { recursive: true, force: true }));
  return { postgresUrl, vpsName: `vps-${agent}`, app: 'pooled', collectionInterval: 60, flushIntervalMs: 60_000, spoolDir,
    spoolMaxBytes: 8 * 1024 * 1024, queryTimeoutMs: 3000, retryBaseMs: 50, retryMaxMs: 300, ...extra };
}

/** Each writer flushes `batches` batches of `perBatch` lines, all writers at once. */
async function writeAll(writers: Writer[], batches: number, perBatch: number): Promise<void> {
  await Promise.all(writers.map(async (w, agent) => {
    for (let b = 1; b <= batches; b++) {
      const lines = Array.from({ length: perBatch }, (_, i) => line(agent, (b - 1) * perBatch + i + 1));
      w.addLogs(lines, { path: '/var/log/app.log', identity: null, offset: b * 1000 }, perBatch * 10);
      await w.flush();
    }
  }));
}

/** Every line of every agent stored exactly once, and each agent's checkpoint at its last batch. */
async function assertExactlyOnce(client: PgClient, agents: number, total: number): Promise<void> {
  const rows = await client.query<{ vps_name: string; n: number; distinct_n: number }>(
    `SELECT vps_name, count(*)::int AS n, count(DISTINCT message)::int AS distinct_n FROM log_entries WHERE app_name = 'pooled' GROUP BY vps_name ORDER BY vps_name`);
  assert.deepEqual(rows.rows, Array.from({ length: agents }, (_, i) => ({ vps_name: `vps-${i}`, n: total, distinct_n: total })));
  const cps = await client.query<{ vps_name: string; files: { offset: number }[] }>(
    `SELECT vps_name, files FROM agent_checkpoints WHERE app_name = 'pooled' ORDER BY vps_name`);
  assert.deepEqual(cps.rows.map((r) => [r.vps_name, r.files[0]!.offset]), Array.from({ length: agents }, (_, i) => [`vps-${i}`, total / 10 * 1000]));
}

/**
 * Samples the server connections the given logins hold, until stopped: the peak of all of them, and of
 * those in a transaction (a connection PgBouncer closes to hand its slot to another pool is still listed,
 * idle, while its backend exits).
 */
function sampleBackends(client: PgClient, users: string[]): { stop(): Promise<{ all: number; busy: number }> } {
  const peak = { all: 0, busy: 0 };
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 10_000; i++) {
      const r = await client.query<{ all: number; busy: number }>(
        `SELECT count(*)::int AS all, (count(*) FILTER (WHERE state <> 'idle'))::int AS busy FROM pg_stat_activity WHERE usename = ANY($1)`, [users]);
      peak.all = Math.max(peak.all, r.rows[0]!.all);
      peak.busy = Math.max(peak.busy, r.rows[0]!.busy);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  return { async stop() { running = false; await loop; return peak; } };
}

test('eight agents, each its own login, through PgBouncer set up as the README says, with two server connections: every line once', { skip: noPgBouncer }, async (t) => {
  const db = await testDatabase(t);
  const logins = await agentLogins(t, db, 8);
  const admin = new URL(db.url);
  const { listen_addr: _addr, listen_port: _port, auth_file: _file, ...readme } = readmePgBouncerSettings();
  assert.equal(readme.pool_mode, 'transaction');
  // max_db_connections bounds the server connections of every pool of the database together: an agent's
  // pool with none idle takes one from another pool's idle ones.
  const bouncer = await startPgBouncer(t, db.url, {
    users: [{ user: decodeURIComponent(admin.username), password: decodeURIComponent(admin.password) }, ...logins.map((l) => ({ user: l.user, password: PASSWORD }))],
    extra: { ...readme, max_db_connections: '2' },
  });
  assert.doesNotMatch(bouncer.log(), /unknown parameter|invalid value|WARNING/i, 'PgBouncer takes the README\'s settings as they are');
  const logs: string[] = [];
  const writers = logins.map((l, i) => new Writer(writerOptions(t, i, bouncer.via(l.url), {
    idleCloseMs: 0, log: (level, message, ctx) => logs.push(`${level} ${message} ${JSON.stringify(ctx ?? {})}`),
  })));
  for (const w of writers) {
    const resume = await w.start();
    assert.equal(resume.databaseReachable, true, logs.join('\n'));
  }
  const sampler = sampleBackends(db.client, logins.map((l) => l.user));
  await writeAll(writers, 10, 10);
  await eventually(async () => writers.every((w) => w.status().spoolBatches === 0), 'every spool drained', 20_000);
  const peak = await sampler.stop();
  for (const w of writers) await w.close(2000);
  t.diagnostic(`server connections of the agents peaked at ${peak.all}, ${peak.busy} in a transaction`);
  await assertExactlyOnce(db.client, 8, 100);
  assert.ok(peak.busy >= 1 && peak.busy <= 2, `the agents had ${peak.busy} transactions open at once, PgBouncer allows 2 server connections`);
  const servers = (await bouncer.show('SERVERS')).filter((r) => logins.some((l) => l.user === r.user));
  assert.ok(servers.length <= 2, `PgBouncer holds ${servers.length} server connections for the agents`);
  assert.deepEqual(logs.filter((l) => /unsupported|prepared statement|SET |session/i.test(l)), [], 'nothing session-scoped reaches PgBouncer');
});

test('six agents on one login against a role limited to two connections: idle writers close theirs and everything arrives', async (t) => {
  const db = await testDatabase(t);
  // One login shared by every agent (allowed: ownership is per login and vps/app), limited to 2 slots.
  const [login] = await agentLogins(t, db, 1, 'CONNECTION LIMIT 2');
  const logs: { message: string; ctx: Record<string, unknown> }[] = [];
  const writers = Array.from({ length: 6 }, (_, i) => new Writer(writerOptions(t, i, login!.url, {
    idleCloseMs: 150, log: (_level, message, ctx) => logs.push({ message, ctx: ctx ?? {} }),
  })));
  // Started one by one: start() reads the checkpoint, and its connection closes once idle.
  for (const w of writers) await w.start();
  const sampler = sampleBackends(db.client, [login!.user]);
  await writeAll(writers, 5, 10);
  await eventually(async () => writers.every((w) => w.status().spoolBatches === 0), 'every spool drained', 30_000);
  const peak = await sampler.stop();
  t.diagnostic(`connections of the login peaked at ${peak.all}; ${logs.filter((l) => l.message.startsWith('the database has no free')).length} refusals logged`);
  await assertExactlyOnce(db.client, 6, 50);
  assert.ok(peak.all <= 2, `the login held ${peak.all} connections, its limit is 2`);
  assert.ok(logs.some((l) => l.message.startsWith('the database has no free connection slot') && /too many connections/.test(String(l.ctx.error))),
    'a writer without a slot says so: ' + JSON.stringify([...new Set(logs.map((l) => l.message))]));
  // Idle, every writer gives its slot back.
  await eventually(async () => (await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [login!.user])).rows[0]!.n === 0,
    'every connection closed after the idle close', 5000);
  for (const w of writers) await w.close(2000);
});

test('with idle close 0 the connection stays open between batches', async (t) => {
  const db = await testDatabase(t);
  const [login] = await agentLogins(t, db, 1);
  const w = new Writer(writerOptions(t, 0, login!.url, { idleCloseMs: 0 }));
  await w.start();
  await writeAll([w], 1, 10);
  await eventually(async () => w.status().spoolBatches === 0, 'the batch stored');
  const pid = async () => (await db.client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE usename = $1`, [login!.user])).rows.map((r) => r.pid);
  const before = await pid();
  await new Promise((r) => setTimeout(r, 300));
  await writeAll([w], 1, 10);
  await eventually(async () => w.status().spoolBatches === 0, 'the second batch stored');
  assert.equal(before.length, 1);
  assert.deepEqual(await pid(), before, 'the same backend served both batches');
  await w.close(2000);
});

test('migrations applied through PgBouncer in transaction mode, by two hubs at once', { skip: noPgBouncer }, async (t) => {
  const db = await testDatabase(t, { migrate: false });
  const admin = new URL(db.url);
  const user = decodeURIComponent(admin.username);
  const bouncer = await startPgBouncer(t, db.url, { users: [{ user, password: decodeURIComponent(admin.password) }], poolMode: 'transaction', poolSize: 3 });
  const clients = await Promise.all([0, 1].map(() => connect(bouncer.via(db.url), { statementTimeoutMs: null })));
  t.after(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  const [a, b] = await Promise.all(clients.map((c) => migrate(c)));
  // Each migration is applied once, by one of them; the transaction lock serialises the rest.
  const applied = [...a!, ...b!];
  assert.equal(applied.length, new Set(applied).size, `applied twice: ${applied.join(', ')}`);
  assert.equal(await schemaVersion(db.client), latestVersion());
  assert.deepEqual(await migrate(clients[0]!), [], 'a second run applies nothing');
});
