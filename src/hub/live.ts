// The live feed: LISTEN observ_batch on one dedicated connection and turn each committed batch into
// pushes on uWS pub/sub topics.
//
//   writer COMMIT ──NOTIFY observ_batch {vps, app, seq, metrics, health, logs, events}──► LiveFeed
//        coalesce per vps/app for 100 ms ─► re-read the fleet row ─► publish fleet, vps/<vps>, app/<app>
//                                        └► lines after the last id pushed (if anyone listens) ─► logs/<app>
//
// A lost connection is re-established with backoff, and clients are told to resync (refetch), since
// notifications sent meanwhile are gone.
//
// What changes without a commit — an agent going silent past its threshold, an alert turning pending,
// firing or resolved — is found by a ticker (startTicker): every tick it re-reads the fleet (only while
// someone listens), publishes the rows whose status or open alerts changed, and otherwise a
// {type:'tick', at} heartbeat that tells open pages the hub is alive and what time it is there.
import { loadPg, clientConfig, type PgPool, type PgClient } from '../db/pg.js';
import { fleetKey, queryFleet, type FleetOptions } from './api/fleet.js';
import type { FleetCache } from './fleet-cache.js';
import type { FleetRow } from './api/types.js';
import { logsAfter } from './api/logs.js';

export interface LiveStats {
  published: number;
  logLinesPushed: number;
  /** Apps with a live tail now (each holds a cursor per agent). */
  logTails?: number;
  /** Starting-point reads run, and those skipped because the last subscriber had left before their turn. */
  logStartReads?: number;
  logStartReadsSkipped?: number;
  /** Warnings not logged because the same one was logged less than LIVE_WARN_INTERVAL_MS before. */
  warningsSuppressed?: number;
}

export interface LivePublisher {
  publish(topic: string, message: string): unknown;
  numSubscribers(topic: string): number;
}

export type LiveLog = (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;

/** Lines pushed per agent per round at most; a client that sees `truncated` refetches the page. */
export const LIVE_LOG_LINES_MAX = 500;

/** Starting-point reads at once: the rest of the pool stays for the API (fleet, search). */
export const LIVE_START_READS = 2;
/** Apps tailed at once; a watch beyond is refused (each costs a read and a cursor per agent). */
export const LIVE_MAX_TAILED_APPS = 5000;
/** The same warning is logged at most once per interval, with the count of those it stood for. */
export const LIVE_WARN_INTERVAL_MS = 10_000;

interface LogTail {
  /** Last log id pushed per vps of the app. */
  cursors: Map<string, string>;
  /** Settles once the starting point is read (or skipped). */
  ready: Promise<void>;
  settle: () => void;
}

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
  /** Per app with a live tail (someone listens to logs/<app>): its cursors; freed with the last listener. */
  private readonly tails = new Map<string, LogTail>();
  /** Apps whose starting point is still to be read, oldest first (a Set: an unwatch takes an app out in O(1)). */
  private readonly startQueue = new Set<string>();
  private startsRunning = 0;
  private sweepAt = 64;
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly url: string,
    private readonly pool: PgPool,
    private readonly out: LivePublisher,
    private readonly stats: LiveStats,
    private readonly log: LiveLog,
    private readonly fleetOptions: FleetOptions = {},
    /** Kept current with every re-read (the fleet overview served from memory). */
    private readonly cache: FleetCache | null = null,
    /** Told of every committed batch (the anomaly detectors read the new rows soon after). */
    private readonly onCommit: (() => void) | null = null,
  ) {
    stats.logTails = 0;
    stats.logStartReads = 0;
    stats.logStartReadsSkipped = 0;
    stats.warningsSuppressed = 0;
  }

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
      this.onCommit?.();
      const key = fleetKey(p.vps, p.app);
      const cur = this.pending.get(key) ?? { vps: p.vps, app: p.app, logs: 0 };
      cur.logs += typeof p.logs === 'number' ? p.logs : 0;
      this.pending.set(key, cur);
      this.schedule();
    });
    await client.connect();
    await client.query('LISTEN observ_batch');
    this.client = client;
    this.attempts = 0;
    this.cache?.listening(true);
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
    this.cache?.listening(false);
    const delay = Math.min(30_000, 250 * 2 ** this.attempts++);
    this.log('warn', 'live feed lost its database connection; reconnecting', { reason, inMs: delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.start().then(
        () => {
          for (const app of [...this.tails.keys()]) { this.unwatchLogs(app); this.watchLogs(app); }
          this.out.publish('fleet', JSON.stringify({ type: 'resync' }));
        },
        (err: Error) => this.reconnect(err.message));
    }, delay);
  }

  private async publishRound(): Promise<void> {
    const batch = [...this.pending.entries()];
    this.pending.clear();
    for (const [, { vps, app, logs }] of batch) {
      if (this.closed) return;
      try {
        const readAt = Date.now();
        const rows = await queryFleet(this.pool, { vps, app }, this.fleetOptions);
        if (this.closed) return;
        this.cache?.put(rows, readAt);
        this.remember(rows);
        const msg = JSON.stringify({ type: 'fleet', rows, at: new Date().toISOString() });
        this.out.publish('fleet', msg);
        this.out.publish(`vps/${vps}`, msg);
        this.out.publish(`app/${app}`, msg);
        this.stats.published++;
        await this.pushLogs(vps, app, logs);
      } catch (err) {
        this.warn('live update failed', { vps, app, error: (err as Error).message });
      }
    }
  }

  /**
   * Called when logs/<app> gets its first subscriber: remember where each of the app's agents stands,
   * so that only lines committed from now on are pushed (the client fetches the page before via the API).
   * Watching an app already watched does nothing; the reads are queued, LIVE_START_READS at a time,
   * and an app whose listeners left before its turn is not read at all. Resolves once the starting
   * point is known (lines committed after that are pushed), or at once when refused (too many apps).
   */
  watchLogs(app: string): Promise<void> {
    const watched = this.tails.get(app);
    if (watched) return watched.ready;
    if (this.tails.size >= this.sweepAt) {
      this.sweepTails();
      this.sweepAt = Math.max(64, 2 * this.tails.size);
    }
    if (this.tails.size >= LIVE_MAX_TAILED_APPS) {
      this.warn('live log tail refused: too many apps tailed at once', { app: app.slice(0, 80), max: LIVE_MAX_TAILED_APPS });
      return Promise.resolve();
    }
    let settle!: () => void;
    const ready = new Promise<void>((resolve) => { settle = resolve; });
    this.tails.set(app, { cursors: new Map(), ready, settle });
    this.stats.logTails = this.tails.size;
    // Read now when a slot is free (the server subscribes the socket right after this call, so the
    // subscriber count is checked only for reads that had to wait).
    if (this.startsRunning < LIVE_START_READS) this.readStart(app);
    else this.startQueue.add(app);
    return ready;
  }

  /** Called when logs/<app> loses its last subscriber: its cursors and any queued read go. Idempotent. */
  unwatchLogs(app: string): void {
    const tail = this.tails.get(app);
    if (!tail) return;
    this.tails.delete(app);
    this.stats.logTails = this.tails.size;
    if (this.startQueue.delete(app)) this.stats.logStartReadsSkipped = (this.stats.logStartReadsSkipped ?? 0) + 1;
    tail.settle();
  }

  private pumpStarts(): void {
    while (!this.closed && this.startsRunning < LIVE_START_READS && this.startQueue.size) {
      const app = this.startQueue.values().next().value as string;
      this.startQueue.delete(app);
      const tail = this.tails.get(app);
      if (!tail) continue;
      // A server that does not call unwatchLogs still frees an app nobody listens to any more.
      if (!this.out.numSubscribers(`logs/${app}`)) {
        this.stats.logStartReadsSkipped = (this.stats.logStartReadsSkipped ?? 0) + 1;
        this.unwatchLogs(app);
        continue;
      }
      this.readStart(app);
    }
  }

  private readStart(app: string): void {
    const tail = this.tails.get(app);
    if (!tail) return;
    this.startsRunning++;
    this.stats.logStartReads = (this.stats.logStartReads ?? 0) + 1;
    this.pool.query<{ vps_name: string; last_id: string | null }>(
      `SELECT c.vps_name, (SELECT max(l.id) FROM log_entries l WHERE l.vps_name = c.vps_name AND l.app_name = c.app_name)::text AS last_id
         FROM agent_checkpoints c WHERE c.app_name = $1`, [app]).then((r) => {
      if (this.tails.get(app) === tail) for (const row of r.rows) tail.cursors.set(row.vps_name, row.last_id ?? '0');
    }, (err: Error) => this.warn('live log tail could not read its starting point', { app: app.slice(0, 80), error: err.message }))
      .finally(() => {
        this.startsRunning--;
        tail.settle();
        this.pumpStarts();
      });
  }

  /** Frees the tails of apps nobody listens to (for servers that do not call unwatchLogs). */
  private sweepTails(): void {
    for (const app of [...this.tails.keys()]) if (!this.out.numSubscribers(`logs/${app}`)) this.unwatchLogs(app);
  }

  private warn(message: string, context: Record<string, unknown>): void {
    const now = Date.now();
    const w = this.warned.get(message);
    if (w && now - w.at < LIVE_WARN_INTERVAL_MS) {
      w.suppressed++;
      this.stats.warningsSuppressed = (this.stats.warningsSuppressed ?? 0) + 1;
      return;
    }
    this.log('warn', message, w?.suppressed ? { ...context, suppressedSinceLast: w.suppressed } : context);
    this.warned.set(message, { at: now, suppressed: 0 });
  }

  private async pushLogs(vps: string, app: string, newLines: number): Promise<void> {
    const topic = `logs/${app}`;
    const tail = this.tails.get(app);
    if (!tail) return;
    if (!this.out.numSubscribers(topic)) { this.unwatchLogs(app); return; }
    if (newLines <= 0) return;
    await tail.ready;
    if (this.tails.get(app) !== tail) return;
    // An agent unknown when the watch began has only new lines.
    const after = tail.cursors.get(vps) ?? '0';
    const entries = await logsAfter(this.pool, vps, app, after, LIVE_LOG_LINES_MAX);
    if (!entries.length || this.closed || this.tails.get(app) !== tail) return;
    tail.cursors.set(vps, entries[entries.length - 1]!.id);
    this.out.publish(topic, JSON.stringify({ type: 'logs', app, vps, entries, truncated: entries.length === LIVE_LOG_LINES_MAX }));
    this.stats.logLinesPushed += entries.length;
  }

  // ── Ticker: liveness and alert state pushed without a commit ──────────────────────────────────────
  private ticker: NodeJS.Timeout | null = null;
  private ticking = false;
  /** Per agent (vps\0app): what was last published about its state. */
  private readonly lastState = new Map<string, string>();

  private static stateOf(r: FleetRow): string {
    return JSON.stringify([r.status, r.stale, r.alerts.map((a) => [a.rule, a.subject, a.status])]);
  }

  private remember(rows: FleetRow[]): void {
    for (const r of rows) this.lastState.set(fleetKey(r.vps, r.app), LiveFeed.stateOf(r));
  }

  /** Starts the ticker (see the header); `everyMs` is also sent to clients in `hello` as their watchdog's base. */
  startTicker(everyMs: number): void {
    if (this.ticker || this.closed) return;
    this.ticker = setInterval(() => { void this.tick(); }, everyMs);
    this.ticker.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed || !this.out.numSubscribers('fleet')) return;
    this.ticking = true;
    try {
      const readAt = Date.now();
      const rows = await queryFleet(this.pool, {}, this.fleetOptions);
      if (this.closed) return;
      this.cache?.replace(rows, readAt);
      const changed = rows.filter((r) => this.lastState.get(fleetKey(r.vps, r.app)) !== LiveFeed.stateOf(r));
      const present = new Set(rows.map((r) => fleetKey(r.vps, r.app)));
      for (const k of this.lastState.keys()) if (!present.has(k)) this.lastState.delete(k);
      this.remember(changed);
      const at = new Date().toISOString();
      if (!changed.length) { this.out.publish('fleet', JSON.stringify({ type: 'tick', at })); return; }
      const msg = JSON.stringify({ type: 'fleet', rows: changed, at });
      this.out.publish('fleet', msg);
      for (const r of changed) {
        const one = JSON.stringify({ type: 'fleet', rows: [r], at });
        this.out.publish(`vps/${r.vps}`, one);
        this.out.publish(`app/${r.app}`, one);
      }
      this.stats.published++;
    } catch (err) {
      this.log('warn', 'live tick failed', { error: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
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
