// Alerts: what is wrong right now (GET /api/alerts), with since-when. Refreshed on every live fleet
// update (debounced) and every 30 s; rule-based history below, from its own module.
import { el, ago, localTime, text, href, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import type { CurrentAlert } from '../types.js';
import { alertHistorySection } from './alert-history.js';

const KIND_LABEL: Record<CurrentAlert['kind'], string> = { check_failing: 'check failing', agent_silent: 'agent silent', disk_full: 'disk full' };

export const alertsView: View = (main) => {
  const status = el('div', { class: 'summary', 'data-testid': 'alerts-summary' }, 'loading…');
  const table = el('table', { class: 'alerts' });
  main.replaceChildren(el('h2', {}, 'Current problems'), status, table, alertHistorySection());
  const load = () => getJson<{ alerts: CurrentAlert[] }>('/api/alerts').then(({ alerts }) => {
    status.textContent = alerts.length ? `${alerts.length} problem${alerts.length === 1 ? '' : 's'}` : 'No problems right now.';
    table.replaceChildren(
      el('tr', {}, el('th', {}, 'Kind'), el('th', {}, 'App'), el('th', {}, 'VPS'), el('th', {}, 'Since'), el('th', {}, 'What')),
      ...alerts.map((a) => el('tr', { 'data-kind': a.kind, 'data-testid': 'alert-row' },
        el('td', {}, el('span', { class: 'badge', 'data-kind': a.kind }, KIND_LABEL[a.kind])),
        el('td', {}, el('a', { href: href(['vps', a.vps, a.app]) }, text(a.app))),
        el('td', {}, text(a.vps)),
        el('td', { title: a.since ? localTime(a.since) : '' }, a.since ? ago(a.since) : '–'),
        el('td', {}, text(a.message)))));
  }, (err: Error) => { status.textContent = `Could not load alerts: ${err.message}`; });
  void load();
  let pending: ReturnType<typeof setTimeout> | null = null;
  const stop = live.listen(['fleet'], (msg) => {
    if (msg.type === 'fleet' && !pending) pending = setTimeout(() => { pending = null; void load(); }, 1000);
  }, load);
  const timer = setInterval(load, 30_000);
  return () => { stop(); clearInterval(timer); if (pending) clearTimeout(pending); };
};
