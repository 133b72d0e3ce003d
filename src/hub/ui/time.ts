// The one time format of the dashboard. Every view formats times through here: the browser's locale,
// a 24-hour option and a UTC toggle (remembered in localStorage), and "now" taken from the hub's clock
// (the offset learnt from /live) and frozen while the hub is unreachable, so ages stop instead of
// ticking on stale data.

export type ClockPref = 'locale' | '24h' | 'utc';

const KEY = 'observ.time';
let pref: ClockPref = readPref();
let offsetMs = 0;
let frozenAt: number | null = null;
const listeners = new Set<() => void>();

function readPref(): ClockPref {
  try {
    const v = localStorage.getItem(KEY);
    return v === '24h' || v === 'utc' ? v : 'locale';
  } catch { return 'locale'; }
}

export const clockPref = () => pref;

export function setClockPref(p: ClockPref): void {
  pref = p;
  try { localStorage.setItem(KEY, p); } catch { /* private mode: this page only */ }
  cache.clear();
  for (const l of listeners) l();
}

/** Called when the time format changes (views re-render their times). */
export function onClockPref(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The hub's "now" (ms): the browser clock corrected by the offset seen on /live, or frozen. */
export const now = () => frozenAt ?? Date.now() + offsetMs;
export const isFrozen = () => frozenAt !== null;

export function learnServerTime(iso: string): void {
  const t = Date.parse(iso);
  if (Number.isFinite(t)) offsetMs = t - Date.now();
}

/** Stops ages where they are (hub unreachable) or lets them run again. */
export function freeze(on: boolean): void {
  frozenAt = on ? (frozenAt ?? now()) : null;
}

type Kind = 'time' | 'datetime' | 'date' | 'short';
const cache = new Map<Kind, Intl.DateTimeFormat>();

function formatter(kind: Kind): Intl.DateTimeFormat {
  let f = cache.get(kind);
  if (f) return f;
  const base: Intl.DateTimeFormatOptions = { ...(pref === 'locale' ? {} : { hourCycle: 'h23' }), ...(pref === 'utc' ? { timeZone: 'UTC' } : {}) };
  const parts: Record<Kind, Intl.DateTimeFormatOptions> = {
    time: { hour: '2-digit', minute: '2-digit', second: '2-digit' },
    short: { hour: '2-digit', minute: '2-digit' },
    date: { year: 'numeric', month: 'short', day: 'numeric' },
    datetime: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' },
  };
  f = new Intl.DateTimeFormat(undefined, { ...base, ...parts[kind] });
  cache.set(kind, f);
  return f;
}

const toDate = (v: string | number | Date) => (v instanceof Date ? v : new Date(typeof v === 'number' ? v : Date.parse(v)));
const suffix = () => (pref === 'utc' ? ' UTC' : '');

/** A moment: date and time (or only the time when it is today), in the chosen format. */
export function formatTime(v: string | number | Date, kind: Kind | 'auto' = 'auto'): string {
  const d = toDate(v);
  if (Number.isNaN(d.getTime())) return String(v);
  if (kind === 'auto') kind = sameDay(d.getTime(), now()) ? 'time' : 'datetime';
  return formatter(kind).format(d) + (kind === 'date' ? '' : suffix());
}

function sameDay(a: number, b: number): boolean {
  const f = formatter('date');
  return f.format(a) === f.format(b);
}

/** An axis tick for a span of `spanS` seconds: times for short spans, dates for long ones. */
export function formatTick(epochS: number, spanS: number): string {
  const d = new Date(epochS * 1000);
  if (spanS > 3 * 86_400) return formatter('date').format(d);
  if (spanS > 86_400) return `${formatter('date').format(d)} ${formatter('short').format(d)}`;
  return formatter(spanS > 900 ? 'short' : 'time').format(d);
}

/** "12 s", "4 min", "3 h 5 min", "2 d 4 h": a duration in words. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86_400)} d${s % 86_400 >= 3600 ? ` ${Math.floor((s % 86_400) / 3600)} h` : ''}`;
}

/** "12 s ago" from the hub's clock. */
export function formatAgo(v: string | number | Date): string {
  const t = toDate(v).getTime();
  return Number.isNaN(t) ? String(v) : `${formatDuration((now() - t) / 1000)} ago`;
}
