// The fleet overview held in the hub's memory, so GET /api/fleet does not read the database per request.
//
//   full read (a miss, or the live ticker's)  ─► replace()   every agent's row
//   NOTIFY observ_batch ─► LiveFeed re-reads that agent ─► put()   one agent's row, within ~100 ms of COMMIT
//   lost LISTEN connection ─► listening(false): reads go to the database until a full read after it is back
//
// A row is as new as the last batch (put) or the last full read; what changes without a batch — open
// alerts — is as old as the last full read, at most `maxAgeMs` (the ticker reads every tick while pages
// are open; without them the first request after maxAgeMs reads again). Staleness is recomputed on every
// request from the row's last-seen time, so an agent that goes silent turns stale on time, by the hub's clock.
import type { PgPool } from '../db/pg.js';
import { fleetKey, fleetStatus, isStale, queryFleet, type FleetOptions } from './api/fleet.js';
import type { FleetRow } from './api/types.js';

interface Entry {
  row: FleetRow;
  /** When the read that produced it started (ms): an older read never replaces it. */
  readAt: number;
}

export class FleetCache {
  private rows = new Map<string, Entry>();
  private syncedAt = -Infinity;
  private up = false;
  private upSince = Infinity;
  private loading: Promise<void> | null = null;
  /** Reads of the whole fleet and requests answered from memory (for tests and benches). */
  readonly stats = { fullReads: 0, hits: 0 };

  constructor(
    private readonly pool: PgPool,
    private readonly options: FleetOptions,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether batch notifications arrive (the live feed's LISTEN connection is up). */
  listening(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    // Notifications sent while it was down are lost: only a full read begun after it is back counts.
    this.syncedAt = -Infinity;
    this.upSince = up ? this.now() : Infinity;
  }

  /** Every agent's row, in the database's order, from a read that started at `readAt`. */
  replace(rows: FleetRow[], readAt: number): void {
    const next = new Map<string, Entry>();
    for (const row of rows) {
      const k = fleetKey(row.vps, row.app);
      const cur = this.rows.get(k);
      next.set(k, cur && cur.readAt > readAt ? cur : { row, readAt });
    }
    // An agent first seen by a re-read newer than this read stays (at the end, until the next full read).
    for (const [k, e] of this.rows) if (!next.has(k) && e.readAt > readAt) next.set(k, e);
    this.rows = next;
    if (readAt >= this.upSince) this.syncedAt = Math.max(this.syncedAt, readAt);
  }

  /** Rows of some agents (the re-read after their batch), from a read that started at `readAt`. */
  put(rows: FleetRow[], readAt: number): void {
    for (const row of rows) {
      const k = fleetKey(row.vps, row.app);
      const cur = this.rows.get(k);
      if (!cur || cur.readAt <= readAt) this.rows.set(k, { row, readAt });
    }
  }

  async fleet(filter: { vps?: string; app?: string } = {}): Promise<FleetRow[]> {
    if (!this.up) return queryFleet(this.pool, filter, this.options);
    if (this.now() - this.syncedAt > this.maxAgeMs) {
      this.loading ??= this.fullRead().finally(() => { this.loading = null; });
      await this.loading;
    } else {
      this.stats.hits++;
    }
    const now = this.now();
    const out: FleetRow[] = [];
    for (const { row } of this.rows.values()) {
      if ((filter.vps !== undefined && row.vps !== filter.vps) || (filter.app !== undefined && row.app !== filter.app)) continue;
      const stale = row.stale || isStale(row.lastSeen, row.collectionInterval, now);
      out.push(stale === row.stale ? row : { ...row, stale, status: fleetStatus({ ...row, stale }, this.options.statusFromAlerts ?? false) });
    }
    return out;
  }

  private async fullRead(): Promise<void> {
    const readAt = this.now();
    const rows = await queryFleet(this.pool, {}, this.options);
    this.stats.fullReads++;
    this.replace(rows, readAt);
  }
}
