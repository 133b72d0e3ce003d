// Quality of the anomaly detector: window recall (labelled windows with at least one alarm raised
// inside) and false alarms per 30 days (alarms raised outside every window, per 30 days of data), on
// the synthetic suite (bench/lib/anomaly-series.ts) and, when given, on the Numenta Anomaly
// Benchmark's real-metric files, with a plain EWMA z-score beside it as the baseline.
// Prints one JSON object.
//
// Usage: node dist/bench/anomaly-eval.js [--data DIR] [--series]
//   DIR mirrors the NAB repository: DIR/labels/combined_windows.json and DIR/data/<group>/<name>.csv;
//   files that are absent are skipped (nothing third-party is kept in this repository).
//   --series adds each series' figures.
// As NAB scores it, the first 15% of each NAB file is probation: alarms there are not counted.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AnomalyDetector, EwmaZScore, inferIntervalSec } from '../src/hub/anomaly/detector.js';
import { CsvPointReader } from '../src/hub/anomaly/csv.js';
import { syntheticSuite, type LabelledSeries, type Window } from './lib/anomaly-series.js';

const { values } = parseArgs({ options: { data: { type: 'string' }, series: { type: 'boolean' } } });

interface Outcome { windows: number; caught: number; falseAlarms: number; days: number }
interface SeriesFigures { name: string; detector: Outcome; baseline: Outcome; baselineStrict: Outcome }

function countAgainst(s: LabelledSeries, raisedAt: number[], probationMs: number): Outcome {
  const inside = (t: number, w: Window) => t >= w.startMs && t <= w.endMs;
  const caught = s.windows.filter((w) => raisedAt.some((t) => inside(t, w))).length;
  const falseAlarms = raisedAt.filter((t) => t >= probationMs && !s.windows.some((w) => inside(t, w))).length;
  const first = s.t[0]!, last = s.t[s.t.length - 1]!;
  return { windows: s.windows.length, caught, falseAlarms, days: (last - Math.max(first, probationMs)) / 86_400_000 };
}

function evaluate(s: LabelledSeries, probationShare: number): SeriesFigures {
  const probationMs = s.t[0]! + (s.t[s.t.length - 1]! - s.t[0]!) * probationShare;
  const detector = new AnomalyDetector(s.intervalSec);
  const raised: number[] = [];
  for (let i = 0; i < s.t.length; i++) if (detector.update(s.t[i]!, s.v[i]!).raised) raised.push(s.t[i]!);
  // The baselines: an EWMA z-score over the same recent memory, raising where |z| crosses 4 (or 6).
  const baselineRaises = (threshold: number) => {
    const baseline = new EwmaZScore(s.intervalSec, threshold);
    const out: number[] = [];
    let was = false;
    for (let i = 0; i < s.t.length; i++) {
      const b = baseline.update(s.v[i]!);
      if (b.anomaly && !was) out.push(s.t[i]!);
      was = b.anomaly;
    }
    return out;
  };
  return { name: s.name, detector: countAgainst(s, raised, probationMs), baseline: countAgainst(s, baselineRaises(4), probationMs),
    baselineStrict: countAgainst(s, baselineRaises(6), probationMs) };
}

function summary(figures: SeriesFigures[]) {
  const sum = (pick: (f: SeriesFigures) => Outcome) => {
    const o = figures.map(pick).reduce((a, b) => ({ windows: a.windows + b.windows, caught: a.caught + b.caught, falseAlarms: a.falseAlarms + b.falseAlarms, days: a.days + b.days }));
    return {
      windowRecall: o.windows ? Math.round((o.caught / o.windows) * 1000) / 1000 : null,
      windowsCaught: `${o.caught}/${o.windows}`,
      falseAlarmsPer30Days: Math.round((o.falseAlarms / o.days) * 30 * 100) / 100,
      falseAlarms: o.falseAlarms,
      days: Math.round(o.days * 10) / 10,
    };
  };
  return { series: figures.length, detector: sum((f) => f.detector), baselineEwmaZ4: sum((f) => f.baseline), baselineEwmaZ6: sum((f) => f.baselineStrict) };
}

/** NAB files found under DIR, with their windows. */
function nabSuite(dir: string): LabelledSeries[] {
  const labelsFile = join(dir, 'labels', 'combined_windows.json');
  if (!existsSync(labelsFile)) return [];
  const labels = JSON.parse(readFileSync(labelsFile, 'utf8')) as Record<string, [string, string][]>;
  const out: LabelledSeries[] = [];
  for (const [file, windows] of Object.entries(labels)) {
    const path = join(dir, 'data', file);
    if (!existsSync(path)) continue;
    const reader = new CsvPointReader();
    const t: number[] = [], v: number[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const p = reader.read(line);
      if (p) { t.push(p.tMs); v.push(p.value); }
    }
    const nabTime = (text: string) => Date.parse(text.replace(' ', 'T').replace(/(\.\d+)?$/, 'Z'));
    out.push({
      name: file, intervalSec: inferIntervalSec(t) ?? 300, t: Float64Array.from(t), v: Float64Array.from(v),
      windows: windows.map(([a, b]) => ({ startMs: nabTime(a), endMs: nabTime(b) })),
    });
  }
  return out;
}

const synthetic = syntheticSuite().map((s) => evaluate(s, 0));
const nab = values.data ? nabSuite(values.data).map((s) => evaluate(s, 0.15)) : [];
process.stdout.write(JSON.stringify({
  scenario: 'anomaly-eval', node: process.version,
  synthetic: summary(synthetic),
  ...(nab.length ? { nab: summary(nab) } : { nab: values.data ? 'no NAB files found under --data' : 'not run (no --data)' }),
  ...(values.series ? { perSeries: [...synthetic, ...nab].map((f) => ({ name: f.name, detector: f.detector, baseline: f.baseline })) } : {}),
}, null, 2) + '\n');
