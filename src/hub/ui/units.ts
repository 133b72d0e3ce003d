// How charts write their values: one formatter per unit (percent, bytes per second, MB, ms, counts),
// each with its usual precision and able to show more, and the axis labels built from them. An axis
// over a narrow range gets ticks closer together than the usual precision tells apart (50.5 and 51 MB
// both read "51 MB"): its labels take as many more decimals as they need to differ and be exact.
// Counts (threads, open files) have ticks at whole numbers only, so they never need decimals.
import { bytesPerSecond, fmt } from './dom.js';

/** A value in its unit, with `extra` more decimals than usual (tooltips and legends use 0). */
export type UnitFormat = ((v: number | null, extra?: number) => string) & {
  /** Whole numbers only: axis ticks are never placed between them. */
  integer?: boolean;
};

/** A fixed number of decimals and a suffix: fixed(0, ' MB')(51.2) → "51 MB". */
export const fixed = (digits: number, suffix = ''): UnitFormat => (v, extra = 0) => fmt(v, digits + extra, suffix);

export const percent = fixed(0, '%');
export const percent1 = fixed(1, '%');
export const megabytes = fixed(0, ' MB');
export const millis = fixed(0, ' ms');
export const loadAvg = fixed(2);
export const bytesRate: UnitFormat = (v, extra = 0) => bytesPerSecond(v, extra);
export const count: UnitFormat = Object.assign(fixed(0), { integer: true });

/** Tick increments of whole numbers (1, 2, 5, 10, 20, 50, …), for axes of counts. */
export const INTEGER_INCRS = Array.from({ length: 13 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

/** The most decimals an axis label gains over its unit's usual precision. */
const MAX_EXTRA = 6;

/**
 * Labels for an axis' ticks: the unit's usual precision, or more decimals until no two labels are the
 * same and none is rounded off (ticks 20, 20.25, 20.5 ms read "20.00 ms", "20.25 ms", "20.50 ms", not
 * "20.0", "20.3", "20.5"). A label is exact when one more decimal only appends a zero.
 */
export function tickLabels(ticks: readonly number[], unit: UnitFormat): string[] {
  let labels = ticks.map((v) => unit(v));
  for (let extra = 0; extra < MAX_EXTRA; extra++) {
    const finer = ticks.map((v) => unit(v, extra + 1));
    if (new Set(labels).size === labels.length && labels.every((l, i) => parseFloat(l) === parseFloat(finer[i]!))) break;
    labels = finer;
  }
  return labels;
}
