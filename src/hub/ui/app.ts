// Dashboard entry: hash routing between the views, the live connection, the login gate, and the
// page-wide preferences (theme, time format).
//
//   #/                      fleet overview          views/fleet.ts
//   #/vps/<vps>/<app>       metrics + health detail  views/detail.ts
//   #/logs?q=…&level=…      log search + live tail   views/logs.ts
//   #/alerts                current problems         views/alerts.ts (+ views/alert-history.ts)
//   anything else           "no such page"           views/notfound.ts
//
// Everything from the server is untrusted and only ever enters the page as text (see dom.ts).
import { el, parseHash, type View } from './dom.js';
import { session, setAuthHandler, logout } from './api.js';
import type { ReadReplicaStatus } from './types.js';
import { live, type LiveState } from './live.js';
import { clockPref, setClockPref, formatDuration, formatTime, type ClockPref } from './time.js';
import { applyTheme, themePref, setThemePref, type ThemePref } from './theme.js';
import { fleetView } from './views/fleet.js';
import { detailView } from './views/detail.js';
import { logsView } from './views/logs.js';
import { alertsView } from './views/alerts.js';
import { notFoundView } from './views/notfound.js';
import { showLogin } from './views/login.js';

applyTheme();
const main = () => document.getElementById('main')!;
let unmount: (() => void) | null = null;
let started = false;

const NAV: [string, string, string][] = [['fleet', '#/', 'Fleet'], ['alerts', '#/alerts', 'Alerts'], ['logs', '#/logs', 'Logs']];

function pick(r: { path: string[] }): { view: View; section: string } {
  const section = r.path[0] ?? 'fleet';
  if (!r.path.length) return { view: fleetView, section: 'fleet' };
  if (section === 'vps' && r.path.length === 3) return { view: detailView, section: 'fleet' };
  if (section === 'logs' && r.path.length === 1) return { view: logsView, section };
  if (section === 'alerts' && r.path.length === 1) return { view: alertsView, section };
  return { view: notFoundView, section: '' };
}

function route(): void {
  const r = parseHash(location.hash);
  const { view, section } = pick(r);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    const on = a.dataset.section === section;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  unmount?.();
  unmount = view(main(), r);
}

function setLiveState(state: LiveState): void {
  const s = document.getElementById('live-status')!;
  s.dataset.state = state;
  s.textContent = state === 'open' ? 'live' : state === 'closed' ? 'offline' : 'connecting…';
  document.body.classList.toggle('offline', state === 'closed');
  const banner = document.getElementById('banner')!;
  banner.hidden = state !== 'closed';
  if (state === 'closed') {
    banner.textContent = `The hub is unreachable${live.lastHeard ? ` since ${formatTime(live.lastHeard)}` : ''}. ` +
      'The values below are from then and are not updating; reconnecting…';
  }
}

/**
 * With a read replica (OBSERV_DB_READ_URL), charts and log search may be behind the fleet overview:
 * a banner says so while the replica's lag is past the hub's threshold (5 s), or while it is
 * unreachable and reads went to the primary. A hub without one answers configured: false once.
 */
const REPLICA_POLL_MS = 10_000;
async function watchReplica(): Promise<void> {
  let s: ReadReplicaStatus;
  // A plain fetch, not getJson: a lapsed session must not bring up the login form from here every 10 s.
  try {
    const res = await fetch('/api/read-replica', { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    s = await res.json() as ReadReplicaStatus;
  } catch { setTimeout(() => void watchReplica(), REPLICA_POLL_MS); return; }
  if (!s.configured) return;
  const banner = document.getElementById('replica-banner')!;
  const text = s.lagging && s.lagSeconds !== null
    ? `Charts, health history and log search read a replica that is ${formatDuration(Math.round(s.lagSeconds))} behind${s.replayPaused ? ' (replay paused)' : ''}: the newest data may be missing there.`
    : s.state === 'unreachable' ? 'The read replica is unreachable: charts and log search read the primary meanwhile.' : '';
  banner.hidden = !text;
  banner.textContent = text;
  setTimeout(() => void watchReplica(), REPLICA_POLL_MS);
}

function select<T extends string>(id: string, label: string, value: T, options: [T, string][], onChange: (v: T) => void): HTMLElement {
  const s = el('select', { id, name: id });
  for (const [v, text] of options) s.append(el('option', v === value ? { value: v, selected: '' } : { value: v }, text));
  s.addEventListener('change', () => onChange(s.value as T));
  return el('span', { class: 'pref' }, el('label', { for: id }, label), s);
}

function begin(authRequired: boolean): void {
  if (started) { route(); return; }
  started = true;
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(...NAV.map(([section, target, label]) => el('a', { href: target, 'data-section': section }, label)));
  const prefs = document.getElementById('prefs')!;
  prefs.replaceChildren(
    select<ThemePref>('pref-theme', 'Theme', themePref(), [['auto', 'Auto'], ['light', 'Light'], ['dark', 'Dark']], setThemePref),
    select<ClockPref>('pref-time', 'Time', clockPref(), [['locale', 'Local'], ['24h', 'Local 24 h'], ['utc', 'UTC']], (v) => { setClockPref(v); route(); }));
  if (authRequired) {
    const out = el('button', { type: 'button', class: 'link' }, 'Log out');
    out.addEventListener('click', () => void logout().then(() => location.reload()));
    prefs.append(out);
  }
  live.onState = setLiveState;
  live.connect();
  void watchReplica();
  window.addEventListener('hashchange', route);
  route();
}

function gate(): void {
  unmount?.();
  unmount = null;
  showLogin(main(), () => begin(true));
}

setAuthHandler(gate);
session().then((s) => (s.authRequired && !s.authenticated ? gate() : begin(s.authRequired)), (err: Error) => {
  main().replaceChildren(el('div', { class: 'state state-error', role: 'alert' }, `The hub did not answer: ${err.message}. Reload the page to try again.`));
});
