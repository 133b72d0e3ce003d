// Fault-test plumbing: the real agent as a child process (`node bin/observ.js agent …`), a line-writer
// process, a PostgreSQL server that can be stopped, restarted and frozen, and queries for what was stored.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedPostgres } from '../../src/db/embedded.js';
import { connect } from '../../src/db/pg.js';
import { privateServer, eventually } from '../helpers/pg.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LINE_WRITER = fileURLToPath(new URL('./fixtures/line-writer.js', import.meta.url));

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A private server that can be stopped and started again on the same data directory and port. */
export class RestartableServer {
  private current: EmbeddedPostgres;
  private constructor(first: EmbeddedPostgres) { this.current = first; }

  static async create(t: TestContext): Promise<RestartableServer> {
    let server: RestartableServer | null = null;
    // Registered before privateServer's own cleanup, so it runs first (after-hooks run in order).
    t.after(async () => { await server?.current.stop(); });
    const pg = await privateServer(t);
    server = new RestartableServer(pg);
    return server;
  }

  get url(): string { return this.current.url; }
  get running(): boolean { return this.current.pid !== null; }
  async stop(): Promise<void> { await this.current.stop(); }
  async start(): Promise<void> {
    const next = new EmbeddedPostgres({ dir: this.current.dir, port: this.current.port, settings: { fsync: 'off' } });
    await next.start();
    this.current = next;
  }
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the whole server: the postmaster and every backend. */
  signal(sig: NodeJS.Signals): void {
    this.current.signal(sig);
  }
}

export interface AgentConfigOptions {
  url: string;
  logFile: string;
  flushInterval?: number;
  dbTimeout?: number;
  spoolMaxMb?: number;
  collectionInterval?: number;
}

export interface FaultScene {
  pg: RestartableServer;
  dir: string;
  /** The app's log file, created empty. */
  logFile: string;
  stateDir: string;
  /** The agent's config.yml, pointing at `pg` and `logFile`. */
  config: string;
}

/** What every fault test starts from: a restartable PostgreSQL, a scratch dir, an empty log file and an agent config. */
export async function faultScene(t: TestContext, name: string, o: Omit<AgentConfigOptions, 'url' | 'logFile'> & { stateDir?: (dir: string) => string } = {}): Promise<FaultScene> {
  const pg = await RestartableServer.create(t);
  const dir = tempDir(t, `observ-fault-${name}-`);
  const logFile = join(dir, 'app.log');
  const stateDir = o.stateDir ? o.stateDir(dir) : join(dir, 'state');
  writeFileSync(logFile, '');
  const { stateDir: _s, ...configOptions } = o;
  void _s;
  const config = writeAgentConfig(dir, { url: pg.url, logFile, ...configOptions });
  return { pg, dir, logFile, stateDir, config };
}

export function writeAgentConfig(dir: string, o: AgentConfigOptions): string {
  const file = join(dir, 'config.yml');
  writeFileSync(file, [
    'monitoring:',
    '  enabled: true',
    `  postgres_url: "${o.url}"`,
    `  collection_interval: ${o.collectionInterval ?? 10}`,
    `  flush_interval: ${o.flushInterval ?? 1}`,
    `  db_timeout: ${o.dbTimeout ?? 3}`,
    `  spool_max_mb: ${o.spoolMaxMb ?? 64}`,
    '  log_files:',
    `    - ${o.logFile}`,
    '',
  ].join('\n'));
  return file;
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];

  constructor(t: TestContext, app: string, configFile: string, stateDir: string, env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [join(REPO_ROOT, 'bin/observ.js'), 'agent', app, '--config', configFile, '--state-dir', stateDir,
      '--vps-name', 'fault-vps'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let partial = '';
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        this.lines.push(line);
        if (process.env.OBSERV_FAULT_VERBOSE) process.stderr.write(`[agent ${this.child.pid}] ${line}\n`);
        this.waiters = this.waiters.filter((w) => { if (w.re.test(line)) { w.resolve(line); return false; } return true; });
      }
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    t.after(async () => { if (this.child.exitCode === null && this.child.signalCode === null) { this.child.kill('SIGKILL'); await this.exited; } });
  }

  /** Resolves with the first log line (past or future) matching `re`. */
  waitForLog(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not log ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join('\n')}`)), timeoutMs);
      this.waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try { return await this.exited; } finally { clearTimeout(timer); }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Runs the line-writer process to completion: lines fault-line-<from> … fault-line-<from+count-1>. */
export function writeLines(file: string, from: number, count: number, perTick = 100, intervalMs = 10): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LINE_WRITER, file, String(from), String(count), String(perTick), String(intervalMs)], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`line writer exited with ${code}`))));
  });
}

export function expectedLines(from: number, count: number): string[] {
  const out: string[] = [];
  for (let n = from; n < from + count; n++) out.push(`fault-line-${String(n).padStart(6, '0')}`);
  return out;
}

export async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await connect(url, { connectTimeoutMs: 3000, queryTimeoutMs: 10_000 });
  try { return (await c.query<T>(sql, params)).rows; } finally { await c.end().catch(() => {}); }
}

export async function storedMessages(url: string, app: string): Promise<{ total: number; distinct: number; messages: Set<string> }> {
  const rows = await query<{ message: string }>(url, `SELECT message FROM log_entries WHERE app_name = $1 AND message LIKE 'fault-line-%'`, [app]);
  const messages = new Set(rows.map((r) => r.message));
  return { total: rows.length, distinct: messages.size, messages };
}

/** Waits until `count` distinct lines are stored. */
export async function waitForLines(url: string, app: string, count: number, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    const r = await query<{ n: string }>(url, `SELECT count(DISTINCT message) AS n FROM log_entries WHERE app_name = $1`, [app]);
    return Number(r[0]!.n) >= count;
  }, `${count} lines stored`, timeoutMs, 250);
}

export { eventually };
