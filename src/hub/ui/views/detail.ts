// Detail of one vps/app: CPU, memory, disk, load, network and disk I/O charts over the chosen range
// (charts.ts: the axis is the range, gaps are gaps, one crosshair, drag to zoom, alert markers), and
// per health check its uptime (24 h / 7 d / 30 d / 90 d), a heartbeat bar, 90 days of daily bars and
// the latency chart, and the deploys of the range (markers on every chart, and a list). Refetched when
// a batch of this vps/app commits (live) if the range ends now: a new deploy appears on an open page.
//
// URL: #/vps/<vps>/<app>?range=<seconds> (ending now) · &from=<ms>&to=<ms> (a zoomed, fixed range) ·
// &at=<ISO> (links in notifications: the range centred on that moment).
import type uPlot from 'uplot';
import { el, fmt, text, href, skeleton, stateBox, visibleText, type View } from '../dom.js';
import { ApiError, getJson } from '../api.js';
import { live } from '../live.js';
import { chart, fit, onGrid, type Band, type ChartGroup, type ChartSpec, type Marker } from '../charts.js';
import { barStrip, dayBars, uptimeList } from '../bars.js';
import { formatTime, formatDuration } from '../time.js';
import { onThemeChange } from '../theme.js';
import { STATUS_TEXT, isCheckLate, isSilent, noDataSince, statusTitle } from './fleet.js';
import type { AlertEvent, AnomalyEpisode, CheckUptime, Deployment, DeploymentsResult, FleetRow, HealthResult, MetricsResult, Series } from '../types.js';
import { appHeader } from './app-block.js';
import { bytesRate, count, loadAvg, megabytes, millis, percent, percent1 } from '../units.js';

const RANGES: [string, number][] = [['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400], ['30d', 30 * 86400], ['90d', 90 * 86400]];

const avg = (s?: Series) => s?.avg ?? [];
const max = (s?: Series) => s?.max ?? [];

function sourceText(source: 'raw' | 'hourly', step: number, interval: number | null): string {
  const every = interval ? ` (the agent samples every ${formatDuration(interval)})` : '';
  return source === 'hourly'
    ? `hourly rollups: ranges over 7 days are read from hourly averages and maxima, not raw samples · ${formatDuration(step)} buckets`
    : `raw samples in ${formatDuration(step)} buckets${every}`;
}

export const detailView: View = (main, route) => {
  const [, vps = '', app = ''] = route.path;
  document.title = `Observ — ${app} on ${vps}`;
  const rangeS = Number(route.params.get('range')) || 3600;
  const zoomFrom = Number(route.params.get('from'));
  const zoomTo = Number(route.params.get('to'));
  const zoomed = Number.isFinite(zoomFrom) && Number.isFinite(zoomTo) && zoomFrom > 0 && zoomTo > zoomFrom;
  // `at` (links in alert notifications): the range is centred on that moment instead of ending now.
  const atMs = Date.parse(route.params.get('at') ?? '');
  const base = new URLSearchParams({ range: String(rangeS) });

  const picker = el('nav', { class: 'ranges', 'aria-label': 'time range', 'data-testid': 'range-picker' }, ...RANGES.map(([label, s]) => {
    const on = s === rangeS && !zoomed;
    return el('a', { href: href(['vps', vps, app], new URLSearchParams({ range: String(s) })), class: on ? 'active' : '', ...(on ? { 'aria-current': 'true' } : {}) }, label);
  }));
  const zoomNote = el('div', { class: 'zoom-note', 'data-testid': 'zoom-note' });
  const badge = el('span', { class: 'badge', 'data-status': 'unknown', 'data-testid': 'status-badge' }, '…');
  const info = el('p', { class: 'muted', 'data-testid': 'chart-source' }, 'Loading…');
  const charts = el('section', { class: 'charts', 'data-testid': 'metric-charts', 'aria-label': 'metric charts', 'aria-busy': 'true' },
    ...Array.from({ length: 4 }, () => skeleton(1, 'chart')));
  const health = el('section', { class: 'health', 'data-testid': 'health-history', 'aria-label': 'health checks' }, skeleton(3));
  const deploys = el('section', { class: 'deploys', 'data-testid': 'deploy-list', 'aria-label': 'deploys' });
  const logsLink = el('a', { href: href(['logs'], new URLSearchParams({ app, vps })) }, 'Logs of this app →');
  const heading = el('h2', { class: 'detail-title' }, text(app), el('span', { class: 'muted' }, ' on '), text(vps), ' ', badge);
  // The app's own processes first, then the host: two apps on one VPS share the host charts, not these.
  const appHead = el('div');
  const appCharts = el('section', { class: 'charts', 'data-testid': 'app-charts', 'aria-label': 'app charts' });
  const hostHead = el('h3', { class: 'scope-heading' }, el('span', { class: 'scope' }, 'host'), text(` ${vps}`));
  main.replaceChildren(el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← Fleet')), heading, picker, zoomNote, info, appHead, appCharts, hostHead, charts,
    el('h2', {}, 'Deploys'), deploys, el('h2', {}, 'Health checks'), health, logsLink);
  let plots: uPlot[] = [];
  let interval: number | null = null;

  const window_ = () => {
    if (zoomed) return { from: new Date(zoomFrom), to: new Date(zoomTo) };
    const to = Number.isFinite(atMs) ? new Date(Math.min(Date.now(), atMs + rangeS * 500)) : new Date();
    return { from: new Date(to.getTime() - rangeS * 1000), to };
  };
  if (zoomed) {
    const reset = el('a', { href: href(['vps', vps, app], base) }, 'reset zoom');
    zoomNote.replaceChildren(`Zoomed to ${formatTime(zoomFrom, 'datetime')} – ${formatTime(zoomTo, 'datetime')} · `, reset, ' (or Back, or double-click a chart)');
  } else zoomNote.textContent = 'Drag across a chart to zoom in; double-click to reset.';

  const notFound = () => {
    for (const p of plots) p.destroy();
    plots = [];
    main.replaceChildren(el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← Fleet')), el('h2', {}, 'No such app'),
      stateBox('notfound', `No agent has reported "${app}" on "${vps}".`, 'Check the spelling, or start the agent for this app; it appears here with its first batch.',
        el('a', { href: '#/' }, 'Go to the fleet overview')));
    stopLive();
  };

  const load = async () => {
    const { from, to } = window_();
    const params = new URLSearchParams({ vps, app, from: from.toISOString(), to: to.toISOString() });
    const group: ChartGroup = {
      key: `detail:${vps}/${app}`, from: from.getTime() / 1000, to: to.getTime() / 1000, markers: [],
      onZoom: (a, b) => { location.hash = href(['vps', vps, app], new URLSearchParams({ range: String(rangeS), from: String(a * 1000), to: String(b * 1000) })); },
      onReset: () => { if (zoomed) history.back(); },
    };
    try {
      const fleetQ = new URLSearchParams({ vps, app });
      const eventsQ = new URLSearchParams({ vps, app, since: from.toISOString(), until: to.toISOString(), limit: '500' });
      const [f, m, h, up, ev, dep, an] = await Promise.all([
        getJson<{ fleet: FleetRow[] }>('/api/fleet', fleetQ),
        getJson<MetricsResult>('/api/metrics', params),
        getJson<HealthResult>('/api/health', params),
        getJson<{ checks: CheckUptime[] }>('/api/uptime', fleetQ),
        getJson<{ events: AlertEvent[] }>('/api/alert-events', eventsQ).catch(() => ({ events: [] as AlertEvent[] })),
        getJson<DeploymentsResult>('/api/deployments', params).catch(() => null),
        getJson<{ anomalies: AnomalyEpisode[] }>('/api/anomalies', new URLSearchParams({ vps, app, from: from.toISOString(), to: to.toISOString(), limit: '1000' }))
          .catch(() => ({ anomalies: [] as AnomalyEpisode[] })),
      ]);
      const row = f.fleet[0];
      if (!row) { notFound(); return; }
      interval = row.collectionInterval;
      badge.dataset.status = row.status;
      badge.textContent = STATUS_TEXT[row.status];
      badge.title = statusTitle(row);
      group.markers = ev.events.filter((e) => e.kind === 'firing' || e.kind === 'resolved')
        .map((e): Marker => ({ t: Date.parse(e.timestamp) / 1000, kind: e.kind as Marker['kind'], label: `${e.rule} ${e.kind}` }));
      const deployed = dep?.deployments ?? [];
      group.markers.push(...deployed.map((d): Marker => ({ t: Date.parse(d.timestamp) / 1000, kind: 'deploy', label: `deploy ${visibleText(d.version ?? '')}`.trim() })));
      renderDeploys(deployed, dep === null, dep?.truncated ?? false);
      group.bands = an.anomalies.map((e): Band => ({ from: Date.parse(e.startedAt) / 1000, to: e.endedAt ? Date.parse(e.endedAt) / 1000 : null, series: e.series, label: e.summary }));
      for (const p of plots) p.destroy();
      plots = [];
      charts.removeAttribute('aria-busy');
      const alertMarks = group.markers.length - deployed.length;
      const markerNote = (alertMarks ? ` · ${alertMarks} alert event${alertMarks === 1 ? '' : 's'} marked (solid: fired, dashed: resolved)` : '') +
        (deployed.length ? ` · ${deployed.length} deploy${deployed.length === 1 ? '' : 's'} marked (purple, flagged)` : '');
      const bandNote = group.bands.length ? ` · ${group.bands.length} anomal${group.bands.length === 1 ? 'y' : 'ies'} shaded` : '';
      info.textContent = `${m.t.length} of ${Math.ceil((group.to - group.from) / m.stepSeconds)} buckets have samples · ${sourceText(m.source, m.stepSeconds, interval)}` +
        `${m.t.length && m.samples.every((k) => k <= 1) ? ' · one sample per bucket, so avg = max' : ''}${markerNote}${bandNote}`;

      const g = onGrid(m.t, m.stepSeconds, group.from, group.to, [
        avg(m.series.cpu), max(m.series.cpu), avg(m.series.memory), max(m.series.memory), avg(m.series.disk), max(m.series.disk),
        avg(m.series.load1), max(m.series.load1), avg(m.series.netRxBps), avg(m.series.netTxBps), avg(m.series.diskReadBps), avg(m.series.diskWriteBps)]);
      const c = g.columns;
      // With one sample per bucket the max is the avg: one line, not two drawn on top of each other.
      const single = m.samples.every((k) => k <= 1);
      const pair = (a: (number | null)[], b: (number | null)[]) => [{ label: single ? 'value' : 'avg', values: a, color: '--chart-1' },
        ...(single ? [] : [{ label: 'max', values: b, color: '--chart-2', dash: [4, 3] }])];
      const specs: ChartSpec[] = [
        { title: 'CPU %', unit: percent, yMax: 100, anomalySeries: ['cpu_percent'], lines: pair(c[0]!, c[1]!) },
        { title: 'Memory %', unit: percent, yMax: 100, anomalySeries: ['memory_percent'], lines: pair(c[2]!, c[3]!) },
        { title: 'Disk %', unit: percent, yMax: 100, lines: pair(c[4]!, c[5]!) },
        { title: 'Load (1 min)', unit: loadAvg, anomalySeries: ['load_avg_1m'], lines: pair(c[6]!, c[7]!) },
        { title: 'Network', unit: bytesRate, anomalySeries: ['net_bps'], lines: [{ label: 'rx', values: c[8]!, color: '--chart-1' }, { label: 'tx', values: c[9]!, color: '--chart-3' }] },
        { title: 'Disk I/O', unit: bytesRate, anomalySeries: ['disk_io_bps'], lines: [{ label: 'read', values: c[10]!, color: '--chart-1' }, { label: 'write', values: c[11]!, color: '--chart-3' }] },
      ];
      const ga = onGrid(m.t, m.stepSeconds, group.from, group.to, [
        avg(m.series.appCpu), max(m.series.appCpu), avg(m.series.appRssMb), max(m.series.appRssMb), max(m.series.appThreads), max(m.series.appOpenFiles)]);
      const a = ga.columns;
      const appAll: ChartSpec[] = [
        { title: 'App CPU % (of the machine)', unit: percent1, anomalySeries: ['app_cpu_percent'], lines: pair(a[0]!, a[1]!) },
        { title: 'App RSS', unit: megabytes, anomalySeries: ['app_rss_mb'], lines: pair(a[2]!, a[3]!) },
        { title: 'App threads and open files', unit: count, lines: [{ label: 'threads', values: a[4]!, color: '--chart-1' }, { label: 'open files', values: a[5]!, color: '--chart-3' }] },
      ];
      const appSpecs = appAll.filter((spec) => spec.lines.some((l) => l.values.some((v) => v !== null)));
      appHead.replaceChildren(...(appSpecs.length ? [appHeader(m)] : []));
      const appBoxes = appSpecs.map((spec) => el('div', { class: 'chart', 'data-chart': spec.title }));
      appCharts.replaceChildren(...appBoxes);
      appSpecs.forEach((spec, i) => plots.push(chart(appBoxes[i]!, group, ga.t, spec)));
      if (!m.t.length) {
        charts.replaceChildren(stateBox('empty', 'No samples in this range.', `The agent last reported ${formatTime(row.lastSeen)}. Choose a longer range above.`));
      } else {
        const boxes = specs.map((s) => el('div', { class: 'chart', 'data-chart': s.title }));
        charts.replaceChildren(...boxes);
        specs.forEach((s, i) => plots.push(chart(boxes[i]!, group, g.t, s)));
      }
      renderHealth(h, up.checks, group, row);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { notFound(); return; }
      charts.removeAttribute('aria-busy');
      const retry = el('button', { type: 'button' }, 'Try again');
      retry.addEventListener('click', () => { void load(); });
      info.textContent = '';
      charts.replaceChildren(stateBox('error', 'Could not load this app’s data.', text((err as Error).message), retry));
    }
  };

  const renderDeploys = (list: Deployment[], failed: boolean, truncated: boolean) => {
    if (failed) { deploys.replaceChildren(el('p', { class: 'muted' }, 'Deploys could not be loaded.')); return; }
    if (!list.length) {
      deploys.replaceChildren(el('p', { class: 'muted', 'data-testid': 'no-deploys' }, 'No deploys in this range. The agent records one when ',
        el('code', {}, 'current'), ' points to a new release; pipelines can run ', el('code', {}, `observ deploy ${app}`), '.'));
      return;
    }
    deploys.replaceChildren(el('div', { class: 'table-wrap' }, el('table', { class: 'deploys-table' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'Version'), el('th', { scope: 'col' }, 'Replaced'),
        el('th', { scope: 'col' }, 'Release'), el('th', { scope: 'col' }, 'Recorded by'))),
      el('tbody', {}, ...list.map((d) => el('tr', { 'data-testid': 'deploy-row' },
        el('td', {}, formatTime(d.timestamp)), el('td', {}, el('strong', {}, text(d.version ?? '–'))), el('td', {}, text(d.previousVersion ?? '–')),
        el('td', { class: 'release' }, text(d.release ?? '–')), el('td', {}, d.source === 'symlink' ? 'agent (release symlink)' : 'observ deploy')))))),
      ...(truncated ? [el('p', { class: 'muted' }, `The newest ${list.length} are shown; choose a shorter range for the rest.`)] : []));
  };

  const renderHealth = (h: HealthResult, uptime: CheckUptime[], group: ChartGroup, row: FleetRow) => {
    health.replaceChildren();
    // What the range holds, and every check the agent runs now (one added since has no results yet).
    const runs = row.checks.filter((c) => c.intervalSeconds !== null).map((c) => c.url);
    const urls = [...new Set([...uptime.filter((u) => u.vps === vps).map((u) => u.url), ...h.urls.map((u) => u.url), ...runs])].sort();
    if (!urls.length) health.append(stateBox('empty', 'No health checks for this app.', 'Add health_checks to the app’s monitoring.yml to see uptime here.'));
    for (const url of urls) {
      const u = h.urls.find((x) => x.url === url);
      const up = uptime.find((x) => x.vps === vps && x.url === url);
      const box = el('div', { class: 'chart' });
      const figures = up ? uptimeList(up.uptime) : null;
      const beats = up?.recent.length ? barStrip(`last ${up.recent.length} checks: ${up.recent.filter((r) => !r.ok).length} failed`,
        up.recent.map((r) => ({ state: r.ok ? 'ok' : 'fail', title: `${formatTime(r.t)}: ${r.ok ? `up, ${fmt(r.ms, 0, ' ms')}` : 'failed'}` })), 'heartbeat') : null;
      const days = up ? dayBars(up.days.map((d) => ({ day: d.day, uptime: d.checks ? 100 * (1 - d.failures / d.checks) : null }))) : null;
      // A silent agent's newest results are history: say so above the (green) bars, which end there.
      const current = row.checks.find((c) => c.url === url);
      const last = current?.timestamp ?? row.lastSeen;
      const late = !isSilent(row) && current !== undefined && isCheckLate(current, row.lastSeen);
      health.append(el('article', { class: 'check' },
        el('h3', {}, text(url)),
        isSilent(row) ? el('p', { class: 'check-silent', 'data-testid': 'check-silent', title: noDataSince(last) },
          `No results since ${formatTime(last)}: the agent is silent, so this is its history, not the current state.`) : null,
        late ? el('p', { class: 'check-silent', 'data-testid': 'check-late', title: noDataSince(last) },
          `No results since ${formatTime(last)}, though it runs every ${formatDuration(current.intervalSeconds ?? 0)}: the agent is reporting, but not this check.`) : null,
        u ? el('p', { class: 'muted', 'data-testid': 'uptime' }, `In this range: uptime ${fmt(u.uptimePercent, 2, '%')} (${u.failures} of ${u.checks} failed)`)
          : current && current.timestamp === null && current.intervalSeconds !== null
            ? el('p', { class: 'muted', 'data-testid': 'check-waiting' }, `No result yet: the agent runs this check every ${formatDuration(current.intervalSeconds)}.`)
            : el('p', { class: 'muted' }, 'No checks in this range.'),
        figures, beats ? el('div', { class: 'strip-label' }, 'Heartbeat (newest right)') : null, beats,
        days ? el('div', { class: 'strip-label' }, '90 days (UTC days, newest right)') : null, days, u ? box : null));
      if (u) {
        const g = onGrid(u.t, h.stepSeconds, group.from, group.to, [u.latencyAvg, u.latencyP95, u.failuresPerBucket.map((f, j) => (f > 0 ? (u.latencyMax[j] ?? 0) : null))]);
        plots.push(chart(box, group, g.t, {
          title: 'Latency', unit: millis, anomalySeries: ['health_latency_ms', 'health_failure_rate'],
          lines: [{ label: 'avg', values: g.columns[0]!, color: '--chart-1' }, { label: 'p95', values: g.columns[1]!, color: '--chart-3', dash: [4, 3] }],
          marks: { label: 'failures', color: '--error', values: g.columns[2]! },
        }));
      }
    }
    if (h.failures.length) {
      health.append(el('h3', {}, 'Recent failures'), el('div', { class: 'table-wrap' }, el('table', { class: 'failures' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'Check'), el('th', { scope: 'col' }, 'Status'), el('th', { scope: 'col' }, 'Error'))),
        el('tbody', {}, ...h.failures.slice(0, 50).map((f) => el('tr', {},
          el('td', {}, formatTime(f.timestamp)), el('td', {}, text(f.url)),
          el('td', {}, f.statusCode === null ? '–' : String(f.statusCode)), el('td', {}, text(f.errorMessage ?? ''))))))));
    }
  };

  void load();
  let pending: ReturnType<typeof setTimeout> | null = null;
  const stopLive = live.listen([`vps/${vps}`], (msg) => {
    if (zoomed || Number.isFinite(atMs)) return;
    if (msg.type === 'fleet' && msg.rows.some((r) => r.vps === vps && r.app === app) && !pending) {
      pending = setTimeout(() => { pending = null; void load(); }, 500);
    }
  }, () => void load());
  const onResize = () => fit(plots);
  window.addEventListener('resize', onResize);
  const stopTheme = onThemeChange(() => void load());
  return () => { stopLive(); stopTheme(); for (const p of plots) p.destroy(); window.removeEventListener('resize', onResize); if (pending) clearTimeout(pending); };
};
