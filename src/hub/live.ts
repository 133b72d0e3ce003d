// The live feed: LISTEN observ_batch on one dedicated connection and turn each committed batch into
// pushes on uWS pub/sub topics.
//
//   writer COMMIT ──NOTIFY observ_batch {vps, app, seq, metrics, health, logs, events}──► LiveFeed
//        coalesce per vps/app for 100 ms ─► re-read the fleet row ─► publish fleet, vps/<vps>, app/<app>
//                                        └► lines after the last id pushed (if anyone listens) ─► logs/<app>
//
// A lost connection is re-established with backoff, and clients are told to resync (refetch), since
// notifications sent meanwhile are gone.
import { loadPg, clientConfig, type PgPool, type PgClient } from '../db/pg.js';
import { queryFleet } from './api/fleet.js';
import { logsAfter } from './api/logs.js';

export interface LiveStats {
  published: number;
  logLinesPushed: number;
}

export interface LivePublisher {
  publish(topic: string, message: string): unknown;
  numSubscribers(topic: string): number;
}

export type LiveLog = (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;

/** Lines pushed per agent per round at most; a client that sees `truncated` refetches the page. */
export const LIVE_LOG_LINES_MAX = 500;

interface Pending {
  vps: string;
  app: string;
  logs: number;
}

export class LiveFeed {
  private client: PgClient | null = null;
  private closed = false;
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private running: Promise<void> | null = null;
  /** Last log id pushed per agent (vps\0app); present only while someone listens to logs/<app>. */
  private readonly logCursor = new Map<string, string>();
  /** Per app with a live tail: the read of its agents' starting points. */
  private readonly logWatch = new Map<string, Promise<void>>();

  constructor(
    private readonly url: string,
    private readonly pool: PgPool,
    private readonly out: LivePublisher,
    private readonly stats: LiveStats,
    private readonly log: LiveLog,
  ) {}

  async start(): Promise<void> {
    const pg = loadPg();
    const client = new pg.Client({ ...clientConfig(this.url, { applicationName: 'fleet-hub live', queryTimeoutMs: 10_000 }) });
    client.on('error', (err) => this.reconnect(err.message));
    client.on('end', () => this.reconnect('connection ended'));
    client.on('notification', (n) => {
      if (n.channel !== 'observ_batch' || !n.payload) return;
      let p: { vps?: unknown; app?: unknown; logs?: unknown };
      try { p = JSON.parse(n.payload) as typeof p; } catch { return; }
      if (typeof p.vps !== 'string' || typeof p.app !== 'string') return;
      const key = `${p.vps}\u0000${p.app}`;
      const cur = this.pending.get(key) ?? { vps: p.vps, app: p.app, logs: 0 };
      cur.logs += typeof p.logs === 'number' ? p.logs : 0;
      this.pending.set(key, cur);
      this.schedule();
    });
    await client.connect();
    await client.query('LISTEN observ_batch');
    this.client = client;
    this.attempts = 0;
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      // One round at a time (the log cursors must advance in order); a round requested meanwhile follows.
      const prev = this.running ?? Promise.resolve();
      this.running = prev.then(() => this.publishRound()).finally(() => { if (this.pending.size) this.schedule(); });
    }, 100);
  }

  private reconnect(reason: string): void {
    if (this.closed || this.reconnectTimer) return;
    this.client = null;
    const delay = Math.min(30_000, 250 * 2 ** this.attempts++);
    this.log('warn', 'live feed lost its database connection; reconnecting', { reason, inMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.start().then(
        () => {
          for (const app of this.logWatch.keys()) this.watchLogs(app);
          this.out.publish('fleet', JSON.stringify({ type: 'resync' }));
        },
        (err: Error) => this.reconnect(err.message));
    }, delay);
  }

  private async publishRound(): Promise<void> {
    const batch = [...this.pending.entries()];
    this.pending.clear();
    for (const [key, { vps, app, logs }] of batch) {
      if (this.closed) return;
      try {
        const rows = await queryFleet(this.pool, { vps, app });
        if (this.closed) return;
        const msg = JSON.stringify({ type: 'fleet', rows, at: new Date().toISOString() });
        this.out.publish('fleet', msg);
        this.out.publish(`vps/${vps}`, msg);
        this.out.publish(`app/${app}`, msg);
        this.stats.published++;
        await this.pushLogs(key, vps, app, logs);
      } catch (err) {
        this.log('warn', 'live update failed', { vps, app, error: (err as Error).message });
      }
    }
  }

  /**
   * Called when logs/<app> gets its first subscriber: remember where each of the app's agents stands,
   * so that only lines committed from now on are pushed (the client fetches the page before via the API).
   * Resolves once the starting point is known: lines committed after that are pushed.
   */
  watchLogs(app: string): Promise<void> {
    const ready = this.pool.query<{ vps_name: string; last_id: string | null }>(
      `SELECT c.vps_name, (SELECT max(l.id) FROM log_entries l WHERE l.vps_name = c.vps_name AND l.app_name = c.app_name)::text AS last_id
         FROM agent_checkpoints c WHERE c.app_name = $1`, [app]).then((r) => {
      for (const row of r.rows) this.logCursor.set(`${row.vps_name}\u0000${app}`, row.last_id ?? '0');
    }, (err: Error) => this.log('warn', 'live log tail could not read its starting point', { app, error: err.message }));
    this.logWatch.set(app, ready);
    return ready;
  }

  private async pushLogs(key: string, vps: string, app: string, newLines: number): Promise<void> {
    const topic = `logs/${app}`;
    if (!this.out.numSubscribers(topic)) { this.logCursor.delete(key); this.logWatch.delete(app); return; }
    if (newLines <= 0) return;
    await this.logWatch.get(app);
    // An agent unknown when the watch began has only new lines.
    const after = this.logCursor.get(key) ?? '0';
    const entries = await logsAfter(this.pool, vps, app, after, LIVE_LOG_LINES_MAX);
    if (!entries.length || this.closed) return;
    this.logCursor.set(key, entries[entries.length - 1]!.id);
    this.out.publish(topic, JSON.stringify({ type: 'logs', app, vps, entries, truncated: entries.length === LIVE_LOG_LINES_MAX }));
    this.stats.logLinesPushed += entries.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
    await this.running?.catch(() => {});
  }
}
