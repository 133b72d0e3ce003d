// Uptime bars: one bar per day (90 days) or per check result (the heartbeat), coloured by outcome,
// each with a text label (title and aria-label) so that the colour is never the only carrier.
// Shared by the detail view and the public status page (which does not load uPlot).
import { el } from './dom.js';
import { formatTime } from './time.js';

export type BarState = 'ok' | 'warn' | 'fail' | 'none';

export function barStrip(label: string, bars: { state: BarState; title: string }[], testid: string): HTMLElement {
  return el('div', { class: 'strip', role: 'img', 'aria-label': label, 'data-testid': testid },
    ...bars.map((b) => el('span', { 'data-state': b.state, title: b.title })));
}

/** Uptime percent → bar state: 100 % ok, ≥ 99 % degraded, below failing, null no data. */
export function dayState(uptime: number | null): BarState {
  return uptime === null ? 'none' : uptime >= 100 ? 'ok' : uptime >= 99 ? 'warn' : 'fail';
}

export function dayBars(days: { day: string; uptime: number | null }[], testid = 'uptime-days'): HTMLElement {
  const withData = days.filter((d) => d.uptime !== null).length;
  return barStrip(`uptime per day, last ${days.length} days (${withData} with checks)`, days.map((d) => ({
    state: dayState(d.uptime),
    title: `${formatTime(`${d.day}T00:00:00Z`, 'date')}: ${d.uptime === null ? 'no checks' : `${d.uptime.toFixed(2)}% up`}`,
  })), testid);
}

export const pctText = (v: number | null) => (v === null ? '–' : `${v >= 99.995 ? '100' : v.toFixed(2)}%`);

/** 24h 99.95% · 7d … : the uptime windows as a description list (each pair kept on one line). */
export function uptimeList(uptime: Record<'24h' | '7d' | '30d' | '90d', number | null>, testid = 'uptime-windows'): HTMLElement {
  return el('dl', { class: 'uptime', 'data-testid': testid },
    ...(['24h', '7d', '30d', '90d'] as const).map((w) => el('div', {}, el('dt', {}, w), el('dd', {}, pctText(uptime[w])))));
}
