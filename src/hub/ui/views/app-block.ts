// The app's own processes, shown apart from the host: one block on the fleet card and the header of
// the detail view's app charts. Self-contained on purpose (fleet.ts and detail.ts only call these).
import { el, fmt, text } from '../dom.js';
import type { FleetApp, MetricsResult } from '../types.js';

/** "unit:shop.service" → "systemd unit shop.service"; "cwd:/opt/…/current" → "processes in /opt/…/current". */
export function describeSource(source: string): string {
  if (source.startsWith('unit:')) return `systemd unit ${source.slice(5)}`;
  if (source.startsWith('cwd:')) return `processes working in ${source.slice(4)}`;
  return source;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "CPU 3.1% · RSS 120 MB · 14 threads · 2 restarts" (or why there is nothing to show). */
export function appSummary(a: FleetApp | null | undefined): string {
  if (!a) return 'not measured by this agent';
  if (a.processes === 0) return `not running (${describeSource(a.source)})`;
  const parts = [`CPU ${fmt(a.cpuPercent, 1, '%')}`, `RSS ${fmt(a.rssMb, 0, ' MB')}`];
  if (a.threads !== null) parts.push(plural(a.threads, 'thread'));
  if (a.openFiles !== null) parts.push(`${a.openFiles} open files`);
  parts.push(plural(a.restarts24h, 'restart'));
  return parts.join(' · ');
}

/** A labelled line: `app` or `host` in front, so the two never read as one. */
export function scoped(scope: 'app' | 'host', ...children: (Node | string)[]): HTMLElement {
  return el('div', { class: `scoped scoped-${scope}`, 'data-scope': scope }, el('span', { class: 'scope' }, scope), ...children);
}

export function appBlock(a: FleetApp | null | undefined): HTMLElement {
  const line = scoped('app', el('span', { 'data-metric': 'app' }, appSummary(a)));
  line.setAttribute('data-testid', 'app-metrics');
  if (a) line.title = `${describeSource(a.source)} · ${a.processes ?? '–'} process${a.processes === 1 ? '' : 'es'} · restarts in the last 24 h`;
  return line;
}

/** Header of the detail view's app charts: where the processes were found, and restarts in the range. */
export function appHeader(m: MetricsResult): HTMLElement {
  const restarts = (m.appRestarts ?? []).reduce((n, r) => n + r, 0);
  const where = m.appSource ? describeSource(m.appSource) : 'its processes';
  // One box for the words after the label, so that they wrap as one paragraph beside it.
  return el('h3', { class: 'scope-heading', 'data-testid': 'app-heading' }, el('span', { class: 'scope' }, 'app'),
    el('span', {}, text(` ${where}`), el('span', { class: 'muted' }, ` · ${plural(restarts, 'restart')} in this range`)));
}
