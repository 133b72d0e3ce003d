// The alerting API as plain async functions returning JSON-ready objects; the hub routes them. This is
// the hub's one model of "what is wrong": the rules engine's alert state (src/hub/alerting/).
//   GET  /api/alerts/open?status&vps&app  (alias: GET /api/alerts)     → alerts(query)   (current states)
//   GET  /api/alert-events?vps&app&rule&kind&since&until&before&limit → events(query)   (history, newest first)
//   GET  /api/alert-rules                                              → rules()         (read-only, with channel status)
//   GET  /api/alert-deliveries?status&limit                            → deliveries(query)
//   POST /api/alerts/:id/ack  {note?}                                  → ack(id, {by, comment})
//   POST /api/alert-channels/:name/test                                → testChannel(…)
// Errors carry an HTTP `status` line ('400 Bad Request', '404 Not Found', '409 Conflict'), which the
// hub's API wrapper turns into the response status.

import { inTransaction, type PgPool } from '../../db/pg.js';
import { BadRequest, choiceParam, idParam, intParam, optionalName, optionalTime, parseTime, rejectUnknown } from '../api/params.js';
import type { AckResult, AlertEventsResult, AlertRulesResult, AlertState, AlertsResult, ChannelTestResult } from '../api/types.js';
import type { AlertConfig } from './config.js';
import type { ChannelSender } from './channels.js';
import { dashboardLink, type Notification } from './render.js';

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

export interface AlertsQuery {
  status?: string;
  vps?: string;
  app?: string;
}

/** URLSearchParams of GET /api/alerts(/open) → AlertsQuery (throws BadRequest 400 on unknown parameters). */
export function parseAlertsQuery(q: URLSearchParams): AlertsQuery {
  rejectUnknown(q, ['status', 'vps', 'app']);
  return { status: q.get('status') ?? undefined, vps: optionalName(q, 'vps') ?? undefined, app: optionalName(q, 'app') ?? undefined };
}

/**
 * The note in the (parsed JSON) body of POST /api/alerts/:id/ack: `{"note": "…"}`, or `comment`, its
 * older name. Who acknowledged is not taken from the body: the hub records the request's user.
 */
export function ackNote(body: Record<string, unknown>): string | undefined {
  const given = body.note ?? body.comment;
  if (given !== undefined && given !== null && typeof given !== 'string') throw new BadRequest('note must be a string');
  return typeof given === 'string' && given.trim() ? given.trim() : undefined;
}

export interface AlertsApi {
  events(query?: AlertEventQuery): Promise<AlertEventsResult>;
  alerts(query?: AlertsQuery): Promise<AlertsResult>;
  rules(): Promise<AlertRulesResult>;
  deliveries(query?: { status?: string; limit?: number }): Promise<unknown>;
  /** `comment` is the note; `by` who acknowledged (the hub passes the request's user). */
  ack(id: number, body?: { by?: string; comment?: string }): Promise<AckResult>;
}

interface EventRow {
  id: string; alert_id: string; timestamp: Date; kind: string; episode: number; rule_name: string; rule_type: string;
  vps_name: string; app_name: string; subject: string; severity: string; summary: string; value: number | null;
  observed_at: Date | null; muted_by: string | null; actor: string | null; context: unknown;
  notifications: { channel: string; status: string; attempts: number; lastError: string | null; sentAt: string | null }[] | null;
}

interface StateRow {
  id: string; rule_name: string; rule_type: string; vps_name: string; app_name: string; subject: string; status: AlertState['status'];
  severity: string; summary: string; value: number | null; episode: number; pending_since: Date | null; firing_since: Date | null;
  resolved_at: Date | null; notified: boolean; last_notified_at: Date | null; acknowledged_at: Date | null; acknowledged_by: string | null;
  updated_at: Date;
  /** Filled by STATE_EXTRAS. */
  acknowledged_note?: string | null; flaps_24h?: number;
}

// The acknowledgement's note (kept in its event's context) and the alert's flaps of the last 24 h:
// pending → cleared without firing, so held back and never notified.
const STATE_EXTRAS = `
  (SELECT e.context->>'note' FROM alert_events e WHERE e.alert_id = s.id AND e.kind = 'acknowledged' AND e.episode = s.episode
    ORDER BY e.id DESC LIMIT 1) AS acknowledged_note,
  (SELECT count(*)::int FROM alert_events e WHERE e.alert_id = s.id AND e.kind = 'cleared' AND e.timestamp > now() - interval '24 hours') AS flaps_24h`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function stateJson(r: StateRow): AlertState {
  return {
    id: Number(r.id), rule: r.rule_name, type: r.rule_type, vps: r.vps_name, app: r.app_name, subject: r.subject, status: r.status,
    severity: r.severity, summary: r.summary, value: r.value, episode: r.episode, pendingSince: iso(r.pending_since),
    firingSince: iso(r.firing_since), resolvedAt: iso(r.resolved_at), notified: r.notified, lastNotifiedAt: iso(r.last_notified_at),
    acknowledgedAt: iso(r.acknowledged_at), acknowledgedBy: r.acknowledged_by, acknowledgedNote: r.acknowledged_note ?? null,
    flaps24h: r.flaps_24h ?? 0, updatedAt: r.updated_at.toISOString(),
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
          id: Number(e.id), alertId: Number(e.alert_id), timestamp: e.timestamp.toISOString(), kind: e.kind as AlertEventsResult['events'][number]['kind'], episode: e.episode,
          rule: e.rule_name, type: e.rule_type, vps: e.vps_name, app: e.app_name, subject: e.subject, severity: e.severity,
          summary: e.summary, value: e.value, observedAt: iso(e.observed_at), mutedBy: e.muted_by, actor: e.actor, context: e.context,
          notifications: (e.notifications ?? []) as AlertEventsResult['events'][number]['notifications'],
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
        `SELECT s.*, ${STATE_EXTRAS} FROM alert_state s
          WHERE ${filter[status]} AND ($1::text IS NULL OR vps_name = $1) AND ($2::text IS NULL OR app_name = $2)
          ORDER BY (status = 'firing') DESC, (status = 'pending') DESC, updated_at DESC LIMIT 1000`,
        [query.vps ?? null, query.app ?? null]);
      return { generatedAt: new Date().toISOString(), alerts: r.rows.map(stateJson) };
    },

    async rules() {
      const [rules, leader, open, flaps, lastDeliveries] = await Promise.all([
        pool.query<{ rule_name: string; rule_type: string; definition: Record<string, unknown>; updated_at: Date }>(
          'SELECT rule_name, rule_type, definition, updated_at FROM alert_rules ORDER BY rule_name'),
        pool.query<{ instance: string; host: string; pid: number; since: Date; heartbeat: Date; config: Record<string, unknown> }>(
          'SELECT instance, host, pid, since, heartbeat, config FROM alert_leader'),
        pool.query<{ rule_name: string; firing: number; pending: number }>(
          `SELECT rule_name, count(*) FILTER (WHERE status = 'firing')::int AS firing, count(*) FILTER (WHERE status = 'pending')::int AS pending
             FROM alert_state WHERE status <> 'resolved' GROUP BY rule_name`),
        pool.query<{ rule_name: string; flaps: number }>(
          `SELECT rule_name, count(*)::int AS flaps FROM alert_events
            WHERE kind = 'cleared' AND timestamp > now() - interval '24 hours' GROUP BY rule_name`),
        pool.query<{ channel: string; status: 'pending' | 'sent' | 'failed'; at: Date; last_error: string | null }>(
          `SELECT DISTINCT ON (channel) channel, status, coalesce(sent_at, created_at) AS at, last_error
             FROM alert_outbox ORDER BY channel, id DESC`),
      ]);
      const counts = new Map(open.rows.map((o) => [o.rule_name, o]));
      const flapCounts = new Map(flaps.rows.map((f) => [f.rule_name, f.flaps]));
      const delivered = new Map(lastDeliveries.rows.map((d) => [d.channel, d]));
      const l = leader.rows[0];
      const channels = (l?.config.channels ?? []) as { name: string; type: string }[];
      return {
        leader: l ? { instance: l.instance, host: l.host, pid: l.pid, since: l.since.toISOString(), heartbeat: l.heartbeat.toISOString(),
          configFile: (l.config.file ?? null) as string | null, channels } : null,
        channels: channels.map((c) => {
          const d = delivered.get(c.name);
          return { name: c.name, type: c.type, lastDelivery: d ? { status: d.status, at: d.at.toISOString(), error: d.last_error } : null };
        }),
        rules: rules.rows.map((r) => {
          const named = Array.isArray(r.definition.channels) ? (r.definition.channels as string[]) : null;
          return {
            ...r.definition, name: r.rule_name, type: r.rule_type, recordedAt: r.updated_at.toISOString(),
            firing: counts.get(r.rule_name)?.firing ?? 0, pending: counts.get(r.rule_name)?.pending ?? 0,
            notifies: named ?? channels.map((c) => c.name), flaps24h: flapCounts.get(r.rule_name) ?? 0,
          };
        }),
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
        const r = await client.query<StateRow>(`SELECT s.*, ${STATE_EXTRAS} FROM alert_state s WHERE id = $1 FOR UPDATE OF s`, [id]);
        const row = r.rows[0];
        if (!row || row.episode === 0) throw new AlertApiError('404 Not Found', `no alert ${id}`);
        if (row.status !== 'firing') throw new AlertApiError('409 Conflict', `alert ${id} is ${row.status}, not firing`);
        if (row.acknowledged_at) return { alert: stateJson(row), alreadyAcknowledged: true };
        await client.query(
          `INSERT INTO alert_events (alert_id, kind, episode, rule_name, rule_type, vps_name, app_name, subject, severity, summary, value, actor, context)
           VALUES ($1, 'acknowledged', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [id, row.episode, row.rule_name, row.rule_type, row.vps_name, row.app_name, row.subject, row.severity,
            comment ?? `acknowledged${by ? ` by ${by}` : ''}`, row.value, by, comment === null ? null : JSON.stringify({ note: comment })]);
        const u = await client.query<StateRow>(
          `UPDATE alert_state s SET acknowledged_at = now(), acknowledged_by = $2, updated_at = now() WHERE id = $1 RETURNING s.*, ${STATE_EXTRAS}`, [id, by]);
        return { alert: stateJson(u.rows[0]!), alreadyAcknowledged: false };
      });
    },
  };
}

/**
 * Sends a test notification over one configured channel, now, from this hub, and says how it went.
 * Nothing is queued or stored: the answer is the record. The channel's secrets stay in the hub.
 */
export async function testChannel(config: AlertConfig, sender: ChannelSender, name: string, by: string, dashboardUrl: string): Promise<ChannelTestResult> {
  const channel = config.channels.find((c) => c.name === name);
  if (!channel) {
    const known = config.channels.map((c) => c.name);
    throw new AlertApiError('404 Not Found', `no channel "${name}" in ${config.file ?? 'the alerting config'} (configured: ${known.length ? known.join(', ') : 'none'})`);
  }
  const now = new Date().toISOString();
  const n: Notification = {
    kind: 'test', idempotencyKey: `observ-test-${Date.now()}-${name}`, alertId: 0, eventId: 0, episode: 0,
    rule: { name: 'test-notification', type: 'test', severity: 'info' }, vps: 'observ', app: 'hub', subject: '',
    summary: `Test notification for channel "${name}", sent by ${by} from the dashboard. If you read this, the channel works.`,
    value: null, eventAt: now, observedAt: null, firingSince: null, mutedUntilNow: false,
    dashboardLink: dashboardLink(dashboardUrl, 'observ', 'hub', now).replace(/#.*$/, '#/alerts'), context: null,
  };
  const started = Date.now();
  const outcome = await sender.send(channel, n);
  return { channel: name, type: channel.type, ok: outcome.ok, statusCode: outcome.statusCode, error: outcome.error, durationMs: Date.now() - started, by };
}
