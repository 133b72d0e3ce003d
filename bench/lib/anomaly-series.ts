// Synthetic server-metric series with labelled anomaly windows, for bench/anomaly-eval.ts and the
// detector's tests. Deterministic (seeded), so figures can be compared run to run.

export interface Window { startMs: number; endMs: number }
export interface LabelledSeries {
  name: string;
  intervalSec: number;
  t: Float64Array;
  /** NaN = missing value (the row is there, the value is not). Rows absent altogether are gaps. */
  v: Float64Array;
  windows: Window[];
}

const DAY = 86_400_000, HOUR = 3_600_000, MIN = 60_000;
/** Monday 2026-01-05 00:00 UTC. */
export const SYNTHETIC_START_MS = Date.UTC(2026, 0, 5);

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Student-t with 3 degrees of freedom, scaled to unit-ish spread: heavy tails like real latency. */
function heavy(r: () => number): number {
  const z = gauss(r);
  const chi = gauss(r) ** 2 + gauss(r) ** 2 + gauss(r) ** 2;
  return z / Math.sqrt(chi / 3) / Math.sqrt(3);
}

function poisson(r: () => number, lambda: number): number {
  const l = Math.exp(-lambda);
  let k = 0, p = 1;
  do { k++; p *= r(); } while (p > l && k < 1000);
  return k - 1;
}

/** Daily shape peaking at 14:00 and a quieter weekend: what human-driven load looks like. */
function seasonal(tMs: number, daily: number, weekend: number): number {
  const hourOfDay = ((tMs % DAY) / HOUR);
  const dow = Math.floor((tMs - SYNTHETIC_START_MS) / DAY) % 7; // 0 = Monday
  return daily * Math.sin(((hourOfDay - 8) / 24) * 2 * Math.PI) + (dow >= 5 ? -weekend : 0);
}

function build(name: string, intervalSec: number, days: number, seed: number,
  value: (tMs: number, r: () => number) => number, windows: Window[], keep: (tMs: number, r: () => number) => boolean = () => true): LabelledSeries {
  const r = rng(seed);
  const n = Math.floor((days * DAY) / (intervalSec * 1000));
  const t: number[] = [], v: number[] = [];
  for (let i = 0; i < n; i++) {
    const tMs = SYNTHETIC_START_MS + i * intervalSec * 1000;
    const x = value(tMs, r);
    if (!keep(tMs, r)) continue;
    t.push(tMs); v.push(x);
  }
  return { name, intervalSec, t: Float64Array.from(t), v: Float64Array.from(v), windows };
}

const at = (day: number, hour: number, minute = 0) => SYNTHETIC_START_MS + day * DAY + hour * HOUR + minute * MIN;
const win = (startMs: number, minutes: number): Window => ({ startMs, endMs: startMs + minutes * MIN });

/** The synthetic suite: every kind of trouble the detector claims to handle, and quiet series. */
export function syntheticSuite(): LabelledSeries[] {
  const out: LabelledSeries[] = [];

  // Daily + weekly seasonal CPU with spikes of 6–12 sigma.
  const spikes = [at(9, 3, 10), at(13, 14, 0), at(19, 10, 35), at(26, 21, 5), at(30, 14, 20)];
  const sizes = [12, 8, 10, 7, 9];
  out.push(build('seasonal-spikes', 300, 35, 1, (t, r) => {
    const i = spikes.findIndex((s) => t >= s && t < s + 10 * MIN);
    return 40 + seasonal(t, 15, 10) + 2 * gauss(r) + (i >= 0 ? 2 * sizes[i]! : 0);
  }, spikes.map((s) => win(s - 5 * MIN, 40))));

  // Level shifts up and down, sustained (per-minute memory use, say).
  const up = at(10, 11), down = at(20, 16, 30);
  out.push(build('level-shifts', 60, 30, 2, (t, r) =>
    100 + 5 * gauss(r) + (t >= up ? 40 : 0) + (t >= down ? -70 : 0), [win(up, 60), win(down, 60)]));

  // A trend change: a leak that climbs 2 sigma an hour for 12 hours, then holds.
  const leak = at(15, 9);
  out.push(build('trend-change', 300, 30, 3, (t, r) => {
    const h = Math.min(12, Math.max(0, (t - leak) / HOUR));
    return 50 + seasonal(t, 10, 5) + 3 * gauss(r) + 6 * h;
  }, [win(leak, 12 * 60)]));

  // A noisy flat line: constant with rare one-quantum wiggles; two real jumps.
  const jump1 = at(8, 4), jump2 = at(22, 17);
  out.push(build('noisy-flat', 60, 30, 4, (t, r) => {
    const wiggle = r() < 0.05 ? (r() < 0.5 ? 0.1 : -0.1) : 0;
    const jump = (t >= jump1 && t < jump1 + 5 * MIN) || (t >= jump2 && t < jump2 + 15 * MIN) ? 2 : 0;
    return Math.round((5 + wiggle + jump) * 10) / 10;
  }, [win(jump1, 20), win(jump2, 30)]));

  // Missing data: 10% of points lost, a 12-hour outage, then a spike and a shift.
  const outage = at(9, 6), spike = at(12, 15), shift = at(20, 2);
  out.push(build('missing-data', 60, 30, 5, (t, r) =>
    200 + seasonal(t, 40, 20) + 8 * gauss(r) + (t >= spike && t < spike + 5 * MIN ? 100 : 0) + (t >= shift ? 80 : 0),
  [win(spike, 20), win(shift, 60)], (t, r) => r() >= 0.1 && !(t >= outage && t < outage + 12 * HOUR)));

  // Error counts per minute: Poisson at 0.2/min, a burst of 8/min for 10 minutes.
  const burst = at(16, 13);
  out.push(build('error-counts', 60, 30, 6, (t, r) => poisson(r, t >= burst && t < burst + 10 * MIN ? 8 : 0.2), [win(burst, 30)]));

  // Latency with heavy tails and no incident at all: every alarm is false.
  out.push(build('heavy-tailed-quiet', 30, 30, 7, (t, r) => 120 + seasonal(t, 20, 0) + 10 * heavy(r), []));

  // Hourly data over four months (seasonality at the coarsest interval), with two spikes.
  const h1 = at(40, 15), h2 = at(95, 3);
  out.push(build('hourly', 3600, 120, 8, (t, r) =>
    1000 + seasonal(t, 300, 200) + 30 * gauss(r) + (t === h1 ? 400 : 0) + (t === h2 ? -500 : 0), [win(h1 - HOUR, 180), win(h2 - HOUR, 180)]));

  // A 10-second series (seconds-scale intervals), a noise burst and a drop to zero.
  const drop = at(5, 10), noisy = at(9, 20);
  out.push(build('fast-interval', 10, 12, 9, (t, r) => {
    if (t >= drop && t < drop + 3 * MIN) return 0;
    return 30 + seasonal(t, 5, 2) + (t >= noisy && t < noisy + 10 * MIN ? 15 : 1) * gauss(r);
  }, [win(drop, 10), win(noisy, 20)]));

  // An hourly cron job (3 minutes of +30 at the top of every hour) and one real incident at half past.
  const cronIncident = at(12, 14, 30);
  out.push(build('hourly-cron', 60, 30, 11, (t, r) =>
    20 + 2 * gauss(r) + ((t % HOUR) < 3 * MIN ? 30 : 0) + (t >= cronIncident && t < cronIncident + 10 * MIN ? 40 : 0), [win(cronIncident, 30)]));

  // Slowly drifting memory with noise (a random walk): no incident.
  let walk = 60;
  out.push(build('drifting-quiet', 60, 30, 10, (_t, r) => { walk = Math.min(95, Math.max(20, walk + 0.05 * gauss(r))); return walk + 0.3 * gauss(r); }, []));
  return out;
}
