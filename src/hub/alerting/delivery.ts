// The outbox sender. One notification × channel at a time, each in its own transaction:
//
//   BEGIN → SELECT the oldest due row FOR UPDATE SKIP LOCKED → send (one deadline) →
//   INSERT alert_deliveries (the attempt) → UPDATE alert_outbox (sent | retry at … | failed) → COMMIT
//
// The row stays locked while it is being sent, so two hubs never send it at once; a hub that dies
// mid-send leaves nothing committed, and the row is sent by whoever leads next. The one window left
// — the receiver accepted, the hub died before COMMIT — is why each notification carries a stable
// idempotency key (webhook `Idempotency-Key` header and body, email Message-ID).
// A later notification for the same alert and channel waits for the earlier one (resolved never
// overtakes firing).

import { inTransaction, type PgPool } from '../../db/pg.js';
import type { AlertConfig } from './config.js';
import type { ChannelSender } from './channels.js';
import type { Notification } from './render.js';

export interface DeliveryStats {
  attempts: number;
  sent: number;
  retried: number;
  failed: number;
  lastError: string | null;
}

/** Exponential backoff with ±20 % jitter, capped. attempt is 1-based. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, attempt - 1));
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

interface OutboxRow { id: string; event_id: string; channel: string; attempts: number; message: Notification }

export class Deliverer {
  readonly stats: DeliveryStats = { attempts: 0, sent: 0, retried: 0, failed: 0, lastError: null };

  constructor(
    private readonly pool: PgPool,
    private readonly config: AlertConfig,
    private readonly sender: ChannelSender,
    private readonly instance: string,
    /** The operator's log (the hub's stderr): receivers' replies go here, never into the database. */
    private readonly log?: (level: 'warn', message: string, context: Record<string, unknown>) => void,
  ) {}

  /** Sends due notifications until none is due, `max` were handled, or `shouldStop()`. Returns how many were handled. */
  async drain(max: number, shouldStop: () => boolean): Promise<number> {
    let handled = 0;
    while (handled < max && !shouldStop()) {
      if (!(await this.deliverOne())) break;
      handled++;
    }
    return handled;
  }

  /** Handles one due row; false when none was due. */
  async deliverOne(): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const r = await client.query<OutboxRow>(
        `SELECT o.id, o.event_id, o.channel, o.attempts, o.message FROM alert_outbox o
          WHERE o.status = 'pending' AND o.next_attempt_at <= now()
            AND NOT EXISTS (SELECT 1 FROM alert_outbox e
                             WHERE e.alert_id = o.alert_id AND e.channel = o.channel AND e.status = 'pending' AND e.id < o.id)
          ORDER BY o.next_attempt_at, o.id
          LIMIT 1 FOR UPDATE OF o SKIP LOCKED`);
      const row = r.rows[0];
      if (!row) return false;
      const attempt = row.attempts + 1;
      const channel = this.config.channels.find((c) => c.name === row.channel);
      const started = Date.now();
      const outcome = channel
        ? await this.sender.send(channel, row.message)
        : { ok: false, statusCode: null, error: `channel "${row.channel}" is no longer configured`, permanent: true, retryAfterMs: null };
      const durationMs = Date.now() - started;
      if (!outcome.ok && 'reply' in outcome && outcome.reply) {
        this.log?.('warn', 'alert delivery failed; the receiver replied', { channel: row.channel, outbox: Number(row.id), attempt, error: outcome.error, reply: outcome.reply });
      }
      this.stats.attempts++;
      await client.query(
        `INSERT INTO alert_deliveries (outbox_id, event_id, channel, attempt, success, status_code, error, duration_ms, hub)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [row.id, row.event_id, row.channel, attempt, outcome.ok, outcome.statusCode, outcome.error, durationMs, this.instance]);
      const d = this.config.delivery;
      if (outcome.ok) {
        await client.query(`UPDATE alert_outbox SET status = 'sent', sent_at = now(), attempts = $2, last_error = NULL WHERE id = $1`, [row.id, attempt]);
        this.stats.sent++;
      } else if (outcome.permanent || attempt >= d.maxAttempts) {
        await client.query(`UPDATE alert_outbox SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1`, [row.id, attempt, outcome.error]);
        this.stats.failed++;
        this.stats.lastError = outcome.error;
      } else {
        const delay = Math.max(outcome.retryAfterMs ?? 0, backoffMs(attempt, d.initialBackoffMs, d.maxBackoffMs));
        await client.query(
          `UPDATE alert_outbox SET attempts = $2, last_error = $3, next_attempt_at = now() + $4 * interval '1 millisecond' WHERE id = $1`,
          [row.id, attempt, outcome.error, delay]);
        this.stats.retried++;
        this.stats.lastError = outcome.error;
      }
      return true;
    });
  }
}
