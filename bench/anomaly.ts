// Cost of streaming anomaly detection at fleet scale: 1,000 agents × 10 series (10,000 detectors),
// each fed points at a 60-second interval, with a plain EWMA z-score (two numbers of state) beside it
// as the baseline. Prints one JSON object: µs per point, bytes of state per series (exact typed-array
// bytes, and the heap measured per detector), and the heap for the whole fleet.
// Usage: node --expose-gc dist/bench/anomaly.js [agents] [seriesPerAgent] [hoursOfPoints]

import { AnomalyDetector, EwmaZScore, STATE_BYTES } from '../src/hub/anomaly/detector.js';

const agents = Number(process.argv[2] ?? 1000);
const perAgent = Number(process.argv[3] ?? 10);
const hours = Number(process.argv[4] ?? 6);
const series = agents * perAgent;
const intervalSec = 60;
const points = Math.round((hours * 3600) / intervalSec);
const t0 = Date.UTC(2026, 0, 5);
const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.(); gc?.();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

// Values: seasonal-ish noise, precomputed so the loop times the detectors, not Math.random.
const values = new Float64Array(4096);
for (let i = 0; i < values.length; i++) values[i] = 50 + 10 * Math.sin(i / 200) + 3 * (Math.random() - 0.5);

function run<D>(make: () => D, feed: (d: D, t: number, v: number) => void) {
  const before = heapUsed();
  const detectors: D[] = [];
  for (let i = 0; i < series; i++) detectors.push(make());
  const heapPerSeries = (heapUsed() - before) / series;
  const start = process.hrtime.bigint();
  // Point-major, as the hub sees them: every series gets its point of this minute, then the next minute.
  for (let p = 0; p < points; p++) {
    const t = t0 + p * intervalSec * 1000;
    for (let i = 0; i < series; i++) feed(detectors[i]!, t, values[(p * 7 + i) & 4095]!);
  }
  const ns = Number(process.hrtime.bigint() - start);
  const fleetHeapMB = Math.round(((heapUsed() - before) / 1048576) * 10) / 10;
  detectors.length = 0;
  return { usPerPoint: Math.round((ns / 1000 / (points * series)) * 1000) / 1000, heapBytesPerSeries: Math.round(heapPerSeries), fleetHeapMB };
}

const detector = run(() => new AnomalyDetector(intervalSec), (d, t, v) => { d.update(t, v); });
const baseline = run(() => new EwmaZScore(intervalSec), (d, _t, v) => { d.update(v); });
process.stdout.write(JSON.stringify({
  scenario: 'anomaly', node: process.version, agents, seriesPerAgent: perAgent, series, intervalSec, pointsPerSeries: points,
  gcExposed: gc !== undefined,
  detector: { ...detector, stateBytesPerSeries: STATE_BYTES },
  baselineEwmaZScore: baseline,
}) + '\n');
