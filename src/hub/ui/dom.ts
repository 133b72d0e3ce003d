// DOM helpers. Everything from the server (names, log text, error messages) is untrusted: it enters
// the page only as text nodes and attribute values set through the DOM, never as markup.

import { formatAgo, formatTime } from './time.js';

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

/** "3.2 kB/s", "12 MB/s" (`extra` more decimals, for axis labels that would repeat: units.ts). */
export function bytesPerSecond(v: number | null | undefined, extra = 0): string {
  if (v === null || v === undefined) return '–';
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed((v < 10 ? 1 : 0) + extra)} ${units[i]}`;
}

/** "12 s ago", from the hub's clock (frozen while the hub is unreachable). Use time.ts for new code. */
export const ago = (iso: string) => formatAgo(iso);

export function bar(percent: number | null): HTMLElement {
  const fill = el('span');
  const p = percent === null ? 0 : Math.max(0, Math.min(100, percent));
  fill.style.width = `${p}%`;
  if (p >= 90) fill.className = 'hot';
  return el('div', { class: 'bar' }, fill);
}

/** A moment in the dashboard's one time format (time.ts: locale, 24 h or UTC). */
export const localTime = (iso: string) => formatTime(iso);

/** Placeholder blocks shown while a view loads (a slow link shows the layout, not a blank page). */
export function skeleton(lines = 3, kind: 'card' | 'chart' | 'line' = 'line'): HTMLElement {
  return el('div', { class: `skeleton skeleton-${kind}`, 'aria-hidden': 'true', 'data-testid': 'skeleton' },
    ...Array.from({ length: lines }, () => el('span')));
}

/** A view's empty, error or not-found state: a title, what to do, an optional action. */
export function stateBox(kind: 'empty' | 'error' | 'notfound', title: string, detail?: Child, action?: Child): HTMLElement {
  return el('div', { class: `state state-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `state-${kind}` },
    el('p', { class: 'state-title' }, title), detail ? el('p', { class: 'muted' }, detail) : null, action ?? null);
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
