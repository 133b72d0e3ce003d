// The alerting API as plain async functions returning JSON-ready objects; the hub routes them.
//   GET  /api/alert-events?vps&app&rule&kind&since&until&before&limit → events(query)   (history, newest first)
//   GET  /api/alerts?status=open|firing|pending|resolved|all&vps&app   → alerts(query)   (current states)
//   GET  /api/alert-rules                                              → rules()         (read-only)
//   GET  /api/alert-deliveries?status&limit                            → deliveries(query)
//   POST /api/alerts/:id/ack  {by?, comment?}                          → ack(id, body)
// Errors carry an HTTP `status` line ('400 Bad Request', '404 Not Found', '409 Conflict'), which the
// hub's API wrapper turns into the response status.

import type { PgPool } from '../../db/pg.js';
import { inTransaction } from './tx.js';
import { choiceParam, idParam, intParam, optionalName, optionalTime, parseTime, rejectUnknown } from '../api/params.js';

export class AlertApiError extends Error {
  constructor(readonly status: string, message: string) {
    super(message);
    this.name = 'AlertApiError';
  }
}

const bad = (m: string) => new AlertApiError('400 Bad Request', m);

export interface AlertEventQuery {
  vps?: string;
  app?: string;
  rule?: string;
  kind?: string;
  /** ISO date-times. */
  since?: string;
  until?: string;
  /** Cursor: events with an id below this (from the previous page's `nextBefore`). */
  before?: number;
  /** 1–500, default 100. */
  limit?: number;
  alertId?: number;
}

const KINDS = ['pending', 'firing', 'resolved', 'cleared', 'reminder', 'acknowledged'] as const;
const EVENT_PARAMS = ['vps', 'app', 'rule', 'kind', 'since', 'until', 'before', 'limit', 'alert'];

/** URLSearchParams → AlertEventQuery, validated (throws BadRequest, a 400 naming the parameter). */
export function parseEventQuery(q: URLSearchParams): AlertEventQuery {
  rejectUnknown(q, EVENT_PARAMS);
  const out: AlertEventQuery = {};
  for (const k of ['vps', 'app', 'rule'] as const) {
    const v = optionalName(q, k);
    if (v !== null) out[k] = v;
  }
  if (q.get('kind')) out.kind = choiceParam(q, 'kind', KINDS, 'pending');
  for (const k of ['since', 'until'] as const) {
    const v = optionalTime(q, k);
    if (v !== null) out[k] = v.toISOString();
  }
  const before = idParam(q, 'before');
  if (before !== null) out.before = before;
  const alertId = idParam(q, 'alert');
  if (alertId !== null) out.alertId = alertId;
  const limit = intParam(q, 'limit', 1, 500, null);
  if (limit !== null) out.limit = limit;
  return out;
}

function checkTime(name: string, v: string | undefined): string | null {
  return v === undefined ? null : parseTime(v, name).toISOString();
}

function checkId(name: string, v: number | undefined): number | null {
  if (v === undefined) return null;
  if (!Number.isSafeInteger(v) || v < 1) throw bad(`${name} must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
  return v;
}

export interface AlertsApi {
  events(query?: AlertEventQuery): Promise<unknown>;
  alerts(query?: { status?: string; vps?: string; app?: string }): Promise<unknown>;
  rules(): Promise<unknown>;
  deliveries(query?: { status?: string; limit?: number }): Promise<unknown>;
  ack(id: number, body?: { by?: string; comment?: string }): Promise<unknown>;
}

interface EventRow {
  id: string; alert_id: string; timestamp: Date; kind: string; episode: number; rule_name: string; rule_type: string;
  vps_name: string; app_name: string; subject: string; severity: string; summary: string; value: number | null;
  observed_at: Date | null; muted_by: string | null; actor: string | null; context: unknown;
  notifications: { channel: string; status: string; attempts: number; lastError: string | null; sentAt: string | null }[] | null;
}

interface StateRow {
  id: string; rule_name: string; rule_type: string; vps_name: string; app_name: string; subject: string; status: string;
  severity: string; summary: string; value: number | null; episode: number; pending_since: Date | null; firing_since: Date | null;
  resolved_at: Date | null; notified: boolean; last_notified_at: Date | null; acknowledged_at: Date | null; acknowledged_by: string | null;
  updated_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function stateJson(r: StateRow) {
  return {
    id: Number(r.id), rule: r.rule_name, type: r.rule_type, vps: r.vps_name, app: r.app_name, subject: r.subject, status: r.status,
    severity: r.severity, summary: r.summary, value: r.value, episode: r.episode, pendingSince: iso(r.pending_since),
    firingSince: iso(r.firing_since), resolvedAt: iso(r.resolved_at), notified: r.notified, lastNotifiedAt: iso(r.last_notified_at),
    acknowledgedAt: iso(r.acknowledged_at), acknowledgedBy: r.acknowledged_by, updatedAt: r.updated_at.toISOString(),
  };
}

export function alertsApi(pool: PgPool): AlertsApi {
  return {
    async events(query = {}) {
      const limit = query.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw bad('limit must be between 1 and 500');
      if (query.kind !== undefined && !(KINDS as readonly string[]).includes(query.kind)) throw bad(`kind must be one of ${KINDS.join(', ')}`);
      const before = checkId('before', query.before);
      const alertId = checkId('alert', query.alertId);
      const since = checkTime('since', query.since);
      const until = checkTime('until', query.until);
      const r = await pool.query<EventRow>(
        `SELECT e.*, (SELECT jsonb_agg(jsonb_build_object('channel', o.channel, 'status', o.status, 'attempts', o.attempts,
                                'lastError', o.last_error, 'sentAt', o.sent_at) ORDER BY o.id)
                        FROM alert_outbox o WHERE o.event_id = e.id) AS notifications
           FROM alert_events e
          WHERE ($1::text IS NULL OR e.vps_name = $1) AND ($2::text IS NULL OR e.app_name = $2)
            AND ($3::text IS NULL OR e.rule_name = $3) AND ($4::text IS NULL OR e.kind = $4)
            AND ($5::timestamptz IS NULL OR e.timestamp >= $5) AND ($6::timestamptz IS NULL OR e.timestamp < $6)
            AND ($7::bigint IS NULL OR e.id < $7) AND ($8::bigint IS NULL OR e.alert_id = $8)
          ORDER BY e.id DESC LIMIT $9`,
        [query.vps ?? null, query.app ?? null, query.rule ?? null, query.kind ?? null, since, until, before, alertId, limit + 1]);
      const rows = r.rows.slice(0, limit);
      return {
        events: rows.map((e) => ({
          id: Number(e.id), alertId: Number(e.alert_id), timestamp: e.timestamp.toISOString(), kind: e.kind, episode: e.episode,
          rule: e.rule_name, type: e.rule_type, vps: e.vps_name, app: e.app_name, subject: e.subject, severity: e.severity,
          summary: e.summary, value: e.value, observedAt: iso(e.observed_at), mutedBy: e.muted_by, actor: e.actor, context: e.context,
          notifications: e.notifications ?? [],
        })),
        nextBefore: r.rows.length > limit ? Number(rows[rows.length - 1]!.id) : null,
      };
    },

    async alerts(query = {}) {
      const status = query.status ?? 'open';
      const filter: Record<string, string> = {
        open: `status <> 'resolved'`, firing: `status = 'firing'`, pending: `status = 'pending'`,
        resolved: `status = 'resolved' AND episode > 0`, all: 'episode > 0',
      };
      // Object.hasOwn, not `in`: `constructor`, `toString` and `__proto__` are in every object and were pasted into SQL text.
      if (typeof status !== 'string' || !Object.hasOwn(filter, status)) throw bad(`status must be one of ${Object.keys(filter).join(', ')}`);
      const r = await pool.query<StateRow>(
        `SELECT * FROM alert_state WHERE ${filter[status]} AND ($1::text IS NULL OR vps_name = $1) AND ($2::text IS NULL OR app_name = $2)
          ORDER BY (status = 'firing') DESC, (status = 'pending') DESC, updated_at DESC LIMIT 1000`,
        [query.vps ?? null, query.app ?? null]);
      return { alerts: r.rows.map(stateJson) };
    },

    async rules() {
      const [rules, leader, open] = await Promise.all([
        pool.query<{ rule_name: string; rule_type: string; definition: Record<string, unknown>; updated_at: Date }>(
          'SELECT rule_name, rule_type, definition, updated_at FROM alert_rules ORDER BY rule_name'),
        pool.query<{ instance: string; host: string; pid: number; since: Date; heartbeat: Date; config: Record<string, unknown> }>(
          'SELECT instance, host, pid, since, heartbeat, config FROM alert_leader'),
        pool.query<{ rule_name: string; firing: number; pending: number }>(
          `SELECT rule_name, count(*) FILTER (WHERE status = 'firing')::int AS firing, count(*) FILTER (WHERE status = 'pending')::int AS pending
             FROM alert_state WHERE status <> 'resolved' GROUP BY rule_name`),
      ]);
      const counts = new Map(open.rows.map((o) => [o.rule_name, o]));
      const l = leader.rows[0];
      return {
        leader: l ? { instance: l.instance, host: l.host, pid: l.pid, since: l.since.toISOString(), heartbeat: l.heartbeat.toISOString(),
          configFile: l.config.file ?? null, channels: l.config.channels ?? [] } : null,
        rules: rules.rows.map((r) => ({
          ...r.definition, name: r.rule_name, type: r.rule_type, recordedAt: r.updated_at.toISOString(),
          firing: counts.get(r.rule_name)?.firing ?? 0, pending: counts.get(r.rule_name)?.pending ?? 0,
        })),
      };
    },

    async deliveries(query = {}) {
      const limit = query.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw bad('limit must be between 1 and 500');
      const status = query.status ?? 'all';
      if (!['all', 'pending', 'sent', 'failed'].includes(status)) throw bad('status must be all, pending, sent or failed');
      const r = await pool.query<{ id: string; event_id: string; channel: string; status: string; attempts: number; created_at: Date;
        sent_at: Date | null; next_attempt_at: Date; last_error: string | null; kind: string; rule: string; vps: string; app: string;
        attempts_log: unknown }>(
        `SELECT o.id, o.event_id, o.channel, o.status, o.attempts, o.created_at, o.sent_at, o.next_attempt_at, o.last_error,
                o.message->>'kind' AS kind, o.message->'rule'->>'name' AS rule, o.message->>'vps' AS vps, o.message->>'app' AS app,
                (SELECT jsonb_agg(jsonb_build_object('attempt', d.attempt, 'at', d.timestamp, 'success', d.success, 'statusCode', d.status_code,
                          'error', d.error, 'durationMs', d.duration_ms, 'hub', d.hub) ORDER BY d.id)
                   FROM alert_deliveries d WHERE d.outbox_id = o.id) AS attempts_log
           FROM alert_outbox o WHERE ($1 = 'all' OR o.status = $1) ORDER BY o.id DESC LIMIT $2`,
        [status, limit]);
      return {
        deliveries: r.rows.map((o) => ({
          id: Number(o.id), eventId: Number(o.event_id), channel: o.channel, status: o.status, attempts: o.attempts, kind: o.kind, rule: o.rule,
          vps: o.vps, app: o.app, createdAt: o.created_at.toISOString(), sentAt: iso(o.sent_at),
          nextAttemptAt: o.status === 'pending' ? o.next_attempt_at.toISOString() : null, lastError: o.last_error, log: o.attempts_log ?? [],
        })),
      };
    },

    async ack(id, body = {}) {
      if (!Number.isSafeInteger(id) || id < 1) throw bad('alert id must be a positive integer');
      const by = body.by === undefined ? null : String(body.by).slice(0, 200);
      const comment = body.comment === undefined ? null : String(body.comment).slice(0, 2000);
      return inTransaction(pool, async (client) => {
        const r = await client.query<StateRow>('SELECT * FROM alert_state WHERE id = $1 FOR UPDATE', [id]);
        const row = r.rows[0];
        if (!row || row.episode === 0) throw new AlertApiError('404 Not Found', `no alert ${id}`);
        if (row.status !== 'firing') throw new AlertApiError('409 Conflict', `alert ${id} is ${row.status}, not firing`);
        if (row.acknowledged_at) return { alert: stateJson(row), alreadyAcknowledged: true };
        const u = await client.query<StateRow>(
          'UPDATE alert_state SET acknowledged_at = now(), acknowledged_by = $2, updated_at = now() WHERE id = $1 RETURNING *', [id, by]);
        await client.query(
          `INSERT INTO alert_events (alert_id, kind, episode, rule_name, rule_type, vps_name, app_name, subject, severity, summary, value, actor)
           VALUES ($1, 'acknowledged', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [id, row.episode, row.rule_name, row.rule_type, row.vps_name, row.app_name, row.subject, row.severity,
            comment ?? `acknowledged${by ? ` by ${by}` : ''}`, row.value, by]);
        return { alert: stateJson(u.rows[0]!), alreadyAcknowledged: false };
      });
    },
  };
}
