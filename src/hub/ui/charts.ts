// Charts (uPlot) that show what the data is: the x-axis is the chosen range (not the data's extent),
// a bucket without samples is a gap, every chart of a page shares one crosshair and tooltip (uPlot
// cursor sync), a drag selects a range to zoom into (the page's URL changes, so Back returns), a
// double-click resets, events (alerts firing and resolving, deploys) are drawn as a marker layer:
// a vertical line per event on every chart of the group, a small flag on top of it, and the event's
// label in the tooltip when the cursor is at it; anomaly episodes are shaded bands on the charts of
// their series. A new kind of marker is one entry in MARKER_STYLES.
import uPlot from 'uplot';
import { el } from './dom.js';
import { cssColor } from './theme.js';
import { formatTick, formatTime } from './time.js';
import { INTEGER_INCRS, tickLabels, type UnitFormat } from './units.js';

export type MarkerKind = 'firing' | 'resolved' | 'deploy';

export interface Marker {
  /** Epoch seconds. */
  t: number;
  kind: MarkerKind;
  label: string;
}

/** How each kind is drawn: its colour (a CSS custom property), dash pattern, and whether it gets a flag. */
export const MARKER_STYLES: Record<MarkerKind, { color: string; dash: number[]; flag: boolean }> = {
  firing: { color: '--error', dash: [], flag: false },
  resolved: { color: '--ok', dash: [4, 3], flag: false },
  deploy: { color: '--marker-deploy', dash: [2, 2], flag: true },
};

/** Pixels either side of the cursor within which a marker's label joins the tooltip. */
const MARKER_HIT_PX = 5;

export interface Band {
  from: number;
  to: number | null;
  /** The detector's series name (cpu_percent, net_bps, …). */
  series: string;
  label: string;
}

export interface ChartGroup {
  /** Cursor-sync key: charts with the same key share crosshair and tooltip. */
  key: string;
  /** The shown range, epoch seconds. */
  from: number;
  to: number;
  markers: Marker[];
  /** Anomaly episodes (epoch seconds; `to` null while open), shaded on charts that show their series. */
  bands?: Band[];
  onZoom(from: number, to: number): void;
  onReset(): void;
}

export interface Line {
  label: string;
  values: (number | null)[];
  /** A CSS custom property (e.g. '--chart-1'). */
  color: string;
  dash?: number[];
}

export interface ChartSpec {
  title: string;
  /** Values in tooltips and legends, and the y-axis labels (units.ts: distinct however narrow the range). */
  unit: UnitFormat;
  lines: Line[];
  /** Points-only series (e.g. failures). */
  marks?: Line;
  yMax?: number;
  /** The anomaly series this chart shows (bands of these series are shaded on it). */
  anomalySeries?: string[];
}

/**
 * Puts series on the full bucket grid of [from, to): one slot per `step` (aligned to the epoch, as the
 * API's date_bin is), null where no sample fell. uPlot draws nulls as gaps.
 */
export function onGrid(t: number[], step: number, from: number, to: number, columns: (number | null)[][]): { t: number[]; columns: (number | null)[][] } {
  const first = Math.floor(from / step) * step;
  const n = Math.max(0, Math.min(5000, Math.ceil((to - first) / step)));
  const grid = Array.from({ length: n }, (_, i) => first + i * step);
  const at = new Map(t.map((x, i) => [x, i]));
  return { t: grid, columns: columns.map((col) => grid.map((x) => { const i = at.get(x); return i === undefined ? null : (col[i] ?? null); })) };
}

const inRange = (group: ChartGroup, m: Marker) => m.t >= group.from && m.t <= group.to;

/** The anomaly bands that fall on a chart of these series. */
export function bandsFor(group: ChartGroup, series: readonly string[] | undefined): Band[] {
  if (!series?.length || !group.bands) return [];
  return group.bands.filter((b) => series.includes(b.series) && (b.to ?? group.to) >= group.from && b.from <= group.to);
}

function markerPlugin(group: ChartGroup, spec: ChartSpec): uPlot.Plugin {
  let layer: HTMLElement;
  return {
    hooks: {
      init: [(u) => {
        layer = el('div', { class: 'marker-layer', 'aria-hidden': 'true' });
        u.over.append(layer);
      }],
      draw: [(u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        const flags: HTMLElement[] = [];
        ctx.save();
        // Bands first, under the markers: translucent, at least a few pixels wide so a one-point episode shows.
        ctx.fillStyle = cssColor('--warn');
        ctx.globalAlpha = 0.18;
        for (const b of bandsFor(group, spec.anomalySeries)) {
          const x0 = Math.round(u.valToPos(Math.max(b.from, group.from), 'x', true));
          const x1 = Math.round(u.valToPos(Math.min(b.to ?? group.to, group.to), 'x', true));
          ctx.fillRect(x0, top, Math.max(3 * devicePixelRatio, x1 - x0), height);
        }
        ctx.globalAlpha = 1;
        for (const m of group.markers) {
          if (!inRange(group, m)) continue;
          const style = MARKER_STYLES[m.kind];
          const x = Math.round(u.valToPos(m.t, 'x', true));
          ctx.strokeStyle = cssColor(style.color);
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          ctx.setLineDash(style.dash.map((d) => d * devicePixelRatio));
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          if (style.flag) {
            const flag = el('span', { class: 'marker-flag', 'data-kind': m.kind, title: m.label });
            flag.style.left = `${u.valToPos(m.t, 'x')}px`;
            flags.push(flag);
          }
        }
        ctx.restore();
        layer.replaceChildren(...flags);
      }],
    },
  };
}

/** Labels of the markers at the cursor (within MARKER_HIT_PX), for the tooltip. */
function markersAt(u: uPlot, group: ChartGroup, left: number): Marker[] {
  return group.markers.filter((m) => inRange(group, m) && Math.abs(u.valToPos(m.t, 'x') - left) <= MARKER_HIT_PX);
}

/** A tooltip inside each chart at the (synced) cursor: the time and every series' value. */
function tooltipPlugin(spec: ChartSpec, group: ChartGroup): uPlot.Plugin {
  let tip: HTMLElement;
  return {
    hooks: {
      init: [(u) => {
        tip = el('div', { class: 'chart-tip', 'aria-hidden': 'true' });
        tip.hidden = true;
        u.over.append(tip);
      }],
      setCursor: [(u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
        const t = u.data[0][i]!;
        const rows = u.series.slice(1).map((s, k) => {
          const v = u.data[k + 1]![i] ?? null;
          return v === null ? null : `${String(s.label)}: ${spec.unit(v)}`;
        }).filter((x): x is string => x !== null);
        tip.replaceChildren(el('strong', {}, formatTime(t * 1000, 'datetime')), ...rows.map((r) => el('div', {}, r)));
        if (!rows.length) tip.append(el('div', {}, 'no samples'));
        for (const m of markersAt(u, group, u.cursor.left)) tip.append(el('div', { class: 'tip-marker', 'data-kind': m.kind }, m.label));
        tip.hidden = false;
        const w = u.over.clientWidth;
        const left = u.cursor.left;
        tip.style.left = left > w / 2 ? '' : `${left + 12}px`;
        tip.style.right = left > w / 2 ? `${w - left + 12}px` : '';
      }],
    },
  };
}

export function chartHeight(): number {
  return matchMedia('(max-width: 600px)').matches ? 150 : 180;
}

export function chart(container: HTMLElement, group: ChartGroup, t: number[], spec: ChartSpec): uPlot {
  const width = Math.max(200, container.clientWidth - 8 || 600);
  const muted = cssColor('--muted');
  const grid = cssColor('--border');
  const series: uPlot.Series[] = [{ value: (_u, v) => (v === null || v === undefined ? '–' : formatTime(v * 1000, 'datetime')) }];
  const data: (number | null)[][] = [t];
  for (const line of spec.lines) {
    series.push({ label: line.label, stroke: cssColor(line.color), width: 1.5, dash: line.dash, value: (_u, v) => spec.unit(v), spanGaps: false, points: { show: false } });
    data.push(line.values);
  }
  if (spec.marks) {
    const c = cssColor(spec.marks.color);
    series.push({ label: spec.marks.label, stroke: c, width: 0, paths: () => null, points: { show: true, size: 9, fill: c, stroke: c }, value: (_u, v) => (v === null ? '' : spec.unit(v)) });
    data.push(spec.marks.values);
  }
  const span = group.to - group.from;
  // How many episodes this chart shades: a hook for people reading the DOM (and for tests).
  if (spec.anomalySeries) container.dataset.anomalies = String(bandsFor(group, spec.anomalySeries).length);
  return new uPlot({
    title: spec.title, width, height: chartHeight(), series,
    scales: {
      x: { time: true, range: () => [group.from, group.to] },
      ...(spec.yMax !== undefined ? { y: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(spec.yMax!, max)] as uPlot.Range.MinMax } } : {}),
    },
    axes: [
      { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid }, values: (_u, splits) => splits.map((s) => formatTick(s, span)), space: 70 },
      { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid }, ...(spec.unit.integer ? { incrs: INTEGER_INCRS } : {}),
        values: (_u, ticks) => {
          const labels = tickLabels(ticks, spec.unit);
          // The labels are drawn on the canvas: the DOM gets them too, for people reading it (and for tests).
          container.dataset.yLabels = JSON.stringify(labels);
          return labels;
        },
        // Wide enough for the longest label ("4000 ms", "12.5 MB/s").
        size: (_u, values) => 24 + 8 * Math.max(3, ...(values ?? []).map((v) => String(v).length)) },
    ],
    cursor: {
      // A horizontal line means nothing across charts of different units: the crosshair is vertical only.
      y: false,
      sync: { key: group.key },
      drag: { x: true, y: false, setScale: false },
      bind: { dblclick: () => () => { group.onReset(); return null; } },
    },
    legend: { live: true },
    hooks: {
      setSelect: [(u) => {
        if (u.select.width > 4) {
          const a = u.posToVal(u.select.left, 'x');
          const b = u.posToVal(u.select.left + u.select.width, 'x');
          if (b - a >= 1) group.onZoom(Math.round(a), Math.round(b));
        }
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
    },
    plugins: [markerPlugin(group, spec), tooltipPlugin(spec, group)],
  }, data as uPlot.AlignedData, container);
}

/** Resizes every chart to its box (on window resize). */
export function fit(plots: uPlot[]): void {
  for (const p of plots) p.setSize({ width: Math.max(200, (p.root.parentElement?.clientWidth ?? 608) - 8), height: chartHeight() });
}
