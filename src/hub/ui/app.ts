// Dashboard entry: hash routing between the views, the live connection, and the login gate.
//
//   #/                      fleet overview          views/fleet.ts
//   #/vps/<vps>/<app>       metrics + health detail  views/detail.ts
//   #/logs?q=…&level=…      log search + live tail   views/logs.ts
//   #/alerts                current problems         views/alerts.ts (+ views/alert-history.ts)
//
// Everything from the server is untrusted and only ever enters the page as text (see dom.ts).
import { el, parseHash, type View } from './dom.js';
import { session, setAuthHandler, logout } from './api.js';
import { live } from './live.js';
import { fleetView } from './views/fleet.js';
import { detailView } from './views/detail.js';
import { logsView } from './views/logs.js';
import { alertsView } from './views/alerts.js';
import { showLogin } from './views/login.js';

const main = () => document.getElementById('main')!;
let unmount: (() => void) | null = null;
let started = false;

const NAV: [string, string, string][] = [['fleet', '#/', 'Fleet'], ['alerts', '#/alerts', 'Alerts'], ['logs', '#/logs', 'Logs']];

function route(): void {
  const r = parseHash(location.hash);
  const section = r.path[0] ?? 'fleet';
  const view: View = section === 'vps' && r.path.length >= 3 ? detailView : section === 'logs' ? logsView : section === 'alerts' ? alertsView : fleetView;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) a.classList.toggle('active', a.dataset.section === (section === 'vps' ? 'fleet' : section));
  unmount?.();
  unmount = view(main(), r);
}

function setLiveState(state: 'connecting' | 'open' | 'closed'): void {
  const s = document.getElementById('live-status')!;
  s.dataset.state = state;
  s.textContent = state === 'open' ? 'live' : state === 'closed' ? 'reconnecting…' : 'connecting…';
}

function begin(authRequired: boolean): void {
  if (started) { route(); return; }
  started = true;
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(...NAV.map(([section, target, label]) => el('a', { href: target, 'data-section': section }, label)));
  if (authRequired) {
    const out = el('button', { type: 'button', class: 'link' }, 'log out');
    out.addEventListener('click', () => void logout().then(() => location.reload()));
    nav.append(out);
  }
  live.onState = setLiveState;
  live.connect();
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
  main().replaceChildren(el('div', { class: 'empty' }, `The hub did not answer: ${err.message}`));
});
