// Fleet overview: one card per vps/app with its status (from the alert state machine, pushed by the
// hub on commits and on its liveness ticker), CPU/memory/disk/load, health checks, open alerts and
// last seen. A pushed row replaces its own card; ages run on the hub's clock and freeze while the hub
// is unreachable (time.ts).
import { el, fmt, bar, text, href, skeleton, stateBox, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import { formatAgo, formatDuration, formatTime, now } from '../time.js';
import type { FleetAlert, FleetCheck, FleetRow } from '../types.js';
import { appBlock, scoped } from './app-block.js';

const keyOf = (r: { vps: string; app: string }) => `${r.vps}\u0000${r.app}`;

export const STATUS_TEXT: Record<FleetRow['status'], string> = { up: 'up', pending: 'failing?', down: 'down', stale: 'stale', unknown: 'no data' };
export const STATUS_HELP: Record<FleetRow['status'], string> = {
  up: 'reporting, no health-check alert open',
  pending: 'a health check failed; the alert is pending until it fails often enough to fire',
  down: 'a health-check alert is firing',
  stale: 'no data from the agent for longer than its threshold',
  unknown: 'the agent has sent nothing yet',
};

/**
 * Whether the agent has gone silent (the hub's `stale`: no batch within its window, or agent-silent
 * firing). Its checks' latest results are then history: nothing on the page may show them as "up".
 */
export const isSilent = (r: FleetRow) => r.stale || r.status === 'stale';

/** "no data since 14:03": when a silent agent's last result (or batch) arrived. */
export const noDataSince = (iso: string) => `no data since ${formatTime(iso)}`;

/** The status badge's tooltip: what the status means, and since when a silent agent has sent nothing. */
export const statusTitle = (r: FleetRow) => (isSilent(r) ? `${STATUS_HELP.stale}: ${noDataSince(r.lastSeen)}` : STATUS_HELP[r.status]);

/**
 * A check the agent runs whose latest result was already older than two of its intervals plus its
 * timeout and 15 s when the agent's latest batch arrived: the prober is not reporting it, so that result
 * is history. Measured from that batch, not from now, so a long flush_interval never makes a check look
 * late, and a silent agent is told by its own staleness.
 */
export function isCheckLate(c: FleetCheck, lastSeen: string): boolean {
  if (c.intervalSeconds === null || c.timestamp === null) return false;
  return Date.parse(lastSeen) - Date.parse(c.timestamp) > (2 * c.intervalSeconds + (c.timeoutSeconds ?? 0) + 15) * 1000;
}

/**
 * One health check on a card: its latest result; unknown (grey, "?") when the agent is silent or the
 * check itself has not reported for two of its intervals; waiting when it has no result yet.
 */
function checkItem(r: FleetRow, c: FleetCheck): HTMLElement {
  const alert = r.alerts.find((a) => a.type === 'health_check' && a.subject === c.url);
  if (c.timestamp === null || c.success === null) {
    const every = c.intervalSeconds === null ? '' : `, every ${formatDuration(c.intervalSeconds)}`;
    return el('li', { class: 'unknown', 'data-state': 'waiting', title: `${c.url} — no result yet${every}` },
      text(`? waiting for the first result — ${c.url}`));
  }
  const what = c.success ? `✓ ${c.statusCode ?? ''} ${fmt(c.responseTimeMs, 0, ' ms')}` : `✗ ${c.errorMessage ?? 'failed'}`;
  if (isSilent(r) || isCheckLate(c, r.lastSeen)) {
    const why = isSilent(r) ? '' : ` (checked every ${formatDuration(c.intervalSeconds ?? 0)}, the agent is reporting)`;
    return el('li', { class: 'unknown', 'data-state': 'unknown', title: `${c.url} — ${noDataSince(c.timestamp)}${why} (last result: ${c.success ? 'up' : 'failed'})` },
      text(`? ${noDataSince(c.timestamp)} — ${c.url}`));
  }
  const state = alert?.status === 'firing' ? 'fail' : alert?.status === 'pending' || !c.success ? 'warn' : 'ok';
  return el('li', { class: state, 'data-state': state, title: `${c.url}${alert ? ` — alert ${alert.status}` : ''}` }, text(`${what} — ${c.url}`));
}

/** "health-check-failing ×2, disk-full": firing alerts grouped by rule. */
function firingText(alerts: FleetAlert[]): string {
  const byRule = new Map<string, number>();
  for (const a of alerts) byRule.set(a.rule, (byRule.get(a.rule) ?? 0) + 1);
  return [...byRule].map(([rule, n]) => (n > 1 ? `${rule} ×${n}` : rule)).join(', ');
}

function seenText(r: FleetRow): string {
  return `last seen ${formatAgo(r.lastSeen)}${r.status === 'stale' ? ` · silent for ${formatDuration((now() - Date.parse(r.lastSeen)) / 1000)}` : ''}`;
}

function card(r: FleetRow): HTMLElement {
  const checks = el('ul', { class: 'checks', 'aria-label': 'health checks' }, ...r.checks.map((c) => checkItem(r, c)));
  const firing = r.alerts.filter((a) => a.status === 'firing');
  return el('article', { class: 'card', 'data-status': r.status, 'data-key': keyOf(r), 'data-testid': 'fleet-card' },
    el('h2', {}, el('a', { class: 'app', href: href(['vps', r.vps, r.app]) }, text(r.app)),
      el('span', { class: 'badge', 'data-status': r.status, title: statusTitle(r), 'data-testid': 'status-badge' }, STATUS_TEXT[r.status])),
    el('div', { class: 'vps' }, text(r.vps)),
    appBlock(r.appMetrics),
    scoped('host', text(r.vps)),
    el('div', { class: 'metrics' },
      'CPU', bar(r.cpuPercent), el('span', { 'data-metric': 'cpu' }, fmt(r.cpuPercent, 1, '%')),
      'Memory', bar(r.memoryPercent), el('span', { 'data-metric': 'memory' }, fmt(r.memoryPercent, 1, '%')),
      'Disk', bar(r.diskPercent), el('span', { 'data-metric': 'disk' }, fmt(r.diskPercent, 1, '%')),
      'Load', el('span'), el('span', { 'data-metric': 'load' }, `${fmt(r.loadAvg1m, 2)} ${fmt(r.loadAvg5m, 2)} ${fmt(r.loadAvg15m, 2)}`)),
    checks,
    firing.length ? el('a', { class: 'firing', href: href(['alerts']), 'data-testid': 'firing-alerts', title: firing.map((a) => `${a.rule} ${a.subject}`).join('\n') },
      text(`⚠ ${firing.length} alert${firing.length === 1 ? '' : 's'} firing: ${firingText(firing)}`)) : null,
    el('div', { class: 'seen', 'data-last-seen': r.lastSeen }, seenText(r)));
}

export const fleetView: View = (main) => {
  document.title = 'Observ — fleet';
  const fleet = new Map<string, FleetRow>();
  const cards = new Map<string, HTMLElement>();
  const summary = el('div', { class: 'summary', 'data-testid': 'fleet-summary', role: 'status', 'aria-live': 'polite' }, 'Loading the fleet…');
  const grid = el('section', { class: 'fleet', 'aria-label': 'agents', 'aria-busy': 'true' },
    ...Array.from({ length: 3 }, () => skeleton(5, 'card')));
  main.replaceChildren(el('h2', { class: 'sr-only' }, 'Fleet'), summary, grid);
  let loaded = false;

  const sorted = () => [...fleet.values()].sort((a, b) => a.vps.localeCompare(b.vps) || a.app.localeCompare(b.app));
  const renderSummary = () => {
    const rows = [...fleet.values()];
    const n = (s: FleetRow['status']) => rows.filter((r) => r.status === s).length;
    const firing = rows.reduce((k, r) => k + r.alerts.filter((a) => a.status === 'firing').length, 0);
    summary.textContent = `${rows.length} app${rows.length === 1 ? '' : 's'} on ${new Set(rows.map((r) => r.vps)).size} VPS · ` +
      `${n('up')} up · ${n('pending')} failing? · ${n('down')} down · ${n('stale')} stale` + (firing ? ` · ${firing} alert${firing === 1 ? '' : 's'} firing` : '');
  };
  const renderAll = () => {
    cards.clear();
    const rows = sorted();
    grid.removeAttribute('aria-busy');
    if (!rows.length) grid.replaceChildren(stateBox('empty', 'No agents have reported yet.', 'Start one on a VPS with: observ agent APP (see the README, "Enable monitoring for an app").'));
    else grid.replaceChildren(...rows.map((r) => { const c = card(r); cards.set(keyOf(r), c); return c; }));
    renderSummary();
  };
  const update = (rows: FleetRow[]) => {
    let added = false;
    for (const r of rows) {
      fleet.set(keyOf(r), r);
      const old = cards.get(keyOf(r));
      if (!old) { added = true; continue; }
      const next = card(r);
      old.replaceWith(next);
      cards.set(keyOf(r), next);
    }
    if (added) renderAll(); else renderSummary();
  };
  const load = () => getJson<{ fleet: FleetRow[] }>('/api/fleet').then((body) => {
    loaded = true;
    fleet.clear();
    for (const r of body.fleet) fleet.set(keyOf(r), r);
    renderAll();
  }, (err: Error) => {
    if (loaded) { summary.textContent = `Could not refresh the fleet: ${err.message}`; return; }
    const retry = el('button', { type: 'button' }, 'Try again');
    retry.addEventListener('click', () => { void load(); });
    grid.removeAttribute('aria-busy');
    grid.replaceChildren(stateBox('error', 'Could not load the fleet.', text(err.message), retry));
    summary.textContent = '';
  });

  void load();
  const stop = live.listen(['fleet'], (msg) => {
    if (msg.type === 'fleet' && loaded) update(msg.rows);
  }, load);
  // Ages between pushes (frozen while the hub is unreachable: time.ts).
  const timer = setInterval(() => {
    for (const node of main.querySelectorAll<HTMLElement>('[data-last-seen]')) {
      const r = fleet.get((node.closest('[data-key]') as HTMLElement | null)?.dataset.key ?? '');
      if (r) node.textContent = seenText(r);
    }
  }, 1000);
  return () => { stop(); clearInterval(timer); };
};
