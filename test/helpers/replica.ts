// A primary and a real streaming replica of it, made the way an operator would: the primary with
// wal_level=replica and a replication entry in pg_hba.conf, `pg_basebackup -R` from it, the replica
// started on its own port. Both run from one PostgreSQL installation that has pg_basebackup (the npm
// package's binaries have none, and pg_basebackup refuses a server newer than itself), as the same
// unprivileged user as the embedded server when the suite runs as root.
import type { TestContext } from 'node:test';
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres, freePort, runAsUser } from '../../src/db/embedded.js';
import { connect } from '../../src/db/pg.js';

/** The newest /usr/lib/postgresql/N/bin with postgres, initdb and pg_basebackup, or null. */
export function replicationBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try { versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)); } catch { return null; }
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (['postgres', 'initdb', 'pg_basebackup'].every((b) => existsSync(join(bin, b)))) return bin;
  }
  return null;
}

/** A skip reason when no PostgreSQL installation with pg_basebackup exists (`.ci/run` installs postgresql-15). */
export const noReplication: string | false = replicationBinDir() ? false : 'no PostgreSQL with pg_basebackup under /usr/lib/postgresql (apt-get install -y postgresql-15)';

export interface Replicated {
  primary: EmbeddedPostgres;
  replica: EmbeddedPostgres;
  /** The database both hold (observ_metrics), on each. */
  primaryUrl: string;
  replicaUrl: string;
}

/** Starts a primary, clones it with pg_basebackup -R and starts the clone as a hot standby; both stopped after the test. */
export async function startReplicated(t: TestContext): Promise<Replicated> {
  const binDir = replicationBinDir();
  if (!binDir) throw new Error(noReplication as string);
  const owner = runAsUser();
  const base = mkdtempSync(join(tmpdir(), 'observ-replication-'));
  chmodSync(base, 0o755); // the server user reaches both data directories through it
  const primaryDir = join(base, 'primary');
  const replicaDir = join(base, 'replica');
  const settings = { fsync: 'off', wal_level: 'replica', max_wal_senders: '4', hot_standby: 'on' };
  const primary = new EmbeddedPostgres({ dir: primaryDir, binDir, settings });
  let replica: EmbeddedPostgres | null = null;
  t.after(async () => { await replica?.stop(); await primary.stop(); rmSync(base, { recursive: true, force: true }); });
  await primary.start();

  // initdb's pg_hba.conf already admits replication from 127.0.0.1 on a fresh cluster; the entry is
  // written anyway, so the test does not depend on that default.
  const hba = join(primary.pgdata, 'pg_hba.conf');
  if (!/^host\s+replication\s+all\s+127\.0\.0\.1\/32/m.test(readFileSync(hba, 'utf8'))) {
    appendFileSync(hba, '\nhost replication all 127.0.0.1/32 scram-sha-256\n');
    const c = await connect(primary.urlFor('postgres'));
    try { await c.query('SELECT pg_reload_conf()'); } finally { await c.end(); }
  }

  mkdirSync(join(replicaDir, 'pgdata'), { recursive: true, mode: 0o700 });
  copyFileSync(join(primaryDir, 'pg-password'), join(replicaDir, 'pg-password'));
  if (owner) for (const d of [replicaDir, join(replicaDir, 'pgdata')]) chownSync(d, owner.uid, owner.gid);
  await run(join(binDir, 'pg_basebackup'), ['-d', primary.urlFor('postgres'), '-D', join(replicaDir, 'pgdata'), '-R', '-X', 'stream',
    '--checkpoint=fast', '--no-sync'], owner);

  // A fixed port, so that a test can stop the replica and start it again where the hub looks for it.
  replica = new EmbeddedPostgres({ dir: replicaDir, binDir, port: await freePort(), settings: { fsync: 'off', hot_standby: 'on' } });
  await replica.start();
  return { primary, replica, primaryUrl: primary.url, replicaUrl: replica.url };
}

function run(cmd: string, args: string[], owner: { uid: number; gid: number } | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ? { uid: owner.uid, gid: owner.gid } : {}), env: { ...process.env, LC_MESSAGES: 'C' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; });
    child.stderr!.on('data', (d: Buffer) => { out += d; });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed with ${code}: ${out.trim()}`))));
  });
}
