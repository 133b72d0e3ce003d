// Detail of one vps/app: CPU, memory, disk, load, network and disk I/O charts with a time-range
// picker, and health history per URL (latency avg/p95 with failures marked, uptime, recent failures).
// Refetched when a batch of this vps/app commits (live) if the range ends now.
import uPlot from 'uplot';
import { el, fmt, bytesPerSecond, localTime, text, href, type View } from '../dom.js';
import { getJson } from '../api.js';
import { live } from '../live.js';
import type { HealthResult, MetricsResult, Series } from '../types.js';
import { appHeader } from './app-block.js';

const RANGES: [string, number][] = [['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400], ['30d', 30 * 86400], ['90d', 90 * 86400]];
const COLORS = { avg: '#4aa3df', max: '#d9443b', second: '#2e9e5b', fail: '#d9443b' };

interface ChartSpec {
  title: string;
  unit: (v: number | null) => string;
  lines: { label: string; values: (number | null)[]; color: string; dash?: number[] }[];
  /** Points-only series (e.g. failures). */
  marks?: { label: string; values: (number | null)[]; color: string };
  yMax?: number;
}

function chart(container: HTMLElement, t: number[], spec: ChartSpec): uPlot {
  const width = Math.max(300, container.clientWidth || 600);
  const series: uPlot.Series[] = [{}];
  const data: uPlot.AlignedData = [t];
  for (const line of spec.lines) {
    series.push({ label: line.label, stroke: line.color, width: 1.5, dash: line.dash, value: (_u, v) => spec.unit(v), spanGaps: false });
    (data as (number | null)[][]).push(line.values);
  }
  if (spec.marks) {
    series.push({ label: spec.marks.label, stroke: spec.marks.color, width: 0, paths: () => null, points: { show: true, size: 9, fill: spec.marks.color, stroke: spec.marks.color }, value: (_u, v) => (v === null ? '' : spec.unit(v)) });
    (data as (number | null)[][]).push(spec.marks.values);
  }
  return new uPlot({
    title: spec.title, width, height: 170, series,
    scales: spec.yMax !== undefined ? { y: { range: (_u, _min, max) => [0, Math.max(spec.yMax!, max)] } } : {},
    axes: [{ stroke: '#8a98a6', grid: { stroke: '#26313c' } }, { stroke: '#8a98a6', grid: { stroke: '#26313c' }, values: (_u, ticks) => ticks.map((v) => spec.unit(v)), size: 70 }],
    legend: { live: true },
  }, data, container);
}

const avg = (s?: Series) => s?.avg ?? [];
const max = (s?: Series) => s?.max ?? [];

export const detailView: View = (main, route) => {
  const [, vps = '', app = ''] = route.path;
  const rangeS = Number(route.params.get('range')) || 3600;
  // `at` (links in alert notifications): the range is centred on that moment instead of ending now.
  const atMs = Date.parse(route.params.get('at') ?? '');
  const picker = el('div', { class: 'ranges', 'data-testid': 'range-picker' }, ...RANGES.map(([label, s]) => {
    const p = new URLSearchParams({ range: String(s) });
    return el('a', { href: href(['vps', vps, app], p), class: s === rangeS ? 'active' : '' }, label);
  }));
  const info = el('div', { class: 'muted' });
  const appHead = el('div');
  const appCharts = el('section', { class: 'charts', 'data-testid': 'app-charts' });
  const hostHead = el('h3', { class: 'scope-heading' }, el('span', { class: 'scope' }, 'host'), text(` ${vps}`));
  const charts = el('section', { class: 'charts', 'data-testid': 'metric-charts' });
  const health = el('section', { class: 'health', 'data-testid': 'health-history' });
  const logsLink = el('a', { href: href(['logs'], new URLSearchParams({ app, vps })) }, 'Logs of this app →');
  main.replaceChildren(el('h2', {}, text(app), el('span', { class: 'muted' }, ' on '), text(vps)), picker, info, appHead, appCharts, hostHead, charts, el('h2', {}, 'Health checks'), health, logsLink);
  let plots: uPlot[] = [];

  const load = async () => {
    const to = Number.isFinite(atMs) ? new Date(Math.min(Date.now(), atMs + rangeS * 500)) : new Date();
    const from = new Date(to.getTime() - rangeS * 1000);
    const params = new URLSearchParams({ vps, app, from: from.toISOString(), to: to.toISOString() });
    try {
      const [m, h] = await Promise.all([getJson<MetricsResult>('/api/metrics', params), getJson<HealthResult>('/api/health', params)]);
      for (const p of plots) p.destroy();
      plots = [];
      info.textContent = `${m.t.length} points · ${m.stepSeconds} s buckets · from ${m.source === 'hourly' ? 'hourly rollups' : 'raw samples'}`;
      const appAll: ChartSpec[] = [
        { title: 'App CPU % (of the machine)', unit: (v) => fmt(v, 1, '%'), lines: [{ label: 'avg', values: avg(m.series.appCpu), color: COLORS.avg }, { label: 'max', values: max(m.series.appCpu), color: COLORS.max, dash: [4, 3] }] },
        { title: 'App RSS', unit: (v) => fmt(v, 0, ' MB'), lines: [{ label: 'avg', values: avg(m.series.appRssMb), color: COLORS.avg }, { label: 'max', values: max(m.series.appRssMb), color: COLORS.max, dash: [4, 3] }] },
        { title: 'App threads and open files', unit: (v) => fmt(v, 0), lines: [{ label: 'threads', values: max(m.series.appThreads), color: COLORS.avg }, { label: 'open files', values: max(m.series.appOpenFiles), color: COLORS.second }] },
      ];
      const appSpecs = appAll.filter((s) => s.lines.some((l) => l.values.some((v) => v !== null)));
      appHead.replaceChildren(...(appSpecs.length ? [appHeader(m)] : []));
      appCharts.replaceChildren(...appSpecs.map((spec) => el('div', { class: 'chart', 'data-chart': spec.title })));
      appSpecs.forEach((spec, j) => plots.push(chart(appCharts.children[j] as HTMLElement, m.t, spec)));
      const boxes: HTMLElement[] = [];
      const specs: ChartSpec[] = [
        { title: 'CPU %', unit: (v) => fmt(v, 0, '%'), yMax: 100, lines: [{ label: 'avg', values: avg(m.series.cpu), color: COLORS.avg }, { label: 'max', values: max(m.series.cpu), color: COLORS.max, dash: [4, 3] }] },
        { title: 'Memory %', unit: (v) => fmt(v, 0, '%'), yMax: 100, lines: [{ label: 'avg', values: avg(m.series.memory), color: COLORS.avg }, { label: 'max', values: max(m.series.memory), color: COLORS.max, dash: [4, 3] }] },
        { title: 'Disk %', unit: (v) => fmt(v, 0, '%'), yMax: 100, lines: [{ label: 'avg', values: avg(m.series.disk), color: COLORS.avg }, { label: 'max', values: max(m.series.disk), color: COLORS.max, dash: [4, 3] }] },
        { title: 'Load (1 min)', unit: (v) => fmt(v, 2), lines: [{ label: 'avg', values: avg(m.series.load1), color: COLORS.avg }, { label: 'max', values: max(m.series.load1), color: COLORS.max, dash: [4, 3] }] },
        { title: 'Network', unit: bytesPerSecond, lines: [{ label: 'rx', values: avg(m.series.netRxBps), color: COLORS.avg }, { label: 'tx', values: avg(m.series.netTxBps), color: COLORS.second }] },
        { title: 'Disk I/O', unit: bytesPerSecond, lines: [{ label: 'read', values: avg(m.series.diskReadBps), color: COLORS.avg }, { label: 'write', values: avg(m.series.diskWriteBps), color: COLORS.second }] },
      ];
      for (const spec of specs) {
        if (spec.lines.every((l) => !l.values.length)) continue;
        const box = el('div', { class: 'chart', 'data-chart': spec.title });
        boxes.push(box);
        charts.append(box);
      }
      charts.replaceChildren(...boxes);
      let i = 0;
      for (const spec of specs) if (!spec.lines.every((l) => !l.values.length)) plots.push(chart(boxes[i++]!, m.t, spec));
      if (!m.t.length) charts.replaceChildren(el('div', { class: 'empty' }, 'No samples in this range.'));

      health.replaceChildren();
      if (!h.urls.length) health.append(el('div', { class: 'empty' }, 'No health checks in this range.'));
      for (const u of h.urls) {
        const box = el('div', { class: 'chart' });
        health.append(el('h3', {}, text(u.url), el('span', { class: 'muted', 'data-testid': 'uptime' }, ` — uptime ${fmt(u.uptimePercent, 2, '%')} (${u.failures} of ${u.checks} failed)`)), box);
        plots.push(chart(box, u.t, {
          title: 'Latency', unit: (v) => fmt(v, 0, ' ms'),
          lines: [{ label: 'avg', values: u.latencyAvg, color: COLORS.avg }, { label: 'p95', values: u.latencyP95, color: COLORS.second, dash: [4, 3] }],
          marks: { label: 'failures', color: COLORS.fail, values: u.failuresPerBucket.map((f, j) => (f > 0 ? (u.latencyMax[j] ?? 0) : null)) },
        }));
      }
      if (h.failures.length) {
        health.append(el('h3', {}, 'Recent failures'), el('table', { class: 'failures' },
          ...h.failures.slice(0, 50).map((f) => el('tr', {},
            el('td', {}, localTime(f.timestamp)), el('td', {}, text(f.url)),
            el('td', {}, f.statusCode === null ? '–' : String(f.statusCode)), el('td', {}, text(f.errorMessage ?? ''))))));
      }
    } catch (err) {
      info.textContent = `Could not load: ${(err as Error).message}`;
    }
  };
  void load();
  let pending: ReturnType<typeof setTimeout> | null = null;
  const stop = live.listen([`vps/${vps}`], (msg) => {
    if (msg.type === 'fleet' && msg.rows.some((r) => r.vps === vps && r.app === app) && !pending) {
      pending = setTimeout(() => { pending = null; void load(); }, 500);
    }
  }, () => void load());
  const onResize = () => { for (const p of plots) p.setSize({ width: Math.max(300, (p.root.parentElement?.clientWidth ?? 600)), height: 170 }); };
  window.addEventListener('resize', onResize);
  return () => { stop(); for (const p of plots) p.destroy(); window.removeEventListener('resize', onResize); if (pending) clearTimeout(pending); };
};
