// The public status page (/status): no login, only what GET /api/public/status answers (the services
// and checks the hub's status-page file names, under their public names). Refreshes every 60 s.
import { el, stateBox, text } from './dom.js';
import { dayBars, uptimeList } from './bars.js';
import { formatTime, formatDuration } from './time.js';
import { applyTheme } from './theme.js';
import type { PublicState, PublicStatus } from './types.js';

const STATE_TEXT: Record<PublicState, string> = { operational: 'Operational', degraded: 'Degraded', down: 'Down', unknown: 'No data' };
const OVERALL: Record<PublicState, string> = {
  operational: 'All systems operational', degraded: 'Some systems degraded', down: 'Some systems are down', unknown: 'Some systems report no data',
};

applyTheme();
const main = document.getElementById('main')!;

function render(s: PublicStatus): void {
  document.title = s.title;
  const services = s.services.map((svc) => el('article', { class: 'service', 'data-testid': 'status-service', 'data-state': svc.state },
    el('h3', {}, text(svc.name), el('span', { class: 'badge', 'data-status': svc.state }, STATE_TEXT[svc.state])),
    dayBars(svc.days),
    uptimeList(svc.uptime, 'status-uptime')));
  const incidents = s.incidents.length
    ? el('ul', { class: 'incidents', 'data-testid': 'status-incidents' }, ...s.incidents.map((i) => el('li', {},
      el('strong', {}, text(`${i.service}: ${i.title}`)),
      el('div', { class: 'muted' }, `${formatTime(i.startedAt, 'datetime')} – ${i.resolvedAt ? formatTime(i.resolvedAt, 'datetime') : 'ongoing'} · ${formatDuration(i.durationSeconds)}`))))
    : stateBox('empty', 'No incidents in the last 90 days.');
  main.replaceChildren(
    el('h1', {}, text(s.title)),
    el('p', { class: 'overall', 'data-state': s.state, role: 'status', 'aria-live': 'polite', 'data-testid': 'status-overall' }, OVERALL[s.state]),
    el('section', { 'aria-label': 'services' }, ...services),
    el('h2', {}, 'Incidents'), incidents,
    el('p', { class: 'muted' }, `Updated ${formatTime(s.generatedAt)}. Uptime bars are UTC days, newest on the right.`));
}

async function load(): Promise<void> {
  try {
    const res = await fetch('/api/public/status', { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => ({})) as PublicStatus & { error?: string };
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    render(body);
  } catch (err) {
    main.replaceChildren(stateBox('error', 'The status is not available right now.', text((err as Error).message)));
  }
}

void load();
setInterval(() => { void load(); }, 60_000);
