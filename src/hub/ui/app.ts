// Dashboard entry. Everything from the server (host names, log text, error messages) is untrusted:
// it is only ever put into the page with textContent / DOM nodes, never innerHTML.

interface FleetCheck {
  url: string;
  success: boolean;
  statusCode: number | null;
  responseTimeMs: number | null;
  errorMessage: string | null;
  timestamp: string;
}

interface FleetRow {
  vps: string;
  app: string;
  lastSeen: string;
  collectionInterval: number | null;
  stale: boolean;
  status: 'up' | 'down' | 'stale' | 'unknown';
  metricsAt: string | null;
  cpuPercent: number | null;
  memoryPercent: number | null;
  memoryMb: number | null;
  diskPercent: number | null;
  diskGb: number | null;
  loadAvg1m: number | null;
  loadAvg5m: number | null;
  loadAvg15m: number | null;
  checks: FleetCheck[];
}

type LiveMessage =
  | { type: 'hello'; topics: string[] }
  | { type: 'fleet'; rows: FleetRow[]; at: string }
  | { type: 'resync' };

const fleet = new Map<string, FleetRow>();
const keyOf = (r: { vps: string; app: string }) => `${r.vps}\u0000${r.app}`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string | null)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

const fmt = (v: number | null, digits = 1, unit = '') => (v === null || v === undefined ? '–' : `${v.toFixed(digits)}${unit}`);

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function bar(percent: number | null): HTMLElement {
  const fill = el('span');
  const p = percent === null ? 0 : Math.max(0, Math.min(100, percent));
  fill.style.width = `${p}%`;
  if (p >= 90) fill.className = 'hot';
  return el('div', { class: 'bar' }, fill);
}

function card(r: FleetRow): HTMLElement {
  const checks = el('ul', { class: 'checks' });
  for (const c of r.checks) {
    const what = c.success ? `✓ ${c.statusCode ?? ''} ${fmt(c.responseTimeMs, 0, ' ms')}` : `✗ ${c.errorMessage ?? 'failed'}`;
    checks.append(el('li', { class: c.success ? 'ok' : 'fail', title: c.url }, `${what} — ${c.url}`));
  }
  return el('article', { class: 'card', 'data-status': r.status, 'data-key': keyOf(r), 'data-testid': 'fleet-card' },
    el('h2', {}, el('span', { class: 'app' }, r.app), el('span', { class: 'badge', 'data-status': r.status }, r.status)),
    el('div', { class: 'vps' }, r.vps),
    el('div', { class: 'metrics' },
      'CPU', bar(r.cpuPercent), el('span', { 'data-metric': 'cpu' }, fmt(r.cpuPercent, 1, '%')),
      'Memory', bar(r.memoryPercent), el('span', { 'data-metric': 'memory' }, `${fmt(r.memoryPercent, 1, '%')}`),
      'Disk', bar(r.diskPercent), el('span', { 'data-metric': 'disk' }, `${fmt(r.diskPercent, 1, '%')}`),
      'Load', el('span'), el('span', { 'data-metric': 'load' }, `${fmt(r.loadAvg1m, 2)} ${fmt(r.loadAvg5m, 2)} ${fmt(r.loadAvg15m, 2)}`)),
    checks,
    el('div', { class: 'seen', 'data-last-seen': r.lastSeen }, `last seen ${ago(r.lastSeen)}${r.stale ? ' (stale)' : ''}`));
}

function renderFleet(): void {
  const main = document.getElementById('main')!;
  const rows = [...fleet.values()].sort((a, b) => a.vps.localeCompare(b.vps) || a.app.localeCompare(b.app));
  const down = rows.filter((r) => r.status === 'down').length;
  const stale = rows.filter((r) => r.status === 'stale').length;
  const summary = el('div', { class: 'summary', 'data-testid': 'fleet-summary' },
    `${rows.length} app${rows.length === 1 ? '' : 's'} on ${new Set(rows.map((r) => r.vps)).size} VPS · ${down} down · ${stale} stale`);
  const grid = el('section', { class: 'fleet' });
  if (!rows.length) grid.append(el('div', { class: 'empty' }, 'No agents have reported yet. Start one with: observ agent APP'));
  for (const r of rows) grid.append(card(r));
  main.replaceChildren(summary, grid);
}

async function loadFleet(): Promise<void> {
  const res = await fetch('/api/fleet', { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET /api/fleet: ${res.status}`);
  const body = (await res.json()) as { fleet: FleetRow[] };
  fleet.clear();
  for (const r of body.fleet) fleet.set(keyOf(r), r);
  renderFleet();
}

function setLiveState(state: 'connecting' | 'open' | 'closed'): void {
  const s = document.getElementById('live-status')!;
  s.dataset.state = state;
  s.textContent = state === 'open' ? 'live' : state === 'closed' ? 'reconnecting…' : 'connecting…';
}

/** Live updates; reconnects with backoff and refetches the fleet after every (re)connect to catch up. */
function connectLive(attempt = 0): void {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/live`);
  ws.onopen = () => {
    attempt = 0;
    setLiveState('open');
    void loadFleet().catch(() => {});
  };
  ws.onmessage = (ev) => {
    let msg: LiveMessage;
    try { msg = JSON.parse(String(ev.data)) as LiveMessage; } catch { return; }
    switch (msg.type) {
      case 'hello': break;
      case 'fleet':
        for (const r of msg.rows) fleet.set(keyOf(r), r);
        renderFleet();
        break;
      case 'resync':
        void loadFleet().catch(() => {});
        break;
    }
  };
  ws.onclose = () => {
    setLiveState('closed');
    const delay = Math.min(15_000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    setTimeout(() => connectLive(attempt + 1), delay);
  };
}

function start(): void {
  document.getElementById('nav')!.append(el('a', { href: '/', class: 'active' }, 'Fleet'));
  void loadFleet().catch((err: Error) => {
    document.getElementById('main')!.replaceChildren(el('div', { class: 'empty' }, `Could not load the fleet: ${err.message}`));
  });
  connectLive();
  // Keep "last seen" ages fresh between updates.
  setInterval(() => {
    for (const node of document.querySelectorAll<HTMLElement>('[data-last-seen]')) {
      const r = fleet.get((node.closest('[data-key]') as HTMLElement | null)?.dataset.key ?? '');
      if (r) node.textContent = `last seen ${ago(r.lastSeen)}${r.stale ? ' (stale)' : ''}`;
    }
  }, 5000);
}

start();
