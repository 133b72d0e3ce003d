// DOM helpers. Everything from the server (names, log text, error messages) is untrusted: it enters
// the page only as text nodes and attribute values set through the DOM, never as markup.

export type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

// Bidirectional overrides/isolates can make a log line read differently from what it is (a right-to-left
// override turns "exe.txt" into "txt.exe"), and C0 controls are invisible: both are shown as visible marks.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Text safe to display literally: bidi controls and C0 controls made visible. */
export function visibleText(s: string): string {
  return s
    .replace(BIDI, (c) => `⟦U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟧`)
    .replace(CONTROL, (c) => String.fromCharCode(0x2400 + (c === '\u007f' ? 0x21 : c.charCodeAt(0))));
}

/** A text node of untrusted text. */
export const text = (s: string) => document.createTextNode(visibleText(s));

export const fmt = (v: number | null | undefined, digits = 1, unit = '') => (v === null || v === undefined ? '–' : `${v.toFixed(digits)}${unit}`);

export function bytesPerSecond(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function bar(percent: number | null): HTMLElement {
  const fill = el('span');
  const p = percent === null ? 0 : Math.max(0, Math.min(100, percent));
  fill.style.width = `${p}%`;
  if (p >= 90) fill.className = 'hot';
  return el('div', { class: 'bar' }, fill);
}

export function localTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

/** A hash route with query: #/logs?q=x → { path: ['logs'], params }. */
export function parseHash(hash: string): { path: string[]; params: URLSearchParams } {
  const h = hash.replace(/^#\/?/, '');
  const [p = '', q = ''] = h.split('?', 2);
  return { path: p.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

export function href(path: string[], params?: URLSearchParams): string {
  const q = params && [...params.keys()].length ? `?${params.toString()}` : '';
  return '#/' + path.map(encodeURIComponent).join('/') + q;
}

/** A view: mounted into <main>, returns its cleanup (timers, subscriptions). */
export type View = (main: HTMLElement, route: { path: string[]; params: URLSearchParams }) => () => void;
