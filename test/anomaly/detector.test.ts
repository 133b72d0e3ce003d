import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyDetector, EwmaZScore, inferIntervalSec, STATE_BYTES } from '../../src/hub/anomaly/detector.js';
import { rng, syntheticSuite, SYNTHETIC_START_MS } from '../../bench/lib/anomaly-series.js';

const MIN = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

function gaussian(seed: number): () => number {
  const r = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Feeds (t, v) pairs and returns the times at which the detector raised. */
function raises(d: AnomalyDetector, points: Iterable<[number, number]>): number[] {
  const out: number[] = [];
  for (const [t, v] of points) if (d.update(t, v).raised) out.push(t);
  return out;
}

function* minutes(days: number, value: (t: number, i: number) => number, start = SYNTHETIC_START_MS): Generator<[number, number]> {
  for (let i = 0; i < days * 1440; i++) { const t = start + i * MIN; yield [t, value(t, i)]; }
}

test('each point is scored from the points before it only: a prefix scores the same alone as inside the whole series', () => {
  const s = syntheticSuite().find((x) => x.name === 'missing-data')!;
  const whole = new AnomalyDetector(s.intervalSec), prefix = new AnomalyDetector(s.intervalSec);
  const cut = Math.floor(s.t.length / 2);
  const wholeScores: number[] = [];
  for (let i = 0; i < s.t.length; i++) wholeScores.push(whole.update(s.t[i]!, s.v[i]!).score);
  for (let i = 0; i < cut; i++) assert.equal(prefix.update(s.t[i]!, s.v[i]!).score, wholeScores[i], `point ${i}`);
});

test('a spike in a noisy series raises once and clears, where a quiet stretch raises nothing', () => {
  const g = gaussian(1);
  const spikeAt = SYNTHETIC_START_MS + 2 * DAY + 10 * HOUR;
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(3, (t) => 100 + 5 * g() + (t >= spikeAt && t < spikeAt + 4 * MIN ? 60 : 0)));
  assert.deepEqual(raised.length, 1, `raised at ${raised.map((t) => new Date(t).toISOString())}`);
  assert.ok(raised[0]! >= spikeAt && raised[0]! < spikeAt + 4 * MIN);
  assert.equal(d.anomaly, false, 'cleared after the spike');
});

test('nothing is raised during the warm-up, however wild the first points', () => {
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(1 / 24, (_t, i) => (i % 2 ? 1000 : 0)));
  assert.deepEqual(raised, []);
});

test('a sustained level shift raises, then becomes the new normal and clears while it lasts', () => {
  const g = gaussian(2);
  const shiftAt = SYNTHETIC_START_MS + DAY + 5 * HOUR;
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(2, (t) => 50 + 2 * g() + (t >= shiftAt ? 30 : 0)));
  assert.equal(raised.length, 1);
  assert.ok(raised[0]! - shiftAt < 10 * MIN, 'raised within minutes');
  assert.equal(d.anomaly, false, 'the new level is normal by the end');
  assert.ok(Math.abs(d.level - 80) < 3, `re-baselined to the new level (${d.level})`);
});

test('a flat line with one-quantum wiggles does not alarm; a jump of twenty quanta does', () => {
  const r = rng(3);
  const jumpAt = SYNTHETIC_START_MS + 3 * DAY + 2 * HOUR;
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(4, (t) => {
    const wiggle = r() < 0.03 ? 0.1 : 0;
    return Math.round((5 + wiggle + (t >= jumpAt && t < jumpAt + 5 * MIN ? 2 : 0)) * 10) / 10;
  }));
  assert.equal(raised.length, 1, `raised at ${raised.map((t) => new Date(t).toISOString())}`);
  assert.ok(raised[0]! >= jumpAt);
});

test('daily seasonality is learned: the evening peak on day 5 is usual, a night-time peak is not', () => {
  const g = gaussian(4);
  const oddAt = SYNTHETIC_START_MS + 5 * DAY + 3 * HOUR;
  const daily = (t: number) => {
    const h = (t % DAY) / HOUR;
    // A sharp peak every evening 19:00–20:00 (no ramp the recent baseline could follow).
    return h >= 19 && h < 20 ? 80 : 20;
  };
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(6, (t) => daily(t) + 2 * g() + (t >= oddAt && t < oddAt + HOUR ? 60 : 0)));
  const afterLearning = raised.filter((t) => t >= SYNTHETIC_START_MS + 4 * DAY);
  assert.equal(afterLearning.length, 1, `raised at ${afterLearning.map((t) => new Date(t).toISOString())}`);
  assert.ok(afterLearning[0]! >= oddAt && afterLearning[0]! < oddAt + 10 * MIN);
});

test('after a long gap the detector resumes without alarming on the first points', () => {
  const g = gaussian(5);
  const d = new AnomalyDetector(60);
  const outage = SYNTHETIC_START_MS + DAY;
  const points = [...minutes(3, (t) => 200 + 40 * Math.sin((t % DAY) / DAY * 2 * Math.PI) + 5 * g())]
    .filter(([t]) => t < outage || t >= outage + 9 * HOUR);
  assert.deepEqual(raises(d, points), []);
});

test('missing values and points out of order are skipped without changing the state', () => {
  const d = new AnomalyDetector(60);
  for (const [t, v] of minutes(1, () => 10)) d.update(t, v);
  const n = d.points;
  assert.equal(d.update(SYNTHETIC_START_MS + 2 * DAY, NaN).skipped, true);
  assert.equal(d.update(SYNTHETIC_START_MS, 10).skipped, true);
  assert.equal(d.points, n);
  assert.equal(d.update(SYNTHETIC_START_MS + DAY, 10).skipped, false);
});

test('the interval is the median gap, whatever the gaps and jitter', () => {
  const t = [0, 60_000, 121_000, 180_000, 3_600_000, 3_660_000, 3_719_000];
  assert.equal(inferIntervalSec(t), 60);
  assert.equal(inferIntervalSec([0]), null);
});

test('the state is a fixed number of typed-array bytes per series', () => {
  assert.equal(STATE_BYTES, 22 * 8 + 5 * (24 + 168) * 4);
  assert.throws(() => new AnomalyDetector(0), /intervalSec must be a positive number/);
});

test('on the synthetic suite the detector catches more windows than the EWMA z-score with a tenth of its false alarms', () => {
  let caught = 0, baseCaught = 0, falseAlarms = 0, baseFalse = 0, windows = 0;
  for (const s of syntheticSuite()) {
    const d = new AnomalyDetector(s.intervalSec), b = new EwmaZScore(s.intervalSec);
    const raised: number[] = [], baseRaised: number[] = [];
    let was = false;
    for (let i = 0; i < s.t.length; i++) {
      if (d.update(s.t[i]!, s.v[i]!).raised) raised.push(s.t[i]!);
      const r = b.update(s.v[i]!);
      if (r.anomaly && !was) baseRaised.push(s.t[i]!);
      was = r.anomaly;
    }
    const inWindow = (t: number) => s.windows.some((w) => t >= w.startMs && t <= w.endMs);
    windows += s.windows.length;
    caught += s.windows.filter((w) => raised.some((t) => t >= w.startMs && t <= w.endMs)).length;
    baseCaught += s.windows.filter((w) => baseRaised.some((t) => t >= w.startMs && t <= w.endMs)).length;
    falseAlarms += raised.filter((t) => !inWindow(t)).length;
    baseFalse += baseRaised.filter((t) => !inWindow(t)).length;
  }
  assert.ok(caught > baseCaught, `caught ${caught}/${windows} vs baseline ${baseCaught}`);
  assert.ok(falseAlarms * 10 < baseFalse, `false alarms ${falseAlarms} vs baseline ${baseFalse}`);
});

test('a job at the top of every hour alarms on its first day at most, then is usual; a spike at half past still raises', () => {
  const g = gaussian(6);
  const incident = SYNTHETIC_START_MS + 4 * DAY + 14 * HOUR + 30 * MIN;
  const d = new AnomalyDetector(60);
  const raised = raises(d, minutes(5, (t) => 20 + 2 * g() + ((t % HOUR) < 3 * MIN ? 30 : 0) + (t >= incident && t < incident + 10 * MIN ? 40 : 0)));
  const afterFirstDay = raised.filter((t) => t >= SYNTHETIC_START_MS + DAY);
  assert.equal(afterFirstDay.length, 1, `raised at ${afterFirstDay.map((t) => new Date(t).toISOString())}`);
  assert.ok(afterFirstDay[0]! >= incident && afterFirstDay[0]! < incident + 5 * MIN);
});
