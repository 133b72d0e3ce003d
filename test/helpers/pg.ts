// Test databases on a real PostgreSQL. Under `npm test` the runner provides one server
// (OBSERV_TEST_PG_URL); a test file run on its own starts a private embedded server.
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EmbeddedPostgres } from '../../src/db/embedded.js';
import { connect, type PgClient } from '../../src/db/pg.js';
import { migrate } from '../../src/db/migrate.js';

let sharedPrivate: Promise<string> | null = null;

async function adminUrl(): Promise<string> {
  if (process.env.OBSERV_TEST_PG_URL) return process.env.OBSERV_TEST_PG_URL;
  sharedPrivate ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'observ-test-pg-'));
    const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off' } });
    await pg.start();
    process.once('exit', () => { try { process.kill(pg.pid!, 'SIGINT'); } catch { /* gone */ } });
    return pg.urlFor('postgres');
  })();
  return sharedPrivate;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

export interface TestDatabase {
  url: string;
  client: PgClient;
  name: string;
}

/** A fresh database (migrated unless `migrate: false`), dropped after the test. */
export async function testDatabase(t: TestContext, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const c = await connect(admin);
  try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
  const url = withDatabase(admin, name);
  const client = await connect(url);
  if (options.migrate !== false) await migrate(client);
  t.after(async () => {
    await client.end().catch(() => {});
    const a = await connect(admin);
    try { await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } finally { await a.end(); }
  });
  return { url, client, name };
}

/** A private PostgreSQL server for tests that stop or freeze it. */
export async function privateServer(t: TestContext, settings: Record<string, string> = {}): Promise<EmbeddedPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'observ-pg-'));
  const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off', ...settings } });
  await pg.start();
  t.after(async () => { await pg.stop(); rmSync(dir, { recursive: true, force: true }); });
  return pg;
}

/** Polls `check` until it returns a truthy value or the deadline passes (bounded). */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) { last = err; }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
