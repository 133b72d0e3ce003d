// A streaming anomaly detector for one series: pure, no I/O, no look-ahead. Each point is scored only
// from the state the points before it left, then folded into that state.
//
//   point ──► score against three baselines ──► the smallest |z| wins ──► hysteresis ──► raised?
//               recent   (robust level/scale, ~1 h)      "unusual against the last hour,
//               daily    (24 hour-of-day bins)             and against this hour of the day,
//               weekly   (168 hour-of-week bins)           and against this hour of the week"
//
// Why the smallest: a value is anomalous only if no baseline that has learned enough finds it usual.
// The morning ramp is usual for the daily profile; Monday 09:00 is usual for the weekly one; a new
// level, once sustained, becomes usual for the recent baseline (it re-baselines instead of alarming
// forever). The price is sensitivity: a spike must stand out against all of them.
//
// Robustness: levels and scales are Huber-clipped exponentially weighted means (a point far out moves
// them by at most a few scales), scales are mean absolute deviations turned into sigmas (×1.25), and the
// scale never drops below a floor: half the typical size of a nonzero step between consecutive points,
// and a small share of the series' magnitude — so a near-constant series does not alarm on tiny wiggles.
//
// State: one Float64Array of scalars and one Float32Array of seasonal bins per series; nothing else is
// allocated per point (update() returns one reused result object).

/** Tuning, the same for every series (documented in docs/anomaly.md). Times are in seconds. */
export interface DetectorTuning {
  /** Memory of the recent baseline. */
  recentSec: number;
  /** Bounds on the recent baseline's memory in points, whatever the interval. */
  recentMinPoints: number;
  recentMaxPoints: number;
  /** Points (in recent memories) before the recent baseline may score. */
  warmupMemories: number;
  /** Points before any alarm, at least. */
  warmupMinPoints: number;
  /** Huber clip, in sigmas: how far one point may pull a level or scale. */
  clipSigmas: number;
  /** |z| at which one point raises on its own, if points are at least spikeMinIntervalSec apart (a
   *  single 30-second point is noise; a single hourly one is an hour). */
  spikeSigmas: number;
  spikeMinIntervalSec: number;
  /** |z| that counts towards `raiseCount` of the last `raiseWindow` points. */
  raiseSigmas: number;
  raiseCount: number;
  raiseWindow: number;
  /** |z| below which a point is calm; `clearPoints` calm points in a row clear a raised series. */
  clearSigmas: number;
  clearPoints: number;
  /** A run of points this long (in recent memories) on one side, out past raiseSigmas, is a new level. */
  shiftMemories: number;
  /** Days and weeks a seasonal bin remembers. */
  dailyMemoryVisits: number;
  weeklyMemoryVisits: number;
  /** Days (weeks) of data in a bin before it may score. */
  dailyReadyVisits: number;
  weeklyReadyVisits: number;
  /** The scale floor: a share of the series' typical magnitude, and of its typical nonzero step. */
  floorOfMagnitude: number;
  floorOfStep: number;
  /** A gap longer than this many recent memories restarts the recent baseline. */
  gapMemories: number;
  /** A point within this many sigmas of a seasonal baseline is usual for its hour, whatever else says. */
  excuseSigmas: number;
  /** A point within this many sigmas of the range an hour usually spans (its bin's envelope: the
   *  remembered highest and lowest value of each visit) is usual too: an hourly cron job's spike. */
  envelopeSigmas: number;
  /** Offset of the wall clock the seasonal bins use, from UTC. */
  utcOffsetMinutes: number;
}

export const DEFAULT_TUNING: Readonly<DetectorTuning> = Object.freeze({
  recentSec: 3600,
  recentMinPoints: 8,
  recentMaxPoints: 240,
  warmupMemories: 1,
  warmupMinPoints: 12,
  clipSigmas: 3,
  spikeSigmas: 9,
  spikeMinIntervalSec: 300,
  raiseSigmas: 5,
  raiseCount: 2,
  raiseWindow: 4,
  clearSigmas: 3,
  clearPoints: 3,
  shiftMemories: 0.5,
  dailyMemoryVisits: 7,
  weeklyMemoryVisits: 4,
  dailyReadyVisits: 3,
  weeklyReadyVisits: 2,
  floorOfMagnitude: 0.01,
  floorOfStep: 0.5,
  gapMemories: 3,
  excuseSigmas: 3,
  envelopeSigmas: 1,
  utcOffsetMinutes: 0,
});

export type Basis = 'recent' | 'daily' | 'weekly' | 'none';

/** What one point did. The object is reused by the next update(): copy what you keep. */
export interface PointResult {
  /** Signed distance from the chosen baseline in robust sigmas; 0 while nothing has learned enough. */
  score: number;
  /** The chosen baseline's expected value (NaN while nothing has learned enough). */
  expected: number;
  basis: Basis;
  /** The series is in an anomaly after this point (hysteresis applied). */
  anomaly: boolean;
  /** This point raised (false→true) or cleared (true→false) the anomaly. */
  raised: boolean;
  cleared: boolean;
  /** The point was ignored: not finite, or not after the previous point. */
  skipped: boolean;
}

// Scalar slots.
const LAST_T = 0, N = 1, LEVEL = 2, SCALE = 3, STEP = 4, LAST_X = 5, MAGNITUDE = 6, RUN_SIDE = 7, RUN_COUNT = 8,
  RUN_MEAN = 9, RAISED = 10, FLAGS = 11, CALM = 12, TOTAL = 13, STEP_N = 14, MAG_N = 15, ERR_RECENT = 16, ERR_DAY = 17,
  ERR_WEEK = 18, VISIT_BIN = 19, VISIT_MAX = 20, VISIT_MIN = 21;
const SCALARS = 22;
const DAY_BINS = 24, WEEK_BINS = 168;
// Seasonal slots: [mean, scale, count, envelope high, envelope low] × bins, daily first.
const DAY_MEAN = 0, DAY_SCALE = DAY_BINS, DAY_COUNT = 2 * DAY_BINS, DAY_HI = 3 * DAY_BINS, DAY_LO = 4 * DAY_BINS;
const WEEK_MEAN = 5 * DAY_BINS, WEEK_SCALE = WEEK_MEAN + WEEK_BINS, WEEK_COUNT = WEEK_MEAN + 2 * WEEK_BINS,
  WEEK_HI = WEEK_MEAN + 3 * WEEK_BINS, WEEK_LO = WEEK_MEAN + 4 * WEEK_BINS;
const SEASONAL = 5 * (DAY_BINS + WEEK_BINS);
/** Mean absolute deviation → standard deviation, for a normal distribution. */
const MAD_TO_SIGMA = 1.2533;
const HOUR_MS = 3_600_000;
// 1970-01-01 was a Thursday; hour-of-week 0 is Monday 00:00.
const EPOCH_WEEK_OFFSET_H = 3 * 24;

/** Bytes of typed-array state per series (exact; the object around them is extra). */
export const STATE_BYTES = SCALARS * 8 + SEASONAL * 4;

export class AnomalyDetector {
  readonly intervalSec: number;
  readonly tuning: Readonly<DetectorTuning>;
  private readonly s: Float64Array;
  private readonly b: Float32Array;
  // Derived from the interval once (numbers, not state).
  private readonly recentAlpha: number;
  private readonly warmup: number;
  private readonly shiftPoints: number;
  private readonly gapMs: number;
  private readonly pointsPerHour: number;
  private readonly magnitudeAlpha: number;
  private readonly result: PointResult = { score: 0, expected: NaN, basis: 'none', anomaly: false, raised: false, cleared: false, skipped: false };

  constructor(intervalSec: number, tuning: Readonly<DetectorTuning> = DEFAULT_TUNING) {
    if (!(intervalSec > 0) || !Number.isFinite(intervalSec)) throw new RangeError(`intervalSec must be a positive number, got ${intervalSec}`);
    this.intervalSec = intervalSec;
    this.tuning = tuning;
    this.s = new Float64Array(SCALARS);
    this.b = new Float32Array(SEASONAL);
    this.s[LAST_T] = -Infinity;
    this.s[ERR_RECENT] = NaN; this.s[ERR_DAY] = NaN; this.s[ERR_WEEK] = NaN; this.s[VISIT_BIN] = -1;
    this.b.fill(NaN, DAY_HI, DAY_LO + DAY_BINS);
    this.b.fill(NaN, WEEK_HI, WEEK_LO + WEEK_BINS);
    const recentPoints = Math.min(tuning.recentMaxPoints, Math.max(tuning.recentMinPoints, tuning.recentSec / intervalSec));
    this.recentAlpha = 1 / recentPoints;
    this.warmup = Math.max(tuning.warmupMinPoints, Math.ceil(recentPoints * tuning.warmupMemories));
    this.shiftPoints = Math.max(tuning.raiseWindow, Math.round(recentPoints * tuning.shiftMemories));
    this.gapMs = Math.max(recentPoints * tuning.gapMemories, 3) * intervalSec * 1000;
    this.pointsPerHour = Math.max(1, 3600 / intervalSec);
    this.magnitudeAlpha = 1 / Math.max(recentPoints, 86_400 / intervalSec);
  }

  /** Whether the series is in an anomaly now. */
  get anomaly(): boolean { return this.s[RAISED] === 1; }
  /** Points folded in so far. */
  get points(): number { return this.s[TOTAL]!; }

  /** The expected value for hour-of-week (and of day) at `tMs`, from the seasonal bins, if learned. */
  seasonalExpected(tMs: number): { value: number; basis: 'daily' | 'weekly' } | null {
    const week = this.weekBin(tMs), day = week % DAY_BINS;
    const b = this.b, t = this.tuning;
    if (b[WEEK_COUNT + week]! >= t.weeklyReadyVisits * this.pointsPerHour) return { value: b[WEEK_MEAN + week]!, basis: 'weekly' };
    if (b[DAY_COUNT + day]! >= t.dailyReadyVisits * this.pointsPerHour) return { value: b[DAY_MEAN + day]!, basis: 'daily' };
    return null;
  }

  /** The recent baseline's level (NaN before the first point). */
  get level(): number { return this.s[N]! > 0 ? this.s[LEVEL]! : NaN; }

  /** Score the point against what came before, then learn from it. */
  update(tMs: number, value: number): PointResult {
    const r = this.result, s = this.s, b = this.b, t = this.tuning;
    r.raised = false; r.cleared = false;
    if (!Number.isFinite(value) || !Number.isFinite(tMs) || tMs <= s[LAST_T]!) {
      r.skipped = true; r.score = 0; r.expected = NaN; r.basis = 'none'; r.anomaly = s[RAISED] === 1;
      return r;
    }
    r.skipped = false;
    const gap = tMs - s[LAST_T]!;
    if (gap > this.gapMs && s[N]! > 0) {
      // Long gap: the recent baseline is stale; the seasonal bins still know the usual for this hour.
      s[N] = 0; s[RUN_COUNT] = 0; s[RUN_SIDE] = 0;
    }
    const floor = this.floor();
    const week = this.weekBin(tMs), day = week % DAY_BINS;

    // --- score: against the baseline with the best recent record (smallest mean absolute error), unless
    // a seasonal baseline finds the point usual (within excuseSigmas): then against that one.
    let bestZ = 0, bestExpected = NaN, basis: Basis = 'none', bestError = Infinity;
    let recentZ = NaN, excusedZ = NaN, excusedExpected = NaN, excusedBasis: Basis = 'none';
    if (s[N]! >= this.warmup) {
      recentZ = (value - s[LEVEL]!) / (MAD_TO_SIGMA * Math.max(s[SCALE]!, floor));
      bestZ = recentZ; bestExpected = s[LEVEL]!; basis = 'recent'; bestError = Number.isNaN(s[ERR_RECENT]!) ? Infinity : s[ERR_RECENT]!;
    }
    // Once this hour of the week has learned enough, it alone may excuse: the daily bins mix weekdays
    // with weekends, so "usual for 14:00" would excuse a Sunday spike to a Monday's level.
    const weekReady = b[WEEK_COUNT + week]! >= t.weeklyReadyVisits * this.pointsPerHour;
    const dayReady = b[DAY_COUNT + day]! >= t.dailyReadyVisits * this.pointsPerHour;
    const dayExpected = b[DAY_MEAN + day]!;
    if (dayReady) {
      const z = (value - dayExpected) / (MAD_TO_SIGMA * Math.max(b[DAY_SCALE + day]!, floor));
      if (s[ERR_DAY]! < bestError) { bestZ = z; bestExpected = dayExpected; basis = 'daily'; bestError = s[ERR_DAY]!; }
      if (!weekReady && Math.abs(z) < t.excuseSigmas) { excusedZ = z; excusedExpected = dayExpected; excusedBasis = 'daily'; }
    }
    const weekExpected = b[WEEK_MEAN + week]!;
    if (weekReady) {
      const z = (value - weekExpected) / (MAD_TO_SIGMA * Math.max(b[WEEK_SCALE + week]!, floor));
      if (s[ERR_WEEK]! < bestError) { bestZ = z; bestExpected = weekExpected; basis = 'weekly'; bestError = s[ERR_WEEK]!; }
      if (Math.abs(z) < t.excuseSigmas) { excusedZ = z; excusedExpected = weekExpected; excusedBasis = 'weekly'; }
    }
    // The envelope: within the range this hour usually spans (weekly once ready, else daily, which
    // may excuse from its first complete visit: a job at the top of every hour alarms for a day only).
    const envAt = weekReady ? week : day;
    if (envAt >= 0) {
      const hi = b[(weekReady ? WEEK_HI : DAY_HI) + envAt]!, lo = b[(weekReady ? WEEK_LO : DAY_LO) + envAt]!;
      if (hi === hi && lo === lo) {
        const sigma = MAD_TO_SIGMA * Math.max(b[(weekReady ? WEEK_SCALE : DAY_SCALE) + envAt]!, floor);
        const z = value > hi ? (value - hi) / sigma : value < lo ? (value - lo) / sigma : 0;
        if (Math.abs(z) < t.envelopeSigmas && !(Math.abs(excusedZ) <= Math.abs(z))) {
          excusedZ = z; excusedExpected = weekReady ? weekExpected : dayExpected; excusedBasis = weekReady ? 'weekly' : 'daily';
        }
      }
    }
    if (excusedBasis !== 'none' && Math.abs(excusedZ) < Math.abs(bestZ)) { bestZ = excusedZ; bestExpected = excusedExpected; basis = excusedBasis; }
    // Each baseline's record: its absolute error, remembered over the recent memory.
    if (s[N]! > 0) this.record(ERR_RECENT, Math.abs(value - s[LEVEL]!));
    if (dayReady) this.record(ERR_DAY, Math.abs(value - dayExpected));
    if (weekReady) this.record(ERR_WEEK, Math.abs(value - weekExpected));
    const score = basis === 'none' ? 0 : bestZ;
    r.score = score; r.expected = bestExpected; r.basis = basis;

    // --- hysteresis: a big point raises at once; smaller ones need raiseCount of the last raiseWindow.
    const abs = Math.abs(score);
    const mayAlarm = s[TOTAL]! >= this.warmup;
    let flags = ((s[FLAGS]! << 1) | (abs >= t.raiseSigmas ? 1 : 0)) & ((1 << t.raiseWindow) - 1);
    s[FLAGS] = flags;
    if (s[RAISED] === 0) {
      let hits = 0;
      for (; flags; flags &= flags - 1) hits++;
      if (mayAlarm && ((abs >= t.spikeSigmas && this.intervalSec >= t.spikeMinIntervalSec) || hits >= t.raiseCount)) { s[RAISED] = 1; s[CALM] = 0; r.raised = true; }
    } else {
      s[CALM] = abs < t.clearSigmas ? s[CALM]! + 1 : 0;
      if (s[CALM]! >= t.clearPoints) { s[RAISED] = 0; s[FLAGS] = 0; r.cleared = true; }
    }
    r.anomaly = s[RAISED] === 1;

    // --- learn.
    this.learnVisit(week, value);
    this.learnRecent(value, recentZ, floor);
    this.learnBin(DAY_MEAN + day, DAY_SCALE + day, DAY_COUNT + day, value, t.dailyMemoryVisits, dayReady, floor);
    this.learnBin(WEEK_MEAN + week, WEEK_SCALE + week, WEEK_COUNT + week, value, t.weeklyMemoryVisits, weekReady, floor);
    if (gap <= 1.5 * this.intervalSec * 1000 && s[TOTAL]! > 0) {
      const step = Math.abs(value - s[LAST_X]!);
      if (step > 0) { s[STEP_N]!++; s[STEP] = s[STEP]! + (step - s[STEP]!) * Math.max(1 / s[STEP_N]!, this.recentAlpha); }
    }
    s[MAG_N]!++;
    s[MAGNITUDE] = s[MAGNITUDE]! + (Math.abs(value) - s[MAGNITUDE]!) * Math.max(1 / s[MAG_N]!, this.magnitudeAlpha);
    s[LAST_X] = value; s[LAST_T] = tMs; s[TOTAL]!++;
    return r;
  }

  /** A baseline's record starts pessimistic (its first error plus the recent one's record), so one
   *  lucky point does not make a newly ready seasonal baseline the best. NaN = no record yet. */
  private record(slot: number, error: number): void {
    const s = this.s;
    if (Number.isNaN(s[slot]!)) s[slot] = error + (slot === ERR_RECENT || Number.isNaN(s[ERR_RECENT]!) ? 0 : s[ERR_RECENT]!);
    else s[slot] = s[slot]! + this.recentAlpha * (error - s[slot]!);
  }

  /** The least scale any baseline may use. */
  private floor(): number {
    const s = this.s, t = this.tuning;
    return Math.max(t.floorOfStep * s[STEP]!, t.floorOfMagnitude * s[MAGNITUDE]!, 1e-9);
  }

  private learnRecent(value: number, z: number, floor: number): void {
    const s = this.s, t = this.tuning;
    const n = ++s[N]!;
    if (n === 1) { s[LEVEL] = value; s[RUN_COUNT] = 0; s[RUN_SIDE] = 0; return; }
    const alpha = Math.max(1 / n, this.recentAlpha);
    const sigma = MAD_TO_SIGMA * Math.max(s[SCALE]!, floor);
    const dev = value - s[LEVEL]!;
    // While warming up nothing is clipped: the first points define the baseline.
    const warm = n > this.warmup;
    const clip = warm ? t.clipSigmas * sigma : Infinity;
    s[LEVEL] = s[LEVEL]! + alpha * Math.max(-clip, Math.min(clip, dev));
    s[SCALE] = s[SCALE]! + alpha * (Math.min(Math.abs(dev), clip) - s[SCALE]!);
    // A sustained run on one side past raiseSigmas is a new level: adopt the run's mean.
    if (warm && Math.abs(z) >= t.raiseSigmas) {
      const side = Math.sign(z);
      if (side !== s[RUN_SIDE]) { s[RUN_SIDE] = side; s[RUN_COUNT] = 0; s[RUN_MEAN] = 0; }
      const c = ++s[RUN_COUNT]!;
      s[RUN_MEAN] = s[RUN_MEAN]! + (value - s[RUN_MEAN]!) / c;
      if (c >= this.shiftPoints) {
        s[LEVEL] = s[RUN_MEAN]!;
        s[RUN_COUNT] = 0; s[RUN_SIDE] = 0;
      }
    } else {
      s[RUN_COUNT] = 0; s[RUN_SIDE] = 0;
    }
  }

  /** Tracks the current hour's highest and lowest value; when the hour changes, folds them into the
   *  envelopes of the hour left (EW over visits, like the bins' means). */
  private learnVisit(week: number, value: number): void {
    const s = this.s, b = this.b, t = this.tuning;
    const current = s[VISIT_BIN]!;
    if (current !== week) {
      if (current >= 0) {
        const day = current % DAY_BINS;
        this.foldEnvelope(DAY_HI + day, DAY_LO + day, b[DAY_COUNT + day]!, t.dailyMemoryVisits);
        this.foldEnvelope(WEEK_HI + current, WEEK_LO + current, b[WEEK_COUNT + current]!, t.weeklyMemoryVisits);
      }
      s[VISIT_BIN] = week; s[VISIT_MAX] = value; s[VISIT_MIN] = value;
      return;
    }
    if (value > s[VISIT_MAX]!) s[VISIT_MAX] = value;
    if (value < s[VISIT_MIN]!) s[VISIT_MIN] = value;
  }

  private foldEnvelope(hiAt: number, loAt: number, count: number, memoryVisits: number): void {
    const s = this.s, b = this.b;
    const hi = b[hiAt]!;
    if (hi !== hi) { b[hiAt] = s[VISIT_MAX]!; b[loAt] = s[VISIT_MIN]!; return; }
    const alpha = Math.max(this.pointsPerHour / Math.max(count, 1), 1 / memoryVisits);
    b[hiAt] = hi + alpha * (s[VISIT_MAX]! - hi);
    b[loAt] = b[loAt]! + alpha * (s[VISIT_MIN]! - b[loAt]!);
  }

  private learnBin(meanAt: number, scaleAt: number, countAt: number, value: number, memoryVisits: number, ready: boolean, floor: number): void {
    const b = this.b, t = this.tuning;
    const count = ++b[countAt]!;
    const alpha = Math.max(1 / count, 1 / (this.pointsPerHour * memoryVisits));
    if (count === 1) { b[meanAt] = value; return; }
    const dev = value - b[meanAt]!;
    const clip = ready ? t.clipSigmas * MAD_TO_SIGMA * Math.max(b[scaleAt]!, floor) : Infinity;
    b[meanAt] = b[meanAt]! + alpha * Math.max(-clip, Math.min(clip, dev));
    b[scaleAt] = b[scaleAt]! + alpha * (Math.min(Math.abs(dev), clip) - b[scaleAt]!);
  }

  /** Hour of the week, 0 = Monday 00:00 (hour of the day = this % 24). */
  private weekBin(tMs: number): number {
    const hours = Math.floor((tMs + this.tuning.utcOffsetMinutes * 60_000) / HOUR_MS);
    return (((hours - EPOCH_WEEK_OFFSET_H) % WEEK_BINS) + WEEK_BINS) % WEEK_BINS;
  }
}

/**
 * The interval of a series from its timestamps (ms, ascending): the median gap, in seconds, rounded to
 * a whole second. Gaps (missing data) and jitter do not move a median. Null with fewer than two points.
 */
export function inferIntervalSec(timestampsMs: ArrayLike<number>): number | null {
  const n = timestampsMs.length;
  if (n < 2) return null;
  // A sample of gaps is enough for a median; keeps this O(n) in time and bounded in memory.
  const stride = Math.max(1, Math.floor((n - 1) / 10_000));
  const gaps: number[] = [];
  for (let i = 1; i < n; i += stride) {
    const g = timestampsMs[i]! - timestampsMs[i - 1]!;
    if (g > 0) gaps.push(g);
  }
  if (!gaps.length) return null;
  gaps.sort((x, y) => x - y);
  return Math.max(1, Math.round(gaps[gaps.length >> 1]! / 1000));
}

/**
 * The baseline a detector must beat: a plain EWMA z-score (mean and variance over the same recent
 * memory, |z| ≥ threshold raises, below it clears). Used by the bench and the evaluation only.
 */
export class EwmaZScore {
  private mean = 0;
  private variance = 0;
  private n = 0;
  private readonly alpha: number;
  constructor(intervalSec: number, readonly threshold = 4, tuning: Readonly<DetectorTuning> = DEFAULT_TUNING) {
    this.alpha = 1 / Math.min(tuning.recentMaxPoints, Math.max(tuning.recentMinPoints, tuning.recentSec / intervalSec));
  }
  update(value: number): { score: number; anomaly: boolean } {
    if (!Number.isFinite(value)) return { score: 0, anomaly: false };
    const n = ++this.n;
    const sd = Math.sqrt(this.variance);
    const score = n > 12 && sd > 0 ? (value - this.mean) / sd : 0;
    const a = Math.max(1 / n, this.alpha);
    const d = value - this.mean;
    this.mean += a * d;
    this.variance = (1 - a) * (this.variance + a * d * d);
    return { score, anomaly: Math.abs(score) >= this.threshold };
  }
}
