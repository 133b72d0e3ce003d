// Logs: full-text search (websearch syntax) with level/app/vps/time/context filters, newest first,
// "older" paging by cursor, context as formatted JSON, and a live tail. The search state lives in the
// URL hash, so a search is a link. Log text is untrusted: text nodes only, controls made visible.
import { el, localTime, text, href, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import type { FleetRow, LogEntry, LogSearchResult } from '../types.js';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const MAX_ROWS = 2000;

function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function entryRow(e: LogEntry): HTMLElement {
  const details = el('div', { class: 'log-details', hidden: '' });
  const fields: [string, unknown][] = [['context', e.context], ['exception', e.exception]];
  for (const [name, value] of fields) {
    if (value === null || value === undefined) continue;
    details.append(el('div', { class: 'muted' }, name), el('pre', { 'data-testid': `log-${name}` }, text(JSON.stringify(value, null, 2))));
  }
  details.append(el('div', { class: 'muted' }, text(`${e.logger ?? ''} · ${e.sourceFile ?? ''}${e.flags?.length ? ` · flags: ${e.flags.join(', ')}` : ''} · id ${e.id}`)));
  if (e.raw) details.append(el('div', { class: 'muted' }, 'raw line'), el('pre', {}, text(e.raw)));
  const row = el('li', { class: 'log', 'data-level': e.level, 'data-id': e.id, 'data-testid': 'log-row' },
    el('span', { class: 'ts', title: e.timestamp }, localTime(e.timestamp)),
    el('span', { class: 'level', 'data-level': e.level }, text(e.level)),
    el('span', { class: 'where' }, text(`${e.app}@${e.vps}`)),
    el('span', { class: 'msg', 'data-testid': 'log-message' }, text(e.message)),
    details);
  row.addEventListener('click', (ev) => {
    if ((ev.target as HTMLElement).closest('.log-details')) return;
    details.toggleAttribute('hidden');
  });
  return row;
}

/** The live tail cannot run PostgreSQL's parser: it keeps lines containing every plain word of q. */
function roughMatch(q: string | null, e: LogEntry): boolean {
  if (!q) return true;
  const words = q.toLowerCase().replace(/"/g, ' ').split(/\s+/).filter((w) => w && w !== 'or' && !w.startsWith('-'));
  const m = e.message.toLowerCase();
  return words.every((w) => m.includes(w));
}

export const logsView: View = (main, route) => {
  const p = route.params;
  const input = (name: string, attrs: Record<string, string> = {}) => {
    const i = el('input', { name, ...attrs });
    i.value = p.get(name) ?? '';
    return i;
  };
  const q = input('q', { type: 'search', placeholder: 'search messages: words, "a phrase", -exclude, a or b', 'data-testid': 'log-query', size: '50' });
  const app = input('app', { placeholder: 'app', list: 'known-apps', size: '12' });
  const vps = input('vps', { placeholder: 'vps', size: '12' });
  const from = el('input', { name: 'from', type: 'datetime-local' });
  from.value = toLocalInput(p.get('from'));
  const to = el('input', { name: 'to', type: 'datetime-local' });
  to.value = toLocalInput(p.get('to'));
  const ctx = el('input', { name: 'ctx', placeholder: 'context: user_id=42, order.id=A-7', size: '24' });
  ctx.value = [...p.entries()].filter(([k]) => k.startsWith('ctx.')).map(([k, v]) => `${k.slice(4)}=${v}`).join(', ');
  const chosen = new Set((p.get('level') ?? '').split(',').filter(Boolean));
  const levelBoxes = LEVELS.map((l) => {
    const box = el('input', { type: 'checkbox', value: l });
    box.checked = chosen.has(l);
    return box;
  });
  const liveBox = el('input', { type: 'checkbox', 'data-testid': 'live-tail' });
  liveBox.checked = p.get('live') === '1';
  const knownApps = el('datalist', { id: 'known-apps' });
  const form = el('form', { class: 'log-search', 'data-testid': 'log-search' },
    q, el('button', { type: 'submit' }, 'Search'),
    el('div', { class: 'filters' },
      ...levelBoxes.map((b) => el('label', {}, b, b.value)), app, vps, el('label', {}, 'from ', from), el('label', {}, 'to ', to), ctx,
      el('label', { class: 'live-toggle' }, liveBox, 'live tail')),
    knownApps,
    el('details', { class: 'help' }, el('summary', {}, 'Search syntax'),
      el('ul', {},
        el('li', {}, el('code', {}, 'timeout refused'), ' — lines with both words (English stemming: "payments" finds "payment")'),
        el('li', {}, el('code', {}, '"connection refused"'), ' — the exact phrase'),
        el('li', {}, el('code', {}, 'payment -refund'), ' — exclude a word'),
        el('li', {}, el('code', {}, 'timeout or refused'), ' — either word'),
        el('li', {}, 'Context filter: ', el('code', {}, 'user_id=42, order.id=A-7'), ' (nested keys with dots; numbers match numbers or strings)'),
        el('li', {}, 'Live tail shows new lines of the chosen app (or every app) that pass the filters; the text query is approximated by its plain words.'))));
  const status = el('div', { class: 'summary', 'data-testid': 'log-status' });
  const list = el('ol', { class: 'logs', 'data-testid': 'log-results' });
  const more = el('button', { type: 'button', hidden: '' }, 'Older…');
  main.replaceChildren(form, status, list, more);

  const params = (): URLSearchParams => {
    const out = new URLSearchParams();
    if (q.value.trim()) out.set('q', q.value.trim());
    const levels = levelBoxes.filter((b) => b.checked).map((b) => b.value);
    if (levels.length) out.set('level', levels.join(','));
    if (app.value.trim()) out.set('app', app.value.trim());
    if (vps.value.trim()) out.set('vps', vps.value.trim());
    if (from.value) out.set('from', new Date(from.value).toISOString());
    if (to.value) out.set('to', new Date(to.value).toISOString());
    for (const pair of ctx.value.split(',')) {
      const i = pair.indexOf('=');
      if (i > 0) out.set(`ctx.${pair.slice(0, i).trim()}`, pair.slice(i + 1).trim());
    }
    return out;
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = params();
    if (liveBox.checked) next.set('live', '1');
    location.hash = href(['logs'], next);
  });
  liveBox.addEventListener('change', () => form.requestSubmit());

  const query = new URLSearchParams(p);
  query.delete('live');
  const shown = new Set<string>();
  let cursor: string | null = null;
  const search = async (append: boolean) => {
    const qp = new URLSearchParams(query);
    if (append && cursor) qp.set('cursor', cursor);
    status.textContent = 'searching…';
    try {
      const r = await getJson<LogSearchResult>('/api/logs', qp);
      if (!append) { list.replaceChildren(); shown.clear(); }
      for (const e of r.entries) {
        if (shown.has(e.id)) continue;
        shown.add(e.id);
        list.append(entryRow(e));
      }
      cursor = r.nextCursor;
      more.hidden = !cursor;
      const limited = r.partial && r.searchedBackTo ? ` · searched back to ${localTime(r.searchedBackTo)} within the time limit: "Older…" goes on` : cursor ? ' (more below)' : '';
      status.textContent = `${shown.size} line${shown.size === 1 ? '' : 's'}${limited}${r.plan.tsquery ? ` · query: ${r.plan.tsquery}` : ''}`;
    } catch (err) {
      status.textContent = `Search failed: ${(err as Error).message}`;
    }
  };
  more.addEventListener('click', () => void search(true));
  void search(false);
  void getJson<{ fleet: FleetRow[] }>('/api/fleet').then((f) => {
    knownApps.replaceChildren(...[...new Set(f.fleet.map((r) => r.app))].map((a) => el('option', { value: a })));
    if (liveBox.checked) startTail(f.fleet);
  }).catch(() => {});

  let stopTail: (() => void) | null = null;
  const startTail = (fleet: FleetRow[]) => {
    const apps = query.get('app') ? [query.get('app')!] : [...new Set(fleet.map((r) => r.app))].slice(0, 60);
    const levels = new Set((query.get('level') ?? '').split(',').filter(Boolean));
    stopTail = live.listen(apps.map((a) => `logs/${a}`), (msg) => {
      if (msg.type !== 'logs') return;
      const fresh = msg.entries.filter((e) => !shown.has(e.id) && (!query.get('vps') || e.vps === query.get('vps')) &&
        (!levels.size || levels.has(e.level)) && roughMatch(query.get('q'), e));
      for (const e of fresh) { shown.add(e.id); list.prepend(entryRow(e)); }
      while (list.children.length > MAX_ROWS) list.lastElementChild!.remove();
      if (fresh.length) status.textContent = `${shown.size} lines · live`;
    }, () => void search(false));
  };
  return () => { stopTail?.(); };
};
