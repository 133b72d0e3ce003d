// Rule-based alerting (src/hub/alerting): the alerts currently open (with acknowledge), the rules in
// force (read-only: they live in the hub's alerts file) and the history of fired / resolved events
// with what was notified.
import { el, text, ago } from '../dom.js';
import { getJson } from '../api.js';

interface OpenAlert {
  id: number; rule: string; type: string; vps: string; app: string; subject: string; status: string; severity: string;
  summary: string; firingSince: string | null; pendingSince: string | null; acknowledgedAt: string | null; acknowledgedBy: string | null;
}
interface AlertEvent {
  id: number; timestamp: string; kind: string; rule: string; vps: string; app: string; subject: string; severity: string;
  summary: string; mutedBy: string | null; notifications: { channel: string; status: string; attempts: number; lastError: string | null }[];
}
interface RuleView { name: string; type: string; [key: string]: unknown }

async function acknowledge(id: number, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  const res = await fetch(`/api/alerts/${id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'dashboard' }) });
  button.textContent = res.ok ? 'acknowledged' : `failed (${res.status})`;
}

function openTable(alerts: OpenAlert[]): HTMLElement {
  if (!alerts.length) return el('p', { class: 'muted' }, 'No rule is firing or pending.');
  const table = el('table', { class: 'alerts', 'data-testid': 'rule-alerts' },
    el('tr', {}, el('th', {}, 'Status'), el('th', {}, 'Rule'), el('th', {}, 'Where'), el('th', {}, 'What'), el('th', {}, 'Since'), el('th', {}, '')));
  for (const a of alerts) {
    const since = a.firingSince ?? a.pendingSince;
    const ack = el('button', { type: 'button' }, a.acknowledgedAt ? `acknowledged by ${a.acknowledgedBy ?? '?'}` : 'Acknowledge');
    if (a.acknowledgedAt || a.status !== 'firing') ack.disabled = true;
    ack.addEventListener('click', () => { void acknowledge(a.id, ack); });
    table.append(el('tr', { 'data-status': a.status },
      el('td', {}, el('span', { class: 'badge', 'data-kind': a.status }, a.status)),
      el('td', {}, text(a.rule)),
      el('td', {}, text(`${a.vps}/${a.app}`)),
      el('td', {}, text(a.subject ? `${a.subject}: ${a.summary}` : a.summary)),
      el('td', { title: since ?? '' }, since ? ago(since) : '–'),
      el('td', {}, ack)));
  }
  return table;
}

function historyTable(events: AlertEvent[]): HTMLElement {
  if (!events.length) return el('p', { class: 'muted' }, 'No alert has fired yet.');
  const table = el('table', { class: 'alerts', 'data-testid': 'alert-events' },
    el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Event'), el('th', {}, 'Rule'), el('th', {}, 'Where'), el('th', {}, 'What'), el('th', {}, 'Notified')));
  for (const e of events) {
    const notified = e.mutedBy ? `muted (${e.mutedBy})`
      : e.notifications.length ? e.notifications.map((n) => `${n.channel}: ${n.status}${n.lastError ? ` (${n.lastError})` : ''}`).join(', ') : '–';
    table.append(el('tr', {},
      el('td', { title: e.timestamp }, new Date(e.timestamp).toLocaleString()),
      el('td', {}, el('span', { class: 'badge', 'data-kind': e.kind }, e.kind)),
      el('td', {}, text(e.rule)),
      el('td', {}, text(`${e.vps}/${e.app}`)),
      el('td', {}, text(e.subject ? `${e.subject}: ${e.summary}` : e.summary)),
      el('td', {}, text(notified))));
  }
  return table;
}

/** One line per rule, in words (the full definition stays in the title for the curious). */
function describeRule(r: RuleView): string {
  const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : null);
  switch (r.type) {
    case 'health_check': return `fires after ${n('failures') ?? '?'} failed checks in a row, resolves after ${n('successes') ?? '?'} successes`;
    case 'metric': return typeof r.condition === 'string' ? r.condition : 'metric threshold';
    case 'agent_silent': return `agent silent for more than ${n('intervals') ?? '?'} collection intervals`;
    case 'log_error_rate': return `more than ${n('perMinute') ?? '?'} error lines per minute over ${Math.round((n('windowMs') ?? 0) / 60_000)} min`;
    case 'cert_expiry': return `TLS certificate expires within ${n('days') ?? '?'} days`;
    default: return r.type;
  }
}

function rulesList(rules: RuleView[]): HTMLElement {
  const list = el('ul', { class: 'rules', 'data-testid': 'alert-rules' });
  for (const r of rules) {
    const counts = `${n0(r.firing)} firing, ${n0(r.pending)} pending`;
    list.append(el('li', { title: JSON.stringify(r) }, el('strong', {}, text(r.name)), ' — ', text(describeRule(r)),
      el('span', { class: 'muted' }, text(` · ${String(r.severity ?? '')} · ${counts}${r.source === 'default' ? ' · built-in' : ''}`))));
  }
  return list;
}

const n0 = (v: unknown) => (typeof v === 'number' ? v : 0);

export function alertHistorySection(): HTMLElement {
  const section = el('section', { class: 'alert-history', 'data-testid': 'alert-history' });
  const body = el('div', { class: 'muted' }, 'loading…');
  section.append(el('h2', {}, 'Rule-based alerts'), body);
  Promise.all([
    getJson<{ alerts: OpenAlert[] }>('/api/alerts/open'),
    getJson<{ events: AlertEvent[] }>('/api/alerts/history?limit=100'),
    getJson<{ rules: RuleView[] }>('/api/alert-rules'),
  ]).then(([open, history, rules]) => {
    body.replaceChildren(openTable(open.alerts), el('h2', {}, 'History'), historyTable(history.events),
      el('h2', {}, 'Rules (from the hub\u2019s alerts file, read-only)'), rulesList(rules.rules ?? []));
  }, (err: Error) => { body.textContent = `Could not load rule-based alerts: ${err.message}`; });
  return section;
}
