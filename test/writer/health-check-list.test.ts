// The agent's health checks travel with its checkpoint (migration 110), so the hub shows the checks it
// runs now. An agent upgraded before its database (no migration 110), or before sql/roles.sql was run
// again, stores everything as before and says why the list is missing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { testDatabase, eventually, type TestDatabase } from '../helpers/pg.js';
import { Writer, type WriterOptions } from '../../src/workers/writer/writer.js';
import type { HealthCheckConfig } from '../../src/supervisor/config.js';

const sqlFile = (rel: string) => readFileSync(fileURLToPath(new URL(`../../../sql/${rel}`, import.meta.url)), 'utf8');

const CHECKS: HealthCheckConfig[] = [
  { url: 'http://127.0.0.1:8000/health', interval: 30, timeout: 10, method: 'GET', headers: { authorization: 'Bearer secret' },
    expectStatus: [], expectBody: null, followRedirects: false },
  { url: 'https://shop.example.com/', interval: 300, timeout: 5, method: 'HEAD', headers: {}, expectStatus: [], expectBody: null, followRedirects: true },
];

/** Runs a writer with CHECKS until one batch with a log line is committed, and returns what it logged. */
async function storeOneBatch(t: TestContext, postgresUrl: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'observ-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: string[] = [];
  const options: WriterOptions = { postgresUrl, vpsName: 'vps-w', app: 'writer', collectionInterval: 60, healthChecks: CHECKS,
    flushIntervalMs: 60_000, spoolDir: dir, spoolMaxBytes: 8 * 1024 * 1024, queryTimeoutMs: 2000, retryBaseMs: 50, retryMaxMs: 200,
    log: (level, message) => logs.push(`${level} ${message}`) };
  const w = new Writer(options);
  await w.start();
  w.addLogs([{ timestamp: new Date().toISOString(), level: 'INFO', logger: null, message: 'one line', context: null, exception: null,
    flags: [], raw: null, sourceFile: '/var/log/app.log' }], { path: '/var/log/app.log', identity: null, offset: 9 }, 9);
  await w.flush();
  await eventually(async () => w.status().spoolBatches === 0, 'the batch committed', 10_000);
  await w.close(1000);
  return logs;
}

async function stored(db: TestDatabase): Promise<{ health_checks: unknown; lines: number; files: unknown }> {
  const r = await db.client.query<{ health_checks: unknown; lines: number; files: unknown }>(
    `SELECT c.health_checks, (SELECT count(*)::int FROM log_entries) AS lines, c.files FROM agent_checkpoints c WHERE c.app_name = 'writer'`);
  assert.equal(r.rows.length, 1);
  return r.rows[0]!;
}

test('the checkpoint carries the checks the agent runs: URL, interval and timeout only (no headers)', async (t) => {
  const db = await testDatabase(t);
  const logs = await storeOneBatch(t, db.url);
  const row = await stored(db);
  assert.deepEqual(row.health_checks, [
    { url: 'http://127.0.0.1:8000/health', interval: 30, timeout: 10 },
    { url: 'https://shop.example.com/', interval: 300, timeout: 5 },
  ]);
  assert.equal(row.lines, 1);
  assert.ok(!logs.some((l) => /health checks/.test(l)), logs.join('\n'));
});

test('against a database before migration 110 the batch is stored as before, and the agent says why its checks are not', async (t) => {
  const db = await testDatabase(t);
  // The schema as 040 left it: no column, the seven-argument function only.
  const save040 = /CREATE OR REPLACE FUNCTION observ_checkpoint_save\(.*?\n\$\$;/s.exec(sqlFile('migrations/040_agent_ownership.sql'))![0];
  await db.client.query(`DROP FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz, jsonb);
    ${save040}
    ALTER TABLE agent_checkpoints DROP COLUMN health_checks;`);
  const logs = await storeOneBatch(t, db.url);
  const r = await db.client.query<{ lines: number; batch_seq: string }>(
    `SELECT (SELECT count(*)::int FROM log_entries) AS lines, batch_seq FROM agent_checkpoints WHERE app_name = 'writer'`);
  assert.equal(r.rows[0]!.lines, 1, 'the line is stored once');
  assert.ok(Number(r.rows[0]!.batch_seq) > 0, 'and the checkpoint moved');
  assert.ok(logs.some((l) => /^warn the database cannot store this agent's list of health checks \(migration 110/.test(l)), logs.join('\n'));
});

test('an agent login whose group may not call the new function (sql/roles.sql not run again) stores everything; the list stays empty', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(sqlFile('roles.sql'));
  await db.client.query('REVOKE EXECUTE ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz, jsonb) FROM observ_agent');
  const name = `agent_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.client.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE observ_agent`);
  t.after(async () => {
    await db.client.query(`DROP OWNED BY ${name}`).catch(() => {});
    await db.client.query(`DROP ROLE IF EXISTS ${name}`).catch(() => {});
  });
  const u = new URL(db.url);
  u.username = name;
  u.password = password;
  const logs = await storeOneBatch(t, u.toString());
  const row = await stored(db);
  assert.equal(row.lines, 1);
  assert.equal(row.health_checks, null);
  assert.ok(logs.some((l) => /sql\/roles\.sql not run again/.test(l)), logs.join('\n'));
});
