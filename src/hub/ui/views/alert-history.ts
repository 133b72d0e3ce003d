// The alert history: fired / resolved / acknowledged events with what was notified, newest first. A
// flaky check's pending/cleared runs are folded into one row each (src/hub/alerting/history-fold.ts),
// saying how many flaps the state machine held back.
import { el, text } from '../dom.js';
import type { AlertEvent } from '../types.js';
import { foldFlaps, type FlapRun } from '../../alerting/history-fold.js';
import { timeAgo } from './alerts-time.js';

function notifiedText(e: AlertEvent): string {
  if (e.mutedBy) return `muted (${e.mutedBy})`;
  if (e.notifications.length) return e.notifications.map((n) => `${n.channel}: ${n.status}${n.lastError ? ` (${n.lastError})` : ''}`).join(', ');
  // Only firing, resolved and reminder events are ever sent; say why nothing was.
  if (e.kind === 'pending' || e.kind === 'cleared') return 'held back';
  if (e.kind === 'acknowledged') return e.actor ? `by ${e.actor}` : '–';
  return e.kind === 'resolved' ? 'not sent (the firing notice was not)' : 'no channel';
}

function eventRow(e: AlertEvent): HTMLElement {
  return el('tr', { 'data-kind': e.kind, 'data-testid': 'alert-event' },
    el('td', {}, timeAgo(e.timestamp)),
    el('td', {}, el('span', { class: 'badge', 'data-kind': e.kind }, e.kind)),
    el('td', {}, text(e.rule)),
    el('td', {}, text(`${e.vps}/${e.app}`)),
    el('td', {}, text(e.subject ? `${e.subject}: ${e.summary}` : e.summary)),
    el('td', {}, text(notifiedText(e))));
}

function flapRow(f: FlapRun): HTMLElement {
  const what = `flapping: ${f.flaps} flap${f.flaps === 1 ? '' : 's'} held back (${f.events} pending/cleared events folded)` +
    (f.stillPending ? ', pending now' : '');
  return el('tr', { 'data-kind': 'flaps', 'data-testid': 'alert-flaps' },
    el('td', {}, timeAgo(f.to), el('div', { class: 'muted' }, 'since ', timeAgo(f.from))),
    el('td', {}, el('span', { class: 'badge', 'data-kind': 'pending' }, 'flaps')),
    el('td', {}, text(f.rule)),
    el('td', {}, text(`${f.vps}/${f.app}`)),
    el('td', {}, text(f.subject ? `${f.subject}: ${what}` : what)),
    el('td', {}, 'held back, nothing sent'));
}

export function historyTable(events: AlertEvent[]): HTMLElement {
  if (!events.length) return el('p', { class: 'muted', 'data-testid': 'alert-events' }, 'No alert has fired yet.');
  const rows = foldFlaps(events);
  return el('table', { class: 'alerts', 'data-testid': 'alert-events' },
    el('thead', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Event'), el('th', {}, 'Rule'), el('th', {}, 'Where'), el('th', {}, 'What'), el('th', {}, 'Notified'))),
    el('tbody', {}, ...rows.map((r) => (r.kind === 'flaps' ? flapRow(r) : eventRow(r.event)))));
}
