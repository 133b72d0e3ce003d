// Logs: one search box over message, logger and context (websearch syntax), a visible time range
// (quick choices; last 24 hours by default, said on screen), level/app/vps/context filters, newest
// first with "older" paging by cursor, matches highlighted, a one-line summary per row (message,
// context key=values, the exception's type), details with context as formatted JSON and stack traces
// as code blocks, keyboard navigation, and a live tail. The search state lives in the URL hash, so a
// search is a link. Log text is untrusted: text nodes only (marks are elements around text nodes).
import { el, localTime, text, href, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import type { FleetRow, LogEntry, LogSearchResult } from '../types.js';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const MAX_ROWS = 2000;
/** Empty partial pages fetched in a row before asking the user (each is one bounded request). */
const AUTO_CONTINUE = 4;

const RANGES: { key: string; label: string; ms: number | null }[] = [
  { key: '15m', label: '15 min', ms: 15 * 60_000 },
  { key: '1h', label: '1 hour', ms: 3_600_000 },
  { key: '24h', label: '24 hours', ms: 86_400_000 },
  { key: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { key: '30d', label: '30 days', ms: 30 * 86_400_000 },
  { key: 'all', label: 'all time', ms: null },
];
const DEFAULT_RANGE = '24h';

function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

// ---- highlighting: the user's words and PostgreSQL's stems of them, at the start of a word ----

/** Positive terms of q (not `-excluded`, not `or`) and the lexemes of the tsquery the hub ran. */
export function highlightTerms(q: string | null, tsquery: string | null): string[] {
  const terms = new Set<string>();
  if (q) {
    for (const m of q.replace(/"/g, ' ').matchAll(/(^|\s)(-?)([^\s]+)/g)) {
      if (m[2] === '-' || m[3]!.toLowerCase() === 'or') continue;
      for (const w of m[3]!.split(/[^\p{L}\p{N}]+/u)) if (w.length >= 2) terms.add(w.toLowerCase());
    }
  }
  // '!' marks an excluded lexeme in the tsquery text: skip those.
  if (tsquery) for (const m of tsquery.matchAll(/(!?)'((?:[^']|'')+)'/g)) if (!m[1] && m[2]!.length >= 2) terms.add(m[2]!.replace(/''/g, "'").toLowerCase());
  return [...terms];
}

function termPattern(terms: string[]): RegExp | null {
  if (!terms.length) return null;
  const escaped = terms.sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join('|')})[\\p{L}\\p{N}]*`, 'giu');
}

/** Untrusted text as text nodes, with <mark> around the words that match. */
function marked(s: string, pattern: RegExp | null): Node {
  const frag = document.createDocumentFragment();
  if (!pattern) { frag.append(text(s)); return frag; }
  let at = 0;
  for (const m of s.matchAll(pattern)) {
    if (m.index! > at) frag.append(text(s.slice(at, m.index)));
    frag.append(el('mark', {}, text(m[0])));
    at = m.index! + m[0].length;
  }
  if (at < s.length) frag.append(text(s.slice(at)));
  return frag;
}

// ---- one row ----

/** context flattened to key=value pairs (nested keys with dots), those that match the query first. */
export function contextPairs(context: Record<string, unknown> | null, pattern: RegExp | null): string[] {
  const pairs: string[] = [];
  const walk = (value: unknown, path: string, depth: number) => {
    if (pairs.length >= 40) return;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && depth < 4) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k, depth + 1);
      return;
    }
    const shown = typeof value === 'string' ? value : JSON.stringify(value);
    pairs.push(`${path}=${shown.length > 60 ? shown.slice(0, 59) + '…' : shown}`);
  };
  if (context) walk(context, '', 0);
  if (!pattern) return pairs;
  const hits = pairs.filter((p) => { pattern.lastIndex = 0; return pattern.test(p); });
  return [...hits, ...pairs.filter((p) => !hits.includes(p))];
}

interface ExceptionShape { type?: unknown; message?: unknown; code?: unknown; stack?: unknown; stack_trace?: unknown; cause?: unknown }

function exceptionTitle(ex: ExceptionShape): string {
  const type = typeof ex.type === 'string' ? ex.type : '';
  const message = typeof ex.message === 'string' ? ex.message.split('\n')[0]! : '';
  return [type, message].filter(Boolean).join(': ') || 'exception';
}

/** An exception as a title and its stack trace as a code block, then its causes (bounded). */
function exceptionBlock(ex: ExceptionShape, pattern: RegExp | null, depth = 0): HTMLElement {
  const box = el('div', { class: 'log-exception', 'data-testid': 'log-exception' },
    el('div', { class: 'log-exception-title' }, marked(exceptionTitle(ex), pattern)));
  const stack = typeof ex.stack === 'string' ? ex.stack : typeof ex.stack_trace === 'string' ? ex.stack_trace : null;
  if (stack) box.append(el('pre', { class: 'log-code', 'data-testid': 'log-stack' }, marked(stack, pattern)));
  const rest = Object.fromEntries(Object.entries(ex).filter(([k]) => !['type', 'message', 'stack', 'stack_trace', 'cause'].includes(k)));
  if (Object.keys(rest).length) box.append(el('pre', { class: 'log-code' }, marked(JSON.stringify(rest, null, 2), pattern)));
  if (ex.cause && typeof ex.cause === 'object' && depth < 5) box.append(el('div', { class: 'muted' }, 'caused by'), exceptionBlock(ex.cause as ExceptionShape, pattern, depth + 1));
  return box;
}

function entryRow(e: LogEntry, pattern: RegExp | null): HTMLElement {
  const [firstLine = '', ...moreLines] = e.message.split('\n');
  const details = el('div', { class: 'log-details', hidden: '', id: `log-details-${e.id}` });
  if (moreLines.length) details.append(el('div', { class: 'muted' }, 'message'), el('pre', { class: 'log-code', 'data-testid': 'log-full-message' }, marked(e.message, pattern)));
  if (e.context && Object.keys(e.context).length) {
    details.append(el('div', { class: 'muted' }, 'context'), el('pre', { class: 'log-code', 'data-testid': 'log-context' }, marked(JSON.stringify(e.context, null, 2), pattern)));
  }
  if (e.exception) details.append(el('div', { class: 'muted' }, 'exception'), exceptionBlock(e.exception as ExceptionShape, pattern));
  details.append(el('div', { class: 'muted' }, marked(`${e.logger ?? ''} · ${e.sourceFile ?? ''}${e.flags?.length ? ` · flags: ${e.flags.join(', ')}` : ''} · id ${e.id}`, pattern)));
  if (e.raw) details.append(el('div', { class: 'muted' }, 'raw line'), el('pre', { class: 'log-code' }, text(e.raw)));

  const pairs = contextPairs(e.context, pattern);
  const summary = el('span', { class: 'log-body' },
    el('span', { class: 'msg', 'data-testid': 'log-message' }, marked(firstLine, pattern)),
    moreLines.length ? el('span', { class: 'log-more' }, ` (+${moreLines.length} line${moreLines.length === 1 ? '' : 's'})`) : null,
    e.exception ? el('span', { class: 'log-exc-badge' }, marked(exceptionTitle(e.exception as ExceptionShape), pattern)) : null,
    pairs.length ? el('span', { class: 'log-ctx-inline', 'data-testid': 'log-summary' }, marked(pairs.join('  '), pattern)) : null,
    e.logger ? el('span', { class: 'log-logger' }, marked(e.logger, pattern)) : null);
  const line = el('div', { class: 'log-line', role: 'button', tabindex: '0', 'aria-expanded': 'false', 'aria-controls': details.id, 'data-testid': 'log-line' },
    el('span', { class: 'ts', title: e.timestamp }, localTime(e.timestamp)),
    el('span', { class: 'level', 'data-level': e.level }, text(e.level)),
    el('span', { class: 'where' }, text(`${e.app}@${e.vps}`)),
    summary);
  const toggle = () => {
    const open = details.hasAttribute('hidden');
    details.toggleAttribute('hidden', !open);
    line.setAttribute('aria-expanded', String(open));
  };
  line.addEventListener('click', () => {
    if (getSelection()?.toString()) return; // selecting text to copy is not a click
    toggle();
  });
  line.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); toggle(); }
  });
  return el('li', { class: 'log', 'data-level': e.level, 'data-id': e.id, 'data-testid': 'log-row' }, line, details);
}

/** Arrow keys, Home and End move between rows; Enter or Space opens one (on the row itself). */
function keyboardNavigation(list: HTMLElement): void {
  list.addEventListener('keydown', (ev) => {
    const current = (ev.target as HTMLElement).closest<HTMLElement>('.log-line');
    if (!current) return;
    const lines = [...list.querySelectorAll<HTMLElement>('.log-line')];
    const i = lines.indexOf(current);
    const target = ev.key === 'ArrowDown' || ev.key === 'j' ? lines[i + 1] : ev.key === 'ArrowUp' || ev.key === 'k' ? lines[i - 1]
      : ev.key === 'Home' ? lines[0] : ev.key === 'End' ? lines[lines.length - 1] : undefined;
    if (!target) return;
    ev.preventDefault();
    target.focus();
  });
}

/** The live tail cannot run PostgreSQL's parser: it keeps lines whose text holds every plain word of q. */
function roughMatch(q: string | null, e: LogEntry): boolean {
  if (!q) return true;
  const words = q.toLowerCase().replace(/"/g, ' ').split(/\s+/).filter((w) => w && w !== 'or' && !w.startsWith('-'));
  const haystack = `${e.message} ${e.logger ?? ''} ${e.context ? JSON.stringify(e.context) : ''}`.toLowerCase();
  return words.every((w) => haystack.includes(w));
}

function rangeOf(p: URLSearchParams): { key: string; explicit: boolean } {
  if (p.get('from') || p.get('to')) return { key: 'custom', explicit: true };
  const key = p.get('range');
  return RANGES.some((r) => r.key === key) ? { key: key!, explicit: true } : { key: DEFAULT_RANGE, explicit: false };
}

function rangeWords(key: string, p: URLSearchParams): string {
  if (key === 'custom') {
    const from = p.get('from');
    const to = p.get('to');
    return `${from ? `from ${localTime(from)}` : 'from the oldest line'} ${to ? `to ${localTime(to)}` : 'to now'}`;
  }
  const r = RANGES.find((x) => x.key === key)!;
  return r.ms === null ? 'all time' : `the last ${r.label}`;
}

export const logsView: View = (main, route) => {
  const p = route.params;
  const input = (name: string, attrs: Record<string, string> = {}) => {
    const i = el('input', { name, id: `log-${name}`, ...attrs });
    i.value = p.get(name) ?? '';
    return i;
  };
  const labelled = (label: string, control: HTMLInputElement) => el('label', { class: 'log-field', for: control.id }, el('span', {}, label), control);
  const q = input('q', { type: 'search', placeholder: 'words, "a phrase", -exclude, a or b', 'data-testid': 'log-query', autocomplete: 'off' });
  const app = input('app', { list: 'known-apps' });
  const vps = input('vps');
  const from = el('input', { name: 'from', id: 'log-from', type: 'datetime-local' });
  from.value = toLocalInput(p.get('from'));
  const to = el('input', { name: 'to', id: 'log-to', type: 'datetime-local' });
  to.value = toLocalInput(p.get('to'));
  const ctx = el('input', { name: 'ctx', id: 'log-ctx', placeholder: 'user_id=42, order.id=A-7' });
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

  const range = rangeOf(p);
  let chosenRange = range.key;
  const rangeButtons = RANGES.map((r) => {
    const b = el('button', { type: 'button', class: 'log-range-choice', 'data-range': r.key, 'aria-pressed': String(r.key === range.key) }, r.label);
    b.addEventListener('click', () => { chosenRange = r.key; from.value = ''; to.value = ''; form.requestSubmit(); });
    return b;
  });
  const rangeNote = el('p', { class: 'log-range-note', 'data-testid': 'log-range' },
    `Searching ${rangeWords(range.key, p)}${range.explicit ? '' : ' (the default; choose a range above to change it)'} · newest first`);

  const form = el('form', { class: 'log-search', 'data-testid': 'log-search', role: 'search' },
    el('div', { class: 'log-query-row' },
      el('label', { for: q.id, class: 'log-query-label' }, 'Search message, logger and context'),
      q, el('button', { type: 'submit' }, 'Search')),
    el('div', { class: 'log-range', role: 'group', 'aria-label': 'Time range' }, el('span', { class: 'muted' }, 'Time range:'), ...rangeButtons,
      el('span', { class: 'log-custom-range' }, labelled('from', from), labelled('to', to))),
    rangeNote,
    el('fieldset', { class: 'log-filters' }, el('legend', {}, 'Filters'),
      el('span', { class: 'log-levels', role: 'group', 'aria-label': 'Levels' }, ...levelBoxes.map((b) => el('label', {}, b, b.value))),
      labelled('app', app), labelled('vps', vps), labelled('context', ctx),
      el('label', { class: 'live-toggle' }, liveBox, 'live tail')),
    knownApps,
    el('details', { class: 'help' }, el('summary', {}, 'Search syntax'),
      el('ul', {},
        el('li', {}, el('code', {}, 'timeout refused'), ' — lines with both words, in the message, the logger or the context (keys and values); English stemming: "payments" finds "payment"'),
        el('li', {}, el('code', {}, '"connection refused"'), ' — the exact phrase (at most 8 words)'),
        el('li', {}, el('code', {}, 'payment -refund'), ' — exclude a word'),
        el('li', {}, el('code', {}, 'timeout or refused'), ' — either word'),
        el('li', {}, 'At most 16 words and 512 characters. Context filter: ', el('code', {}, 'user_id=42, order.id=A-7'), ' (nested keys with dots; numbers match numbers or strings)'),
        el('li', {}, 'Keyboard: Tab to the results, ↑/↓ (or j/k) between lines, Enter opens a line.'),
        el('li', {}, 'Live tail shows new lines of the chosen app (or every app) that pass the filters; the text query is approximated by its plain words.'))));
  const status = el('div', { class: 'summary log-status', 'data-testid': 'log-status', role: 'status', 'aria-live': 'polite' });
  const list = el('ol', { class: 'logs', 'data-testid': 'log-results', 'aria-label': 'Log lines, newest first' });
  const more = el('button', { type: 'button', hidden: '', 'data-testid': 'log-older' }, 'Older…');
  keyboardNavigation(list);
  main.replaceChildren(el('div', { class: 'logs-view' }, form, status, list, more));

  const params = (): URLSearchParams => {
    const out = new URLSearchParams();
    if (q.value.trim()) out.set('q', q.value.trim());
    const levels = levelBoxes.filter((b) => b.checked).map((b) => b.value);
    if (levels.length) out.set('level', levels.join(','));
    if (app.value.trim()) out.set('app', app.value.trim());
    if (vps.value.trim()) out.set('vps', vps.value.trim());
    if (from.value || to.value) {
      if (from.value) out.set('from', new Date(from.value).toISOString());
      if (to.value) out.set('to', new Date(to.value).toISOString());
    } else if (chosenRange !== DEFAULT_RANGE && chosenRange !== 'custom') {
      out.set('range', chosenRange);
    }
    for (const pair of ctx.value.split(',')) {
      const i = pair.indexOf('=');
      if (i > 0) out.set(`ctx.${pair.slice(0, i).trim()}`, pair.slice(i + 1).trim());
    }
    return out;
  };
  const go = (next: URLSearchParams) => {
    if (liveBox.checked) next.set('live', '1');
    location.hash = href(['logs'], next);
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(params()); });
  liveBox.addEventListener('change', () => form.requestSubmit());

  // The API query: the URL's, with a relative range turned into `from` (now − range).
  const query = new URLSearchParams(p);
  query.delete('live');
  query.delete('range');
  const rangeMs = RANGES.find((r) => r.key === range.key)?.ms;
  if (range.key !== 'custom' && rangeMs) query.set('from', new Date(Date.now() - rangeMs).toISOString());

  const userWords = p.get('q');
  let pattern: RegExp | null = termPattern(highlightTerms(userWords, null));
  const shown = new Set<string>();
  let cursor: string | null = null;

  const widenOffer = (): HTMLElement | null => {
    if (range.key === 'all') return null;
    const wider = RANGES.filter((r) => r.key !== range.key && (r.ms === null || (rangeMs !== undefined && rangeMs !== null && r.ms > rangeMs) || range.key === 'custom'));
    const offer = el('span', { class: 'log-widen' }, ' Widen the range: ');
    for (const r of wider.filter((x) => x.ms === null || x.ms >= 86_400_000)) {
      const b = el('button', { type: 'button', class: 'link', 'data-widen': r.key }, r.ms === null ? 'all time' : `last ${r.label}`);
      b.addEventListener('click', () => { chosenRange = r.key; from.value = ''; to.value = ''; go(params()); });
      offer.append(b, ' ');
    }
    return offer;
  };

  const describeFilters = (): string => {
    const parts: string[] = [];
    if (p.get('level')) parts.push(`level ${p.get('level')}`);
    if (p.get('app')) parts.push(`app ${p.get('app')}`);
    if (p.get('vps')) parts.push(`vps ${p.get('vps')}`);
    for (const [k, v] of p) if (k.startsWith('ctx.')) parts.push(`${k.slice(4)}=${v}`);
    return parts.length ? ` with ${parts.join(', ')}` : '';
  };

  const search = async (append: boolean, autoLeft = AUTO_CONTINUE): Promise<void> => {
    const qp = new URLSearchParams(query);
    if (append && cursor) qp.set('cursor', cursor);
    status.textContent = 'searching…';
    try {
      const r = await getJson<LogSearchResult>('/api/logs', qp);
      if (!append) { list.replaceChildren(); shown.clear(); }
      pattern = termPattern(highlightTerms(userWords, r.plan.tsquery));
      for (const e of r.entries) {
        if (shown.has(e.id)) continue;
        shown.add(e.id);
        list.append(entryRow(e, pattern));
      }
      cursor = r.nextCursor;
      more.hidden = !cursor;
      // An empty page cut short by the time limit: go on by itself a few times before asking.
      if (r.partial && r.entries.length === 0 && cursor && autoLeft > 0) { await search(true, autoLeft - 1); return; }
      const where = rangeWords(range.key, p);
      const lines = `${shown.size} line${shown.size === 1 ? '' : 's'}`;
      status.replaceChildren();
      if (r.partial && r.searchedBackTo) {
        status.append(`${lines} · searched back to ${localTime(r.searchedBackTo)} within the time limit: "Older…" searches further back.`);
      } else if (shown.size === 0) {
        // The user's own words, never PostgreSQL's stems of them.
        status.append(userWords ? `No lines match “${userWords}”` : 'No lines', `${describeFilters()} in ${where}.`);
        const offer = widenOffer();
        if (offer) status.append(offer);
      } else {
        status.append(`${lines}${cursor ? ' (more below)' : ''}`);
      }
      more.textContent = r.partial ? 'Search further back…' : 'Older…';
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
      for (const e of fresh) { shown.add(e.id); list.prepend(entryRow(e, pattern)); }
      while (list.children.length > MAX_ROWS) list.lastElementChild!.remove();
      if (fresh.length) status.textContent = `${shown.size} lines · live`;
    }, () => void search(false));
  };
  return () => { stopTail?.(); };
};
