// A real PgBouncer (Debian's `pgbouncer`, 1.18 on bookworm) in front of the test PostgreSQL, started
// and stopped by the test that needs it. Run as the same unprivileged user as the embedded server when
// the suite runs as root: PgBouncer refuses to run as root.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runAsUser } from '../../src/db/embedded.js';
import { connect } from '../../src/db/pg.js';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];
export const PGBOUNCER = CANDIDATES.find((p) => existsSync(p)) ?? null;
/** A skip reason for node:test when PgBouncer is absent, else false (`.ci/run` installs it). */
export const noPgBouncer: string | false = PGBOUNCER ? false : 'pgbouncer not installed (apt-get install -y pgbouncer)';

export interface PgBouncer {
  port: number;
  /** `url` (a PostgreSQL URL) with host and port replaced by PgBouncer's. */
  via(url: string): string;
  /** The admin console's SHOW command, as rows. */
  show(what: 'POOLS' | 'SERVERS' | 'CLIENTS' | 'STATS'): Promise<Record<string, unknown>[]>;
  log(): string;
  child: ChildProcess;
}

export interface PgBouncerOptions {
  /** Every login clients use, with its password (PgBouncer logs in to PostgreSQL with the same). */
  users: { user: string; password: string }[];
  poolMode?: 'transaction' | 'session';
  /** Server connections per database/user pair. */
  poolSize?: number;
  extra?: Record<string, string>;
}

/** Starts PgBouncer in front of the server that `upstreamUrl` names; stopped after the test. */
export async function startPgBouncer(t: TestContext, upstreamUrl: string, options: PgBouncerOptions): Promise<PgBouncer> {
  if (!PGBOUNCER) throw new Error(noPgBouncer as string);
  const upstream = new URL(upstreamUrl);
  const dir = mkdtempSync(join(tmpdir(), 'observ-pgbouncer-'));
  const port = await freePort();
  const admin = options.users[0]!;
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(join(dir, 'userlist.txt'), options.users.map((u) => `${q(u.user)} ${q(u.password)}\n`).join(''));
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: 'scram-sha-256',
    auth_file: join(dir, 'userlist.txt'),
    pool_mode: options.poolMode ?? 'transaction',
    default_pool_size: String(options.poolSize ?? 2),
    max_client_conn: '500',
    admin_users: admin.user,
    logfile: join(dir, 'pgbouncer.log'),
    pidfile: join(dir, 'pgbouncer.pid'),
    ...options.extra,
  };
  writeFileSync(join(dir, 'pgbouncer.ini'), `[databases]\n* = host=${upstream.hostname} port=${upstream.port}\n\n[pgbouncer]\n` +
    Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  const owner = runAsUser();
  if (owner) for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), owner.uid, owner.gid);
  const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited: string | null = null;
  child.once('exit', (code, signal) => { exited = `exited with ${signal ?? code}`; });
  const log = () => { try { return readFileSync(join(dir, 'pgbouncer.log'), 'utf8'); } catch { return stderr; } };
  t.after(async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const via = (url: string) => { const u = new URL(url); u.hostname = '127.0.0.1'; u.port = String(port); return u.toString(); };
  const adminUrl = via(`postgresql://${encodeURIComponent(admin.user)}:${encodeURIComponent(admin.password)}@x/pgbouncer`);
  const show = async (what: string) => {
    const c = await connect(adminUrl, { connectTimeoutMs: 2000, statementTimeoutMs: null });
    // The admin console speaks the simple query protocol only.
    try { return (await c.query({ text: `SHOW ${what}`, queryMode: 'simple' } as never) as unknown as { rows: Record<string, unknown>[] }).rows; } finally { await c.end(); }
  };
  const until = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`pgbouncer ${exited} while starting: ${log().trim().split('\n').slice(-3).join(' | ')}`);
    try { await show('POOLS'); break; } catch (err) {
      if (Date.now() > until) throw new Error(`pgbouncer did not answer within 15 s: ${(err as Error).message}; ${log().slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port, via, show: show as PgBouncer['show'], log, child };
}
