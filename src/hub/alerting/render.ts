// Notifications as data (stored in the outbox), and their rendering per channel — pure.
// Log text is untrusted: escaped for Slack mrkdwn and for HTML, and cut to a bounded length.

import { createHmac } from 'node:crypto';
import { formatDuration } from './config.js';

export interface ErrorLine {
  timestamp: string;
  level: string;
  logger: string | null;
  message: string;
}

export interface HostSnapshot {
  at: string;
  cpuPercent: number | null;
  memoryPercent: number | null;
  diskPercent: number | null;
  loadAvg1m: number | null;
}

/** A deploy of the app shortly before the alert's episode began (DEPLOY_WINDOW_MS). */
export interface DeployNote {
  timestamp: string;
  version: string | null;
  previousVersion: string | null;
  release: string | null;
  source: 'symlink' | 'cli';
  /** How long before the episode's first failure (pending or firing) it went live. */
  beforeMs: number;
  /** What began: 'the first failure' (checks, error lines) or 'the alert began' (thresholds and the rest). */
  before: string;
}

export interface IncidentContext {
  /** The moment of the failure the context describes. */
  at: string;
  errorLines: ErrorLine[];
  host: HostSnapshot | null;
  /** Absent in contexts stored before deploy markers; null when no deploy fell in the window. */
  deploy?: DeployNote | null;
  /** Anomaly episodes open on the agent, one line each ("cpu_percent 97 is 3.1× its usual for Tuesday 14:00 UTC …"). */
  anomalies?: string[];
  dashboardLink: string;
}

export interface Notification {
  /** 'test': a test notification sent from the dashboard (POST /api/alert-channels/:name/test). */
  kind: 'firing' | 'resolved' | 'reminder' | 'test';
  /** Stable per notification and channel; receivers may deduplicate on it. */
  idempotencyKey: string;
  alertId: number;
  eventId: number;
  episode: number;
  rule: { name: string; type: string; severity: string };
  vps: string;
  app: string;
  subject: string;
  summary: string;
  value: number | null;
  eventAt: string;
  observedAt: string | null;
  firingSince: string | null;
  /** Set when a maintenance window held this firing notice back until it ended. */
  mutedUntilNow: boolean;
  dashboardLink: string;
  context: IncidentContext | null;
}

export function dashboardLink(baseUrl: string, vps: string, app: string, at: string): string {
  const base = baseUrl.replace(/#.*$/, '').replace(/\/+$/, '');
  return `${base}/#/vps/${encodeURIComponent(vps)}/${encodeURIComponent(app)}?at=${encodeURIComponent(at)}`;
}

const MAX_LINE = 300;
export function cut(text: string, max = MAX_LINE): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ⏎ ');
  return oneLine.length > max ? oneLine.slice(0, max - 1) + '…' : oneLine;
}

/** "firing since … (for 12m)" for a resolved notice, "firing since …" otherwise. */
function firingLine(n: Notification): string | null {
  if (!n.firingSince) return null;
  if (n.kind !== 'resolved') return `Firing since ${n.firingSince}`;
  const ms = Date.parse(n.eventAt) - Date.parse(n.firingSince);
  return `Was firing for ${formatDuration(ms)} (since ${n.firingSince})`;
}

const LABEL: Record<Notification['kind'], string> = { firing: 'FIRING', resolved: 'RESOLVED', reminder: 'STILL FIRING', test: 'TEST' };

export function title(n: Notification): string {
  const where = n.app ? `${n.vps}/${n.app}` : n.vps;
  return `[${LABEL[n.kind]}] ${n.rule.name} on ${where}${n.subject && n.rule.type !== 'metric' ? ` (${n.subject})` : ''}`;
}

const pct = (v: number | null) => (v === null || v === undefined ? 'n/a' : `${Math.round(v * 10) / 10}%`);
const num = (v: number | null) => (v === null || v === undefined ? 'n/a' : String(Math.round(v * 100) / 100));

export function hostLine(h: HostSnapshot): string {
  return `CPU ${pct(h.cpuPercent)} · memory ${pct(h.memoryPercent)} · disk ${pct(h.diskPercent)} · load ${num(h.loadAvg1m)} (at ${h.at})`;
}

/** "4 min", "45 s": how long before the failure a deploy went live. */
export function agoText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 360) / 10} h`;
}

/** "Deployed 1.4.2 (was 1.4.1) 4 min before the first failure, at 2026-12-06T14:00:00.000Z". */
export function deployLine(d: DeployNote): string {
  const version = d.version ? ` ${d.version}` : '';
  const was = d.previousVersion && d.previousVersion !== d.version ? ` (was ${d.previousVersion})` : '';
  return cut(`Deployed${version}${was} ${agoText(d.beforeMs)} before ${d.before}, at ${d.timestamp}`);
}

// --- Slack (incoming webhook, Block Kit with a text fallback) ---

/** Slack mrkdwn needs only &, < and > escaped; that also defuses <!channel> and link injection. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderSlack(n: Notification): Record<string, unknown> {
  const icon = n.kind === 'resolved' ? ':white_check_mark:' : n.rule.severity === 'critical' ? ':red_circle:' : ':warning:';
  const head = `${icon} *${slackEscape(title(n))}*`;
  const lines: string[] = [slackEscape(n.summary)];
  if (n.mutedUntilNow) lines.push('_Held back by a maintenance window that has ended._');
  const firing = firingLine(n);
  if (firing) lines.push(firing);
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${head}\n${lines.join('\n')}` } },
  ];
  const c = n.context;
  if (c) {
    if (c.deploy) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `:rocket: ${slackEscape(deployLine(c.deploy))}` } });
    if (c.host) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`Host: ${hostLine(c.host)}`) }] });
    if (c.anomalies?.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`Unusual now: ${c.anomalies.join('; ')}`) }] });
    if (c.errorLines.length) {
      const body = c.errorLines.map((l) => `${l.timestamp} ${l.level} ${cut(l.message)}`).join('\n');
      // Code blocks cannot contain ``` — replace it rather than let a log line break out.
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Last errors before the failure*\n\`\`\`${slackEscape(body).replace(/```/g, "'''")}\`\`\`` } });
    }
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `<${n.dashboardLink}|Open the dashboard at that minute> · rule ${slackEscape(n.rule.name)} · ${n.rule.severity}` }] });
  return { text: `${title(n)}: ${n.summary}`, blocks };
}

// --- Generic webhook (JSON body, HMAC-SHA256 signature of the exact bytes sent) ---

export function renderWebhookBody(n: Notification): string {
  return JSON.stringify({ version: 1, ...n, title: title(n) });
}

export function signBody(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body, 'utf8').digest('hex');
}

// --- Email (plain text + HTML) ---

export function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function renderEmail(n: Notification): { subject: string; text: string; html: string } {
  const subject = cut(`${title(n)}: ${n.summary}`, 200);
  const text: string[] = [title(n), '', n.summary];
  if (n.mutedUntilNow) text.push('(Held back by a maintenance window that has ended.)');
  const firing = firingLine(n);
  if (firing) text.push(firing);
  text.push(`Rule: ${n.rule.name} (${n.rule.type}, ${n.rule.severity})`);
  const c = n.context;
  if (c?.deploy) text.push('', deployLine(c.deploy));
  if (c?.host) text.push('', `Host: ${hostLine(c.host)}`);
  if (c?.anomalies?.length) text.push('', 'Unusual now:', ...c.anomalies.map((a) => `  ${a}`));
  if (c?.errorLines.length) {
    text.push('', 'Last errors before the failure:');
    for (const l of c.errorLines) text.push(`  ${l.timestamp} ${l.level} ${cut(l.message)}`);
  }
  text.push('', `Dashboard at that minute: ${n.dashboardLink}`);

  const h: string[] = [`<h2 style="margin:0 0 8px">${htmlEscape(title(n))}</h2>`, `<p>${htmlEscape(n.summary)}</p>`];
  if (n.mutedUntilNow) h.push('<p><em>Held back by a maintenance window that has ended.</em></p>');
  if (firing) h.push(`<p>${htmlEscape(firing)}</p>`);
  h.push(`<p>Rule: ${htmlEscape(n.rule.name)} (${htmlEscape(n.rule.type)}, ${htmlEscape(n.rule.severity)})</p>`);
  if (c?.deploy) h.push(`<p><strong>${htmlEscape(deployLine(c.deploy))}</strong></p>`);
  if (c?.host) h.push(`<p>Host: ${htmlEscape(hostLine(c.host))}</p>`);
  if (c?.anomalies?.length) h.push(`<p>Unusual now:</p><ul>${c.anomalies.map((a) => `<li>${htmlEscape(a)}</li>`).join('')}</ul>`);
  if (c?.errorLines.length) {
    h.push('<p>Last errors before the failure:</p><pre style="white-space:pre-wrap">' +
      c.errorLines.map((l) => htmlEscape(`${l.timestamp} ${l.level} ${cut(l.message)}`)).join('\n') + '</pre>');
  }
  h.push(`<p><a href="${htmlEscape(n.dashboardLink)}">Open the dashboard at that minute</a></p>`);
  return { subject, text: text.join('\n') + '\n', html: `<!doctype html><html><body>${h.join('\n')}</body></html>` };
}
