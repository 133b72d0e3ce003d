// Leader election: a session-level PostgreSQL advisory lock held on a dedicated connection (never a
// pooled one: the lock belongs to the session). Whoever holds it evaluates and delivers; the others
// retry every `pollMs`. When the leader's process or connection dies, PostgreSQL drops the lock and
// the next poll elsewhere wins it. While leading, the session is pinged every `pollMs`; a failed
// ping means the lock may be gone, so this hub steps down at once.
//
// Correctness does not rest on the lock alone: evaluation re-checks each alert under a row lock
// and delivery claims outbox rows with FOR UPDATE SKIP LOCKED, so a deposed leader that is still
// finishing a round cannot duplicate anything. The lock keeps the work on one hub.

import { hostname } from 'node:os';
import { connect, type PgClient } from '../../db/pg.js';

export const LEADER_LOCK = 'observ_alerting';

export interface LeadershipEvents {
  onElected: () => void;
  onDeposed: (reason: string) => void;
  log: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
}

export class Leadership {
  private client: PgClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private ticking: Promise<void> | null = null;
  leader = false;
  since: Date | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly instance: string,
    private readonly pollMs: number,
    private readonly events: LeadershipEvents,
    private readonly configSummary: Record<string, unknown>,
  ) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ticking = this.tick().finally(() => { this.ticking = null; this.schedule(this.pollMs); });
    }, delay);
  }

  private async tick(): Promise<void> {
    try {
      if (!this.client) {
        const c = await connect(this.databaseUrl, { applicationName: `fleet-hub alerting ${this.instance}`, connectTimeoutMs: 5000, queryTimeoutMs: 5000, statementTimeoutMs: 5000 });
        c.on('error', (err) => this.depose(`lock session failed: ${err.message}`));
        c.on('end', () => this.depose('lock session ended'));
        if (this.closed) { await c.end().catch(() => {}); return; }
        this.client = c;
      }
      if (!this.leader) {
        const r = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [LEADER_LOCK]);
        if (!r.rows[0]!.ok || this.closed) return;
        this.leader = true;
        this.since = new Date();
        await this.heartbeat(true);
        this.events.log('info', 'alerting: this hub is now the leader', { instance: this.instance });
        this.events.onElected();
      } else {
        await this.heartbeat(false);
      }
    } catch (err) {
      this.depose(`lock session failed: ${(err as Error).message}`);
    }
  }

  private async heartbeat(elected: boolean): Promise<void> {
    await this.client!.query(
      `INSERT INTO alert_leader (singleton, instance, host, pid, since, heartbeat, config) VALUES (true, $1, $2, $3, $4, now(), $5)
       ON CONFLICT (singleton) DO UPDATE SET instance = $1, host = $2, pid = $3, since = $4, heartbeat = now(), config = $5
       ${elected ? '' : 'WHERE alert_leader.instance = $1'}`,
      [this.instance, hostname(), process.pid, this.since, JSON.stringify(this.configSummary)]);
  }

  private depose(reason: string): void {
    const c = this.client;
    this.client = null;
    if (c) { c.removeAllListeners('end'); void c.end().catch(() => {}); }
    if (this.leader) {
      this.leader = false;
      this.since = null;
      if (!this.closed) this.events.log('warn', 'alerting: lost leadership', { instance: this.instance, reason });
      this.events.onDeposed(reason);
    }
  }

  /** Stops polling and releases the lock (by ending the session). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await this.ticking?.catch(() => {});
    const c = this.client;
    if (c && this.leader) await c.query('DELETE FROM alert_leader WHERE instance = $1', [this.instance]).catch(() => {});
    this.depose('closed');
  }
}
