// One evaluation round: for each rule, read → judge (pure) → step each alert's state machine (pure)
// → store the transitions. Only alerts whose state changes are written, each in its own transaction:
//
//   BEGIN → INSERT alert_state … ON CONFLICT DO NOTHING → SELECT … FOR UPDATE → step() again on the
//   locked row → UPDATE alert_state → INSERT alert_events → INSERT alert_outbox (one row per channel,
//   unique idempotency key) → COMMIT
//
// Stepping again on the locked row is what makes overlapping evaluators (a deposed leader finishing
// its round while the new one starts) harmless: the second sees the first's result and has nothing
// left to do, so no event and no notification is ever produced twice.

import { inTransaction, type PgClient, type PgPool } from '../../db/pg.js';
import type { AlertConfig, AlertRule } from './config.js';
import { ALERT_DEFAULTS } from './config.js';
import { absentVerdict, keyString, type AlertKey, type Observation } from './judge.js';
import { mutedBy } from './maintenance.js';
import { errorLinesBefore, hostAt, observe, openAnomalies } from './queries.js';
import { dashboardLink, type DeployNote, type IncidentContext, type Notification } from './render.js';
import { deployBefore } from '../api/deployments.js';
import { NEVER_ACTIVE, step, type PlannedEvent, type StoredState, type EventKind } from './state-machine.js';

/** A deploy at most this long before an episode's first failure is quoted in its notifications. */
export const DEPLOY_WINDOW_MS = 30 * 60_000;

export interface EvaluationReport {
  at: string;
  durationMs: number;
  observations: number;
  events: Partial<Record<EventKind, number>>;
  notificationsQueued: number;
  errors: { rule: string; error: string }[];
}

interface StateRow {
  id: string; vps_name: string; app_name: string; subject: string; status: StoredState['status']; episode: number;
  pending_since: Date | null; firing_since: Date | null; resolved_at: Date | null; notified: boolean;
  last_notified_at: Date | null; acknowledged_at: Date | null;
}

const ms = (d: Date | null) => (d ? d.getTime() : null);
const ts = (n: number | null) => (n === null ? null : new Date(n).toISOString());

function toStored(r: StateRow): StoredState {
  return {
    status: r.status, episode: r.episode, pendingSince: ms(r.pending_since), firingSince: ms(r.firing_since), resolvedAt: ms(r.resolved_at),
    notified: r.notified, lastNotifiedAt: ms(r.last_notified_at), acknowledgedAt: ms(r.acknowledged_at),
  };
}

const STATE_COLUMNS = `id, vps_name, app_name, subject, status, episode, pending_since, firing_since, resolved_at, notified,
  last_notified_at, acknowledged_at`;

export interface EvaluatorOptions {
  pool: PgPool;
  config: AlertConfig;
  dashboardUrl: string;
}

export async function evaluateOnce(o: EvaluatorOptions): Promise<EvaluationReport> {
  const started = Date.now();
  const nowRow = await o.pool.query<{ now: Date }>('SELECT now()');
  // The database clock, not ours: every hub judges time the same way.
  const now = nowRow.rows[0]!.now.getTime();
  const report: EvaluationReport = { at: new Date(now).toISOString(), durationMs: 0, observations: 0, events: {}, notificationsQueued: 0, errors: [] };
  for (const rule of o.config.rules) {
    try {
      await evaluateRule(o, rule, now, report);
    } catch (err) {
      report.errors.push({ rule: rule.name, error: (err as Error).message });
    }
  }
  report.durationMs = Date.now() - started;
  return report;
}

async function evaluateRule(o: EvaluatorOptions, rule: AlertRule, now: number, report: EvaluationReport): Promise<void> {
  const observations = await observe(o.pool, rule, now);
  report.observations += observations.length;
  const byKey = new Map<string, Observation>();
  for (const ob of observations) byKey.set(keyString(ob), ob);
  const active = observations.filter((ob) => ob.verdict === 'fire' || ob.verdict === 'pending');
  const stored = await o.pool.query<StateRow>(
    `SELECT ${STATE_COLUMNS} FROM alert_state
      WHERE rule_name = $1
        AND (status <> 'resolved' OR (vps_name, app_name, subject) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::text[])))`,
    [rule.name, active.map((a) => a.vps), active.map((a) => a.app), active.map((a) => a.subject)]);
  const states = new Map<string, StateRow>();
  for (const row of stored.rows) states.set(keyString({ vps: row.vps_name, app: row.app_name, subject: row.subject }), row);

  const keys = new Map<string, AlertKey>();
  for (const ob of active) keys.set(keyString(ob), ob);
  for (const [k, row] of states) keys.set(k, { vps: row.vps_name, app: row.app_name, subject: row.subject });

  for (const [k, key] of keys) {
    const ob = byKey.get(k) ?? null;
    const row = states.get(k);
    const planned = step({
      state: row ? toStored(row) : NEVER_ACTIVE, verdict: ob?.verdict ?? absentVerdict(rule), now,
      mutedBy: mutedBy(o.config.maintenance, rule.name, key.vps, key.app, now), reminderIntervalMs: rule.reminderIntervalMs,
    });
    if (!planned.events.length) continue;
    await applyTransition(o, rule, key, ob, now, report);
  }
}

async function applyTransition(o: EvaluatorOptions, rule: AlertRule, key: AlertKey, ob: Observation | null, now: number, report: EvaluationReport): Promise<void> {
  await inTransaction(o.pool, async (client) => {
    await client.query(
      `INSERT INTO alert_state (rule_name, rule_type, vps_name, app_name, subject, status, episode, severity)
       VALUES ($1, $2, $3, $4, $5, 'resolved', 0, $6) ON CONFLICT (rule_name, vps_name, app_name, subject) DO NOTHING`,
      [rule.name, rule.type, key.vps, key.app, key.subject, rule.severity]);
    const locked = await client.query<StateRow>(
      `SELECT ${STATE_COLUMNS} FROM alert_state WHERE rule_name = $1 AND vps_name = $2 AND app_name = $3 AND subject = $4 FOR UPDATE`,
      [rule.name, key.vps, key.app, key.subject]);
    const row = locked.rows[0]!;
    const muted = mutedBy(o.config.maintenance, rule.name, key.vps, key.app, now);
    const { state, events } = step({ state: toStored(row), verdict: ob?.verdict ?? absentVerdict(rule), now, mutedBy: muted, reminderIntervalMs: rule.reminderIntervalMs });
    if (!events.length) return;
    const summary = ob?.summary ?? (rule.type === 'log_error_rate' ? 'no error lines in the window' : '');
    await client.query(
      `UPDATE alert_state SET status = $2, episode = $3, pending_since = $4, firing_since = $5, resolved_at = $6, notified = $7,
              last_notified_at = $8, acknowledged_at = $9, acknowledged_by = CASE WHEN $9::timestamptz IS NULL THEN NULL ELSE acknowledged_by END,
              rule_type = $10, severity = $11, summary = $12, value = $13, updated_at = now()
        WHERE id = $1`,
      [row.id, state.status, state.episode, ts(state.pendingSince), ts(state.firingSince), ts(state.resolvedAt), state.notified,
        ts(state.lastNotifiedAt), ts(state.acknowledgedAt), rule.type, rule.severity, summary, ob?.value ?? null]);
    for (const planned of events) {
      await insertEvent(client, o, rule, key, ob, Number(row.id), state, planned, summary, now, report);
    }
  });
}

/**
 * The app's newest deploy within DEPLOY_WINDOW_MS before the episode's first failure (when it turned
 * pending, else firing). Context only: a database without the deployments table (migration 070) gives
 * none rather than failing the transition.
 */
async function deployNote(client: PgClient, rule: AlertRule, key: AlertKey, state: StoredState, at: string): Promise<DeployNote | null> {
  if (!key.app) return null;
  const first = state.pendingSince ?? state.firingSince ?? Date.parse(at);
  await client.query('SAVEPOINT observ_deploy_note');
  try {
    const d = await deployBefore(client, key.vps, key.app, new Date(first), DEPLOY_WINDOW_MS);
    await client.query('RELEASE SAVEPOINT observ_deploy_note');
    if (!d) return null;
    return { timestamp: d.timestamp, version: d.version, previousVersion: d.previousVersion, release: d.release, source: d.source,
      beforeMs: first - Date.parse(d.timestamp), before: rule.type === 'health_check' || rule.type === 'log_error_rate' ? 'the first failure' : 'the alert began' };
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT observ_deploy_note');
    return null;
  }
}

async function insertEvent(client: PgClient, o: EvaluatorOptions, rule: AlertRule, key: AlertKey, ob: Observation | null, alertId: number,
  state: StoredState, planned: PlannedEvent, summary: string, now: number, report: EvaluationReport): Promise<void> {
  const at = ob?.observedAt ?? new Date(now).toISOString();
  let context: IncidentContext | null = null;
  if (planned.kind === 'firing' || planned.kind === 'reminder') {
    const levels = rule.type === 'log_error_rate' ? rule.levels : ALERT_DEFAULTS.errorLevels;
    // One after another: they share the transaction's client, which runs one query at a time anyway
    // (pg queues concurrent ones, deprecated since pg 8.20 and refused from pg 9).
    const errorLines = await errorLinesBefore(client, key.vps, key.app, at, o.config.contextLines, levels);
    const host = await hostAt(client, key.vps, key.app, at);
    // An anomaly rule's own episode is its summary already: the others are the context.
    const anomalies = (await openAnomalies(client, key.vps, key.app)).filter((a) => rule.type !== 'anomaly' || !a.startsWith(`${key.subject} `));
    const deploy = await deployNote(client, rule, key, state, at);
    context = { at, errorLines, host, deploy, anomalies, dashboardLink: dashboardLink(o.dashboardUrl, key.vps, key.app, at) };
  }
  const ev = await client.query<{ id: string; timestamp: Date }>(
    `INSERT INTO alert_events (alert_id, kind, episode, rule_name, rule_type, vps_name, app_name, subject, severity, summary, value,
                               observed_at, muted_by, context)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id, timestamp`,
    [alertId, planned.kind, state.episode, rule.name, rule.type, key.vps, key.app, key.subject, rule.severity, summary, ob?.value ?? null,
      ob?.observedAt ?? null, planned.mutedBy, context ? JSON.stringify(context) : null]);
  report.events[planned.kind] = (report.events[planned.kind] ?? 0) + 1;
  if (!planned.notify) return;
  const eventId = Number(ev.rows[0]!.id);
  const channels = rule.channels ?? o.config.channels.map((c) => c.name);
  for (const channel of channels) {
    const idempotencyKey = `observ-${alertId}-${state.episode}-${eventId}-${channel}`;
    const message: Notification = {
      kind: planned.kind as Notification['kind'], idempotencyKey, alertId, eventId, episode: state.episode,
      rule: { name: rule.name, type: rule.type, severity: rule.severity }, vps: key.vps, app: key.app, subject: key.subject,
      summary, value: ob?.value ?? null, eventAt: ev.rows[0]!.timestamp.toISOString(), observedAt: ob?.observedAt ?? null,
      firingSince: ts(state.firingSince), mutedUntilNow: planned.late,
      dashboardLink: context?.dashboardLink ?? dashboardLink(o.dashboardUrl, key.vps, key.app, at), context,
    };
    const r = await client.query(
      `INSERT INTO alert_outbox (event_id, alert_id, channel, idempotency_key, message) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [eventId, alertId, channel, idempotencyKey, JSON.stringify(message)]);
    report.notificationsQueued += r.rowCount ?? 0;
  }
}
