// Fleet overview: one card per vps/app with status colour, CPU/memory/disk/load, health checks and
// last seen; stale agents marked. Live: a pushed row replaces its card's data.
import { el, fmt, ago, bar, text, href, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import type { FleetRow } from '../types.js';
import { appBlock, scoped } from './app-block.js';

const keyOf = (r: { vps: string; app: string }) => `${r.vps}\u0000${r.app}`;

interface FiringAlert { rule: string; vps: string; app: string; subject: string; summary: string; status: string }

function card(r: FleetRow, firing: FiringAlert[]): HTMLElement {
  const checks = el('ul', { class: 'checks' });
  for (const c of r.checks) {
    const what = c.success ? `✓ ${c.statusCode ?? ''} ${fmt(c.responseTimeMs, 0, ' ms')}` : `✗ ${c.errorMessage ?? 'failed'}`;
    checks.append(el('li', { class: c.success ? 'ok' : 'fail', title: c.url }, text(`${what} — ${c.url}`)));
  }
  return el('article', { class: 'card', 'data-status': r.status, 'data-key': keyOf(r), 'data-testid': 'fleet-card' },
    el('h2', {}, el('a', { class: 'app', href: href(['vps', r.vps, r.app]) }, text(r.app)), el('span', { class: 'badge', 'data-status': r.status }, r.status)),
    el('div', { class: 'vps' }, text(r.vps)),
    appBlock(r.appMetrics),
    scoped('host', text(r.vps)),
    el('div', { class: 'metrics' },
      'CPU', bar(r.cpuPercent), el('span', { 'data-metric': 'cpu' }, fmt(r.cpuPercent, 1, '%')),
      'Memory', bar(r.memoryPercent), el('span', { 'data-metric': 'memory' }, fmt(r.memoryPercent, 1, '%')),
      'Disk', bar(r.diskPercent), el('span', { 'data-metric': 'disk' }, fmt(r.diskPercent, 1, '%')),
      'Load', el('span'), el('span', { 'data-metric': 'load' }, `${fmt(r.loadAvg1m, 2)} ${fmt(r.loadAvg5m, 2)} ${fmt(r.loadAvg15m, 2)}`)),
    checks,
    firing.length ? el('a', { class: 'firing', href: href(['alerts']), 'data-testid': 'firing-alerts',
      title: firing.map((a) => `${a.rule}: ${a.summary}`).join('\n') }, text(`⚠ ${firing.length} alert${firing.length === 1 ? '' : 's'} firing: ${firing.map((a) => a.rule).join(', ')}`)) : null,
    el('div', { class: 'seen', 'data-last-seen': r.lastSeen }, `last seen ${ago(r.lastSeen)}${r.stale ? ' (stale)' : ''}`));
}

export const fleetView: View = (main) => {
  const fleet = new Map<string, FleetRow>();
  // Rule-based alerts firing per vps/app (refreshed with the fleet and every 15 s).
  let firing = new Map<string, FiringAlert[]>();
  const summary = el('div', { class: 'summary', 'data-testid': 'fleet-summary' }, 'loading…');
  const grid = el('section', { class: 'fleet' });
  main.replaceChildren(summary, grid);

  const render = () => {
    const rows = [...fleet.values()].sort((a, b) => a.vps.localeCompare(b.vps) || a.app.localeCompare(b.app));
    const down = rows.filter((r) => r.status === 'down').length;
    const stale = rows.filter((r) => r.status === 'stale').length;
    summary.textContent = `${rows.length} app${rows.length === 1 ? '' : 's'} on ${new Set(rows.map((r) => r.vps)).size} VPS · ${down} down · ${stale} stale`;
    const firingCount = [...firing.values()].reduce((n, a) => n + a.length, 0);
    if (firingCount) summary.textContent += ` · ${firingCount} alert${firingCount === 1 ? '' : 's'} firing`;
    grid.replaceChildren(...(rows.length ? rows.map((r) => card(r, firing.get(keyOf(r)) ?? [])) : [el('div', { class: 'empty' }, 'No agents have reported yet. Start one with: observ agent APP')]));
  };
  const load = () => getJson<{ fleet: FleetRow[] }>('/api/fleet').then((body) => {
    fleet.clear();
    for (const r of body.fleet) fleet.set(keyOf(r), r);
    render();
  }, (err: Error) => { summary.textContent = `Could not load the fleet: ${err.message}`; });

  const loadAlerts = () => getJson<{ alerts: FiringAlert[] }>('/api/alerts/open?status=firing').then((body) => {
    const next = new Map<string, FiringAlert[]>();
    for (const a of body.alerts) next.set(keyOf(a), [...(next.get(keyOf(a)) ?? []), a]);
    firing = next;
    render();
  }, () => { /* alerting disabled or not reachable: the fleet still shows */ });

  void load().then(loadAlerts);
  const alertTimer = setInterval(() => { void loadAlerts(); }, 15_000);
  const stop = live.listen(['fleet'], (msg) => {
    if (msg.type !== 'fleet') return;
    for (const r of msg.rows) fleet.set(keyOf(r), r);
    render();
  }, load);
  // Keep "last seen" ages fresh between updates.
  const timer = setInterval(() => {
    for (const node of main.querySelectorAll<HTMLElement>('[data-last-seen]')) {
      const r = fleet.get((node.closest('[data-key]') as HTMLElement | null)?.dataset.key ?? '');
      if (r) node.textContent = `last seen ${ago(r.lastSeen)}${r.stale ? ' (stale)' : ''}`;
    }
  }, 5000);
  return () => { stop(); clearInterval(timer); clearInterval(alertTimer); };
};
