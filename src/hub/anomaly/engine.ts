// One detector per series of the fleet, and the episodes they raise: pure (no I/O, no clock).
// The tracker (tracker.ts) reads rows and stores episodes; this file decides.
//
//   point(vps, app, series, t, value) ──► detector of that series ──► episode opened / peak moved / closed
//
// Bounded: at most `maxSeries` detectors; points of further series are counted and dropped.

import { AnomalyDetector, type Basis } from './detector.js';

export interface Episode {
  vps: string;
  app: string;
  series: string;
  startedAt: number;
  /** null while open. */
  endedAt: number | null;
  /** The point furthest from its baseline so far. */
  peakAt: number;
  value: number;
  expected: number | null;
  basis: Basis;
  score: number;
}

export const ENGINE_MAX_SERIES = 100_000;

interface Tracked {
  detector: AnomalyDetector;
  open: Episode | null;
}

export class AnomalyEngine {
  private readonly series = new Map<string, Tracked>();
  /** Episodes changed since the last takeChanges(), by key. */
  private changed = new Map<string, Episode>();
  dropped = 0;

  constructor(private readonly maxSeries = ENGINE_MAX_SERIES) {}

  get size(): number { return this.series.size; }

  /** Feeds one point; `intervalSec` sizes a new series' detector (ignored for known ones). */
  point(vps: string, app: string, series: string, tMs: number, value: number, intervalSec: number): void {
    const key = `${vps}\u0000${app}\u0000${series}`;
    let tracked = this.series.get(key);
    if (!tracked) {
      if (this.series.size >= this.maxSeries) { this.dropped++; return; }
      tracked = { detector: new AnomalyDetector(intervalSec), open: null };
      this.series.set(key, tracked);
    }
    const r = tracked.detector.update(tMs, value);
    if (r.skipped) return;
    const expected = Number.isFinite(r.expected) ? r.expected : null;
    if (r.raised) {
      tracked.open = { vps, app, series, startedAt: tMs, endedAt: null, peakAt: tMs, value, expected, basis: r.basis, score: r.score };
      this.changed.set(`${key}\u0000${tMs}`, tracked.open);
      return;
    }
    const open = tracked.open;
    if (!open) return;
    if (r.cleared) {
      open.endedAt = tMs;
      tracked.open = null;
    } else if (Math.abs(r.score) > Math.abs(open.score)) {
      open.peakAt = tMs; open.value = value; open.expected = expected; open.basis = r.basis; open.score = r.score;
    } else return;
    this.changed.set(`${key}\u0000${open.startedAt}`, open);
  }

  /** Open episodes now (copies). */
  openEpisodes(): Episode[] {
    const out: Episode[] = [];
    for (const t of this.series.values()) if (t.open) out.push({ ...t.open });
    return out;
  }

  /** Episodes opened, moved or closed since the last call (copies), and forgets them. */
  takeChanges(): Episode[] {
    const out = [...this.changed.values()].map((e) => ({ ...e }));
    this.changed = new Map();
    return out;
  }

  /** The detector of a series, for incident context (its seasonal expectation). */
  detector(vps: string, app: string, series: string): AnomalyDetector | undefined {
    return this.series.get(`${vps}\u0000${app}\u0000${series}`)?.detector;
  }
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * One line for a person: "health_latency_ms 840 is 8.4× its usual for Tuesday 14:00 (expected 100)".
 * Times are UTC, as the detector's seasonal bins are.
 */
export function describeEpisode(e: Pick<Episode, 'series' | 'value' | 'expected' | 'basis' | 'score' | 'peakAt'>): string {
  const at = new Date(e.peakAt);
  const hour = `${String(at.getUTCHours()).padStart(2, '0')}:00`;
  const usual = e.basis === 'weekly' ? `its usual for ${DAYS[at.getUTCDay()]} ${hour} UTC`
    : e.basis === 'daily' ? `its usual for ${hour} UTC` : 'its usual over the last hour';
  const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100);
  const sigmas = `${Math.round(Math.abs(e.score) * 10) / 10}σ ${e.score >= 0 ? 'above' : 'below'}`;
  if (e.expected === null) return `${e.series} ${round(e.value)} is unusual (${sigmas})`;
  const ratio = e.expected > 0 && e.value > 0 ? e.value / e.expected : NaN;
  const how = ratio >= 1.5 ? `${round(ratio)}× ${usual}`
    : ratio > 0 && ratio <= 1 / 1.5 ? `${round(1 / ratio)}× below ${usual}`
    : `${e.score >= 0 ? 'above' : 'below'} ${usual}`;
  return `${e.series} ${round(e.value)} is ${how} (expected ${round(e.expected)}, ${sigmas})`;
}
