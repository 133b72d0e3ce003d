// Alerting in the hub: rules from alerts.yml evaluated by exactly one hub (the leader), alert state
// and history in PostgreSQL, notifications through an outbox to Slack, webhooks and email.
//
//   Leadership (advisory lock, own session) ──elected──► evaluation loop every evaluation_interval
//        │                                                  │ read → judge → step → store (evaluator.ts)
//        │                                                  ▼
//        │                                          alert_state · alert_events · alert_outbox
//        │                                                  │ (FOR UPDATE SKIP LOCKED)
//        └────────────────────────────────────────► delivery loop every delivery.poll_interval
//                                                     and right after each evaluation (delivery.ts)
//                                                           │ ChannelSender: undici / nodemailer
//                                                           ▼
//                                                  Slack · webhook (HMAC) · SMTP → alert_deliveries
//
// Shutdown order (stop()): stop the loops' timers → wait for the running evaluation round and
// delivery (bounded by one deadline) → release the lock (end its session) → close HTTP/SMTP clients.
// The pool belongs to the caller and is left open.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { inTransaction, type PgPool } from '../../db/pg.js';
import { ObservError } from '../../errors.js';
import { defaultAlertConfig, loadAlertConfig, type AlertConfig } from './config.js';
import { ChannelSender } from './channels.js';
import { Deliverer, type DeliveryStats } from './delivery.js';
import { evaluateOnce, type EvaluationReport } from './evaluator.js';
import { AlertApiError, testChannel } from './api.js';
import type { ChannelTestResult } from '../api/types.js';
import { Leadership } from './leader.js';
import { AnomalyTracker, type TrackerRun } from '../anomaly/tracker.js';

export { loadAlertConfig, parseAlertConfig, defaultAlertConfig, DEFAULT_RULES } from './config.js';
export type { AlertConfig, AlertRule, Channel, MaintenanceWindow } from './config.js';
export { alertsApi, parseEventQuery, parseAlertsQuery, ackNote, AlertApiError } from './api.js';
export type { AlertsApi, AlertEventQuery, AlertsQuery } from './api.js';

/** Least time between two anomaly runs started by commits (each run re-reads a 2-minute overlap). */
export const ANOMALY_RUN_GAP_MS = 5_000;

export type AlertLog = (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;

export interface AlertingOptions {
  databaseUrl: string;
  /** Used for evaluation and delivery (a few connections at a time); not closed by stop(). */
  pool: PgPool;
  /** alerts.yml; without it the default rules run and nothing is sent (no channels). */
  configFile?: string;
  /** An already loaded config (wins over configFile). */
  config?: AlertConfig;
  /** The dashboard's public base URL, for links in notifications. */
  dashboardUrl: string;
  log: AlertLog;
  /** How long stop() waits for a running round before giving up on it (default 10 s). */
  stopDeadlineMs?: number;
  /** Streaming anomaly detection before each round (src/hub/anomaly); default true. */
  anomalies?: boolean;
}

export interface AlertingStatus {
  instance: string;
  leader: boolean;
  leaderSince: string | null;
  configFile: string | null;
  rules: string[];
  channels: { name: string; type: string }[];
  evaluations: number;
  lastEvaluation: EvaluationReport | null;
  lastError: string | null;
  delivery: DeliveryStats;
  /** The last anomaly detection run (null before the first, or when off). */
  lastAnomalyRun: TrackerRun | null;
}

export interface Alerting {
  stop(): Promise<void>;
  status(): AlertingStatus;
  /** A batch committed (NOTIFY observ_batch): the leader's anomaly detectors read the new rows soon. */
  rowsCommitted(): void;
  /** Sends a test notification over a configured channel from this hub (POST /api/alert-channels/:name/test). */
  testChannel(name: string, by: string): Promise<ChannelTestResult>;
}

export async function startAlerting(options: AlertingOptions): Promise<Alerting> {
  const log = options.log;
  const config = options.config ??
    (options.configFile ? loadAlertConfig(options.configFile, { warn: (m) => log('warn', `alerting config: ${m}`) }) : defaultAlertConfig());
  const pool = options.pool;
  const present = await pool.query<{ ok: boolean }>(`SELECT to_regclass('alert_outbox') IS NOT NULL AND to_regclass('alert_leader') IS NOT NULL AS ok`);
  if (!present.rows[0]!.ok) {
    throw new ObservError('OBS_ERR_MIGRATION', 'the alerting tables are missing; run `observ db migrate` (migration 030_alerting)');
  }
  const instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const sender = new ChannelSender(config.delivery.timeoutMs);
  const deliverer = new Deliverer(pool, config, sender, instance, log);
  const st = { evaluations: 0, lastEvaluation: null as EvaluationReport | null, lastError: null as string | null, lastAnomalyRun: null as TrackerRun | null };
  // The leader's detectors: made on election (warm-started by their first run), dropped when deposed.
  let tracker: AnomalyTracker | null = null;
  // Commits come in bursts (every agent's batch): one tracker run per ANOMALY_RUN_GAP_MS at most.
  let anomalyTimer: NodeJS.Timeout | null = null;
  let lastAnomalyRunAt = 0;
  let anomalyRunning: Promise<void> | null = null;
  const runAnomalies = (): Promise<void> => {
    if (!tracker || stopped) return Promise.resolve();
    lastAnomalyRunAt = Date.now();
    const running = tracker.run().then((r) => { st.lastAnomalyRun = r; }, (err: Error) => {
      st.lastError = `anomaly detection: ${err.message}`;
      log('warn', 'alerting: anomaly detection run failed', { error: err.message });
    });
    anomalyRunning = running.finally(() => { if (anomalyRunning === tracked) anomalyRunning = null; });
    const tracked = anomalyRunning;
    return running;
  };
  let stopped = false;
  let evalTimer: NodeJS.Timeout | null = null;
  let deliveryTimer: NodeJS.Timeout | null = null;
  let evaluating: Promise<void> | null = null;
  let delivering: Promise<void> | null = null;
  let deliverAgain = false;

  const isLeader = () => !stopped && leadership.leader;

  const runDelivery = (): void => {
    if (delivering) { deliverAgain = true; return; }
    if (!isLeader()) return;
    delivering = (async () => {
      do {
        deliverAgain = false;
        try {
          await deliverer.drain(200, () => !isLeader());
        } catch (err) {
          st.lastError = `delivery: ${(err as Error).message}`;
          log('warn', 'alerting: delivery round failed', { error: (err as Error).message });
        }
      } while (deliverAgain && isLeader());
    })().finally(() => { delivering = null; });
  };

  const scheduleDelivery = (): void => {
    if (deliveryTimer || !isLeader()) return;
    deliveryTimer = setTimeout(() => { deliveryTimer = null; runDelivery(); scheduleDelivery(); }, config.delivery.pollMs);
  };

  const runEvaluation = (): void => {
    evalTimer = null;
    if (!isLeader() || evaluating) return;
    evaluating = (async () => {
      // Anomalies first, so an `anomaly` rule judges what this run found. A failed run is logged and
      // the rules still run.
      // The warm start (a newly elected leader's first run, hours of rows) runs beside the round
      // instead: the rules must not wait for it.
      if (tracker?.warm) await runAnomalies();
      else if (tracker && !anomalyRunning) void runAnomalies();
      try {
        const report = await evaluateOnce({ pool, config, dashboardUrl: options.dashboardUrl });
        st.evaluations++;
        st.lastEvaluation = report;
        for (const e of report.errors) {
          st.lastError = `rule ${e.rule}: ${e.error}`;
          log('warn', 'alerting: rule evaluation failed', e);
        }
        if (report.notificationsQueued) runDelivery();
      } catch (err) {
        st.lastError = (err as Error).message;
        log('warn', 'alerting: evaluation round failed', { error: (err as Error).message });
      }
    })().finally(() => {
      evaluating = null;
      if (isLeader() && !evalTimer) evalTimer = setTimeout(runEvaluation, config.evaluationIntervalMs);
    });
  };

  const leadership = new Leadership(options.databaseUrl, instance, config.leaderPollMs, {
    log,
    onElected: () => {
      void snapshotRules(pool, config).catch((err: Error) => log('warn', 'alerting: could not record the rules', { error: err.message }));
      if (options.anomalies ?? true) tracker = new AnomalyTracker(pool);
      runEvaluation();
      runDelivery();
      scheduleDelivery();
    },
    onDeposed: () => {
      tracker = null;
      if (anomalyTimer) { clearTimeout(anomalyTimer); anomalyTimer = null; }
      if (evalTimer) { clearTimeout(evalTimer); evalTimer = null; }
      if (deliveryTimer) { clearTimeout(deliveryTimer); deliveryTimer = null; }
    },
  }, { file: config.file, rules: config.rules.map((r) => r.name), channels: config.channels.map((c) => ({ name: c.name, type: c.type })) });
  leadership.start();
  log('info', 'alerting started', { instance, rules: config.rules.length, channels: config.channels.length, configFile: config.file });

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if (evalTimer) clearTimeout(evalTimer);
        if (anomalyTimer) clearTimeout(anomalyTimer);
        if (deliveryTimer) clearTimeout(deliveryTimer);
        const deadline = options.stopDeadlineMs ?? 10_000;
        let timer: NodeJS.Timeout | undefined;
        const running = Promise.all([evaluating, delivering, anomalyRunning]).then(() => true);
        const inTime = await Promise.race([running, new Promise<boolean>((r) => { timer = setTimeout(() => r(false), deadline); })]);
        clearTimeout(timer);
        if (!inTime) log('warn', 'alerting: stop deadline passed with a round still running', { deadlineMs: deadline });
        await leadership.close();
        await sender.close();
      })();
      return stopping;
    },
    rowsCommitted() {
      if (!tracker || stopped || anomalyTimer) return;
      anomalyTimer = setTimeout(() => { anomalyTimer = null; void runAnomalies(); }, Math.max(0, lastAnomalyRunAt + ANOMALY_RUN_GAP_MS - Date.now()));
    },
    testChannel(name, by) {
      if (stopped) return Promise.reject(new AlertApiError('409 Conflict', 'alerting has stopped on this hub'));
      return testChannel(config, sender, name, by, options.dashboardUrl);
    },
    status(): AlertingStatus {
      return {
        instance,
        leader: leadership.leader && !stopped,
        leaderSince: leadership.since ? leadership.since.toISOString() : null,
        configFile: config.file,
        rules: config.rules.map((r) => r.name),
        channels: config.channels.map((c) => ({ name: c.name, type: c.type })),
        evaluations: st.evaluations,
        lastEvaluation: st.lastEvaluation,
        lastError: st.lastError,
        delivery: { ...deliverer.stats },
        lastAnomalyRun: st.lastAnomalyRun,
      };
    },
  };
}

/** The rules the leader evaluates, readable by every hub (GET /api/alert-rules). */
async function snapshotRules(pool: PgPool, config: AlertConfig): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('DELETE FROM alert_rules');
    for (const rule of config.rules) {
      await client.query('INSERT INTO alert_rules (rule_name, rule_type, definition) VALUES ($1, $2, $3)', [rule.name, rule.type, JSON.stringify(rule)]);
    }
  });
}
