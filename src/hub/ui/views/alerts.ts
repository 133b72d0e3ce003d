// Alerts: one list of what is wrong now, from the rules engine (GET /api/alerts/open), one row per
// alert naming its rule; where notifications go (channels, with a test button) and the rules in
// force; then the history, flaps folded. Refreshed on live fleet updates (debounced) and every 10 s;
// relative times tick every second.
import { el, text, href, type View } from '../dom.js';
import { getJson, postJson, session } from '../api.js';
import { live } from '../live.js';
import type { AckResult, AlertEventsResult, AlertRulesResult, AlertRuleView, AlertState, AlertsResult, ChannelStatus, ChannelTestResult } from '../types.js';
import { historyTable } from './alert-history.js';
import { keepAgesLive, timeAgo } from './alerts-time.js';

/** What to add to alerts.yml when nothing would be sent (docs/alerting.md has every channel type). */
const CHANNEL_YAML = `channels:
  - name: ops-webhook
    type: webhook
    url: https://hooks.example.com/observ   # or type: slack with webhook_url, or type: email`;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function noChannelHint(configFile: string | null): HTMLElement {
  return el('div', { class: 'no-channel', 'data-testid': 'no-channel' },
    el('p', {}, el('strong', {}, 'No channel configured'), ': alerts are recorded here, but nothing is sent. ',
      configFile ? el('span', {}, 'Add to ', el('code', {}, text(configFile)), ':') : el('span', {}, 'Start the hub with ', el('code', {}, '--alerts FILE'),
        ' (or ', el('code', {}, 'OBSERV_ALERTS_FILE'), ') naming a file with:')),
    el('pre', { class: 'yaml' }, CHANNEL_YAML));
}

function notifiesText(rule: AlertRuleView | undefined): string {
  if (!rule) return '–';
  return rule.notifies.length ? `notifies ${rule.notifies.join(', ')}` : 'no channel configured';
}

interface Ctx {
  user: string | null;
  rules: Map<string, AlertRuleView>;
  /** Set while an acknowledgement form is open, so a refresh does not wipe a note being typed. */
  editing: boolean;
  reload: () => void;
}

function ackCell(a: AlertState, ctx: Ctx): HTMLElement {
  const cell = el('td', { class: 'ack' });
  if (a.acknowledgedAt) {
    cell.append(el('div', { 'data-testid': 'acknowledged' }, 'acknowledged by ', el('strong', {}, text(a.acknowledgedBy ?? '?')), ' ', timeAgo(a.acknowledgedAt)));
    if (a.acknowledgedNote) cell.append(el('div', { class: 'note', 'data-testid': 'ack-note' }, '“', text(a.acknowledgedNote), '”'));
    return cell;
  }
  if (a.status !== 'firing') return cell;
  const open = el('button', { type: 'button', 'data-testid': 'ack-open' }, 'Acknowledge…');
  open.addEventListener('click', () => {
    ctx.editing = true;
    const note = el('input', { type: 'text', maxlength: '2000', 'data-testid': 'ack-note-input', placeholder: 'e.g. restarting the app' });
    const status = el('span', { class: 'muted', role: 'status' });
    const cancel = el('button', { type: 'button', class: 'link' }, 'cancel');
    const form = el('form', { class: 'ack-form', 'data-testid': 'ack-form' },
      el('label', {}, 'Note (optional) ', note), el('button', { type: 'submit' }, 'Acknowledge'), cancel,
      el('div', { class: 'muted' }, `recorded as ${ctx.user ?? 'you'}`), status);
    cancel.addEventListener('click', () => { ctx.editing = false; cell.replaceChildren(open); });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      status.textContent = '…';
      postJson<AckResult>(`/api/alerts/${a.id}/ack`, note.value.trim() ? { note: note.value.trim() } : {}).then(() => {
        ctx.editing = false;
        ctx.reload();
      }, (err: Error) => { status.textContent = `failed: ${err.message}`; });
    });
    cell.replaceChildren(form);
    note.focus();
  });
  cell.append(open);
  return cell;
}

function notifiedText(a: AlertState, rule: AlertRuleView | undefined): string {
  if (a.status === 'pending') return 'not yet (pending)';
  if (!rule?.notifies.length) return 'no channel configured';
  return a.notified ? `sent to ${rule.notifies.join(', ')}` : 'held back by a maintenance window';
}

function problemsTable(alerts: AlertState[], ctx: Ctx): HTMLElement {
  if (!alerts.length) return el('p', { class: 'muted', 'data-testid': 'current-problems' }, 'No problems right now.');
  return el('table', { class: 'alerts', 'data-testid': 'current-problems' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Status'), el('th', {}, 'Rule'), el('th', {}, 'Where'), el('th', {}, 'What'), el('th', {}, 'Since'),
      el('th', {}, 'Notified'), el('th', {}, ''))),
    el('tbody', {}, ...alerts.map((a) => {
      const since = a.firingSince ?? a.pendingSince;
      const rule = ctx.rules.get(a.rule);
      return el('tr', { 'data-status': a.status, 'data-rule': a.rule, 'data-testid': 'problem-row' },
        el('td', {}, el('span', { class: 'badge', 'data-kind': a.status }, a.status)),
        el('td', {}, text(a.rule)),
        el('td', {}, el('a', { href: href(['vps', a.vps, a.app]) }, text(`${a.vps}/${a.app}`))),
        el('td', {}, text(a.subject ? `${a.subject}: ${a.summary}` : a.summary),
          a.flaps24h ? el('div', { class: 'flaps', 'data-testid': 'alert-flaps-held' }, `${plural(a.flaps24h, 'flap')} held back in 24 h`) : null),
        el('td', {}, since ? timeAgo(since) : '–'),
        el('td', { 'data-testid': 'problem-notified' }, notifiedText(a, rule)),
        ackCell(a, ctx));
    })));
}

function channelsSection(result: AlertRulesResult): HTMLElement {
  const section = el('section', { class: 'channels', 'data-testid': 'alert-channels' }, el('h3', {}, 'Channels'));
  if (!result.leader) {
    section.append(el('p', { class: 'muted' }, 'Alerting is not running on any hub (no leader): nothing is evaluated or sent.'));
    return section;
  }
  if (!result.channels.length) { section.append(noChannelHint(result.leader.configFile)); return section; }
  const list = el('ul', { class: 'channel-list' });
  for (const c of result.channels) list.append(channelItem(c));
  section.append(list);
  return section;
}

function channelItem(c: ChannelStatus): HTMLElement {
  const last = c.lastDelivery;
  const outcome = el('span', { class: 'muted', role: 'status', 'data-testid': 'channel-test-result' });
  const button = el('button', { type: 'button', 'data-testid': 'test-channel' }, 'Send test notification');
  button.addEventListener('click', () => {
    button.disabled = true;
    outcome.textContent = 'sending…';
    postJson<ChannelTestResult>(`/api/alert-channels/${encodeURIComponent(c.name)}/test`).then((r) => {
      outcome.textContent = r.ok ? `sent (${r.statusCode ?? 'ok'}, ${r.durationMs} ms)` : `failed: ${r.error ?? `status ${r.statusCode}`}`;
      outcome.dataset.ok = String(r.ok);
    }, (err: Error) => { outcome.textContent = `failed: ${err.message}`; outcome.dataset.ok = 'false'; }).finally(() => { button.disabled = false; });
  });
  return el('li', { 'data-channel': c.name },
    el('strong', {}, text(c.name)), ` (${c.type}) · `,
    last ? el('span', {}, `last notification ${last.status} `, timeAgo(last.at), last.error ? el('span', { class: 'error' }, ' — ', text(last.error)) : null)
      : el('span', { class: 'muted' }, 'nothing sent yet'),
    ' ', button, ' ', outcome);
}

/** One line per rule, in words (the full definition stays in the title for the curious). */
function describeRule(r: AlertRuleView): string {
  const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : null);
  switch (r.type) {
    case 'health_check': return `fires after ${n('failures') ?? '?'} failed checks in a row, resolves after ${n('successes') ?? '?'} successes`;
    case 'metric': return typeof r.condition === 'string' ? r.condition : 'metric threshold';
    case 'agent_silent': return `agent silent for more than ${n('intervals') ?? '?'} collection intervals`;
    case 'log_error_rate': return `more than ${n('perMinute') ?? '?'} error lines per minute over ${Math.round((n('windowMs') ?? 0) / 60_000)} min`;
    case 'cert_expiry': return `TLS certificate expires within ${n('days') ?? '?'} days`;
    case 'anomaly': return `the anomaly detector finds ${Array.isArray(r.series) && r.series.length ? (r.series as string[]).join(', ') : 'any series'} unusual${n('forMs') ? ` for ${Math.round(n('forMs')! / 60_000)} min` : ''}`;
    default: return r.type;
  }
}

function rulesList(rules: AlertRuleView[], channels: ChannelStatus[]): HTMLElement {
  const list = el('ul', { class: 'rules', 'data-testid': 'alert-rules' });
  // A rule that names no channel while some exist: say which line would make it notify.
  const fix = (r: AlertRuleView) => (channels.length && !r.notifies.length
    ? ` (add "channels: [${channels.map((c) => c.name).join(', ')}]" to it${r.source && r.source !== 'default' ? ` at ${r.source}` : ''})` : '');
  for (const r of rules) {
    const counts = `${r.firing} firing, ${r.pending} pending`;
    list.append(el('li', { title: JSON.stringify(r), 'data-rule': r.name }, el('strong', {}, text(r.name)), ' — ', text(describeRule(r)),
      el('span', { class: 'muted' }, text(` · ${String(r.severity ?? '')} · ${counts}${r.source === 'default' ? ' · built-in' : r.source ? ` · ${r.source}` : ''}`)),
      el('span', { class: r.notifies.length ? 'muted' : 'warn', 'data-testid': 'rule-channels' }, text(` · ${notifiesText(r)}${fix(r)}`)),
      r.flaps24h ? el('span', { class: 'flaps' }, ` · ${plural(r.flaps24h, 'flap')} held back in 24 h`) : null));
  }
  return list;
}

export const alertsView: View = (main) => {
  const summary = el('div', { class: 'summary', 'data-testid': 'alerts-summary', 'aria-live': 'polite' }, 'loading…');
  const problems = el('div');
  const config = el('div');
  const history = el('div');
  main.replaceChildren(el('div', { class: 'alerts-view' }, el('h2', {}, 'Current problems'), summary, problems, config,
    el('h2', {}, 'History'), history));
  const ctx: Ctx = { user: null, rules: new Map(), editing: false, reload: () => { void load(); } };
  void session().then((s) => { ctx.user = s.user; }, () => {});

  const load = () => Promise.all([
    getJson<AlertsResult>('/api/alerts/open'),
    getJson<AlertEventsResult>('/api/alert-events?limit=200'),
    getJson<AlertRulesResult>('/api/alert-rules'),
  ]).then(([open, events, rules]) => {
    ctx.rules = new Map(rules.rules.map((r) => [r.name, r]));
    const firing = open.alerts.filter((a) => a.status === 'firing').length;
    const pending = open.alerts.length - firing;
    const flaps = rules.rules.reduce((n, r) => n + r.flaps24h, 0);
    summary.textContent = open.alerts.length ? `${firing} firing · ${pending} pending` : 'No problems right now.';
    if (flaps) summary.textContent += ` · ${plural(flaps, 'flap')} held back in 24 h`;
    if (!ctx.editing) problems.replaceChildren(problemsTable(open.alerts, ctx));
    config.replaceChildren(channelsSection(rules), el('h3', {}, 'Rules (from the hub\u2019s alerts file, read-only)'), rulesList(rules.rules, rules.channels));
    history.replaceChildren(historyTable(events.events));
  }, (err: Error) => { summary.textContent = `Could not load alerts: ${err.message}`; });
  void load();
  let pendingReload: ReturnType<typeof setTimeout> | null = null;
  const stop = live.listen(['fleet'], (msg) => {
    if (msg.type === 'fleet' && !pendingReload) pendingReload = setTimeout(() => { pendingReload = null; void load(); }, 1000);
  }, () => { void load(); });
  const timer = setInterval(() => { void load(); }, 10_000);
  const stopAges = keepAgesLive(main);
  return () => { stop(); stopAges(); clearInterval(timer); if (pendingReload) clearTimeout(pendingReload); };
};
