// Pure judging: rows read from the database → one verdict per alert key. No I/O, no clock: every
// verdict is a function of the data (the last N check results, the samples of the last minutes), so
// evaluating the same data twice — by the same leader or by a new one after a takeover — gives the
// same verdict and never counts a failure twice.

import { describeEpisode } from '../anomaly/engine.js';
import type { Basis } from '../anomaly/detector.js';
import { formatDuration, type AlertRule, type AnomalyRule, type CertExpiryRule, type CompareOp, type HealthCheckRule, type LogErrorRateRule, type MetricRule, type AgentSilentRule, type Scope } from './config.js';

/**
 * - fire: the rule's threshold is met (N failures in a row, condition held `for`, …)
 * - pending: the condition is true now but the threshold is not met yet
 * - recover: the recovery threshold is met (M successes in a row, condition false)
 * - hold: neither (e.g. one success after failures when M = 2): the alert keeps its state
 */
export type Verdict = 'fire' | 'pending' | 'recover' | 'hold';

export interface AlertKey {
  vps: string;
  app: string;
  /** The url or metric; '' when the rule has none. */
  subject: string;
}

export interface Observation extends AlertKey {
  verdict: Verdict;
  value: number | null;
  /** One line saying what is wrong (or right), e.g. `disk_percent 95.2 > 90 for 5m`. */
  summary: string;
  /** When the deciding observation was made (ISO). */
  observedAt: string | null;
}

export function keyString(k: AlertKey): string {
  return `${k.vps}\u0000${k.app}\u0000${k.subject}`;
}

const globCache = new Map<string, RegExp>();
export function globMatch(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
    if (globCache.size < 1000) globCache.set(pattern, re);
  }
  return re.test(value);
}

export function inScope(scope: Scope, vps: string, app: string): boolean {
  return (scope.vps.length === 0 || scope.vps.some((p) => globMatch(p, vps))) &&
    (scope.app.length === 0 || scope.app.some((p) => globMatch(p, app)));
}

function urlMatches(patterns: readonly string[], url: string): boolean {
  return patterns.length === 0 || patterns.some((p) => globMatch(p, url));
}

const iso = (d: Date | string | null | undefined) => (d == null ? null : typeof d === 'string' ? d : d.toISOString());
const round = (n: number) => Math.round(n * 100) / 100;

export interface HealthRow {
  vps_name: string; app_name: string; url: string; timestamp: Date; success: boolean;
  status_code: number | null; error_message: string | null;
}

/** Health checks: rows newest first (any order across urls). */
export function judgeHealth(rule: HealthCheckRule, rows: readonly HealthRow[]): Observation[] {
  const byKey = new Map<string, HealthRow[]>();
  for (const r of rows) {
    if (!inScope(rule.scope, r.vps_name, r.app_name) || !urlMatches(rule.urls, r.url)) continue;
    const k = keyString({ vps: r.vps_name, app: r.app_name, subject: r.url });
    let list = byKey.get(k);
    if (!list) byKey.set(k, (list = []));
    list.push(r);
  }
  const out: Observation[] = [];
  for (const list of byKey.values()) {
    list.sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime());
    const latest = list[0]!;
    let failRun = 0;
    while (failRun < list.length && !list[failRun]!.success) failRun++;
    let okRun = 0;
    while (okRun < list.length && list[okRun]!.success) okRun++;
    // The url is the alert's subject, shown beside the summary; the summary says what happened.
    const what = latest.success
      ? `up (${okRun} successful check${okRun === 1 ? '' : 's'} in a row)`
      : `${failRun} failed check${failRun === 1 ? '' : 's'} in a row: ${describeFailure(latest)}`;
    const verdict: Verdict = failRun >= rule.failures ? 'fire' : failRun > 0 ? 'pending' : okRun >= rule.successes ? 'recover' : 'hold';
    out.push({ vps: latest.vps_name, app: latest.app_name, subject: latest.url, verdict, value: latest.success ? okRun : failRun,
      summary: what, observedAt: iso(latest.timestamp) });
  }
  return out;
}

function describeFailure(r: HealthRow): string {
  if (r.error_message) return r.status_code ? `HTTP ${r.status_code}, ${r.error_message}` : r.error_message;
  return r.status_code ? `HTTP ${r.status_code}` : 'failed';
}

export function compare(op: CompareOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>': return value > threshold;
    case '>=': return value >= threshold;
    case '<': return value < threshold;
    case '<=': return value <= threshold;
  }
}

export interface MetricRow { vps_name: string; app_name: string; timestamp: Date; value: number | null }

/**
 * Metric thresholds held for a duration: the condition must be true on every sample from the first
 * sample of the current breaching run to the latest, and that run must span at least `for`.
 * Samples without a value are skipped.
 */
export function judgeMetric(rule: MetricRule, rows: readonly MetricRow[]): Observation[] {
  const byKey = new Map<string, MetricRow[]>();
  for (const r of rows) {
    if (r.value === null || !inScope(rule.scope, r.vps_name, r.app_name)) continue;
    const k = `${r.vps_name}\u0000${r.app_name}`;
    let list = byKey.get(k);
    if (!list) byKey.set(k, (list = []));
    list.push(r);
  }
  const out: Observation[] = [];
  for (const list of byKey.values()) {
    list.sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime());
    const latest = list[0]!;
    const value = latest.value!;
    let run = 0;
    while (run < list.length && compare(rule.op, list[run]!.value!, rule.threshold)) run++;
    let verdict: Verdict;
    let summary: string;
    if (run === 0) {
      verdict = 'recover';
      summary = `${rule.metric} is ${round(value)} (alert when ${rule.op} ${rule.threshold})`;
    } else {
      const heldMs = latest.timestamp.getTime() - list[run - 1]!.timestamp.getTime();
      verdict = heldMs >= rule.forMs ? 'fire' : 'pending';
      summary = `${rule.metric} is ${round(value)} (${rule.op} ${rule.threshold}` +
        (rule.forMs > 0 ? ` for ${formatDuration(heldMs)}, limit ${formatDuration(rule.forMs)})` : ')');
    }
    out.push({ vps: latest.vps_name, app: latest.app_name, subject: rule.metric, verdict, value, summary, observedAt: iso(latest.timestamp) });
  }
  return out;
}

export interface SilentRow { vps_name: string; app_name: string; updated_at: Date; collection_interval: number | null; silent_seconds: number }

export function judgeSilent(rule: AgentSilentRule, rows: readonly SilentRow[]): Observation[] {
  const out: Observation[] = [];
  for (const r of rows) {
    if (!inScope(rule.scope, r.vps_name, r.app_name)) continue;
    const interval = r.collection_interval ?? 60;
    const limitS = rule.intervals * interval;
    const silent = r.silent_seconds > limitS;
    out.push({ vps: r.vps_name, app: r.app_name, subject: '', verdict: silent ? 'fire' : 'recover', value: Math.round(r.silent_seconds),
      summary: silent
        ? `agent silent for ${formatDuration(r.silent_seconds * 1000)} (more than ${rule.intervals} × ${interval}s collection interval); last seen ${iso(r.updated_at)}`
        : `agent reporting (last seen ${formatDuration(r.silent_seconds * 1000)} ago)`,
      observedAt: iso(r.updated_at) });
  }
  return out;
}

export interface ErrorCountRow { vps_name: string; app_name: string; lines: number; last_at: Date }

/** Apps absent from `rows` logged no matching line in the window: absent means recovered. */
export function judgeErrorRate(rule: LogErrorRateRule, rows: readonly ErrorCountRow[]): Observation[] {
  const minutes = rule.windowMs / 60_000;
  const out: Observation[] = [];
  for (const r of rows) {
    if (!inScope(rule.scope, r.vps_name, r.app_name)) continue;
    const rate = Number(r.lines) / minutes;
    const over = rate > rule.perMinute;
    out.push({ vps: r.vps_name, app: r.app_name, subject: '', verdict: over ? 'fire' : 'recover', value: round(rate),
      summary: `${round(rate)} ${rule.levels.join('/')} lines per minute over ${formatDuration(rule.windowMs)} (${r.lines} lines; alert above ${rule.perMinute}/min)`,
      observedAt: iso(r.last_at) });
  }
  return out;
}

export interface CertRow { vps_name: string; app_name: string; url: string; cert_days_left: number; timestamp: Date }

export function judgeCert(rule: CertExpiryRule, rows: readonly CertRow[]): Observation[] {
  const out: Observation[] = [];
  for (const r of rows) {
    if (!inScope(rule.scope, r.vps_name, r.app_name) || !urlMatches(rule.urls, r.url)) continue;
    const expiring = r.cert_days_left < rule.days;
    const days = round(r.cert_days_left);
    out.push({ vps: r.vps_name, app: r.app_name, subject: r.url, verdict: expiring ? 'fire' : 'recover', value: days,
      summary: days < 0 ? `TLS certificate expired ${-days} days ago`
        : `TLS certificate expires in ${days} days${expiring ? ` (alert below ${rule.days})` : ''}`,
      observedAt: iso(r.timestamp) });
  }
  return out;
}

export interface AnomalyRow {
  vps_name: string; app_name: string; series: string; started_at: Date; peak_at: Date; value: number; expected: number | null;
  basis: Basis; score: number;
}

/** Open anomaly episodes (alert_anomalies.ended_at IS NULL); a closed episode is absent, which recovers. */
export function judgeAnomaly(rule: AnomalyRule, rows: readonly AnomalyRow[], now: number): Observation[] {
  const out: Observation[] = [];
  for (const r of rows) {
    if (!inScope(rule.scope, r.vps_name, r.app_name) || !urlMatches(rule.series, r.series)) continue;
    if (Math.abs(r.score) < rule.minScore) continue;
    const lasted = now - r.started_at.getTime();
    const summary = describeEpisode({ series: r.series, value: r.value, expected: r.expected, basis: r.basis, score: r.score, peakAt: r.peak_at.getTime() }) +
      (rule.forMs > 0 ? `; for ${formatDuration(Math.max(0, lasted))}, limit ${formatDuration(rule.forMs)}` : '');
    out.push({ vps: r.vps_name, app: r.app_name, subject: r.series, verdict: lasted >= rule.forMs ? 'fire' : 'pending',
      value: round(r.value), summary, observedAt: iso(r.peak_at) });
  }
  return out;
}

/** What a key that produced no observation this round means for an open alert of this rule. */
export function absentVerdict(rule: AlertRule): Verdict {
  // No error lines in the window, or no open anomaly episode, is a recovery; no data for the others
  // is no news (the agent-silent rule reports an agent that stopped reporting).
  return rule.type === 'log_error_rate' || rule.type === 'anomaly' ? 'recover' : 'hold';
}
