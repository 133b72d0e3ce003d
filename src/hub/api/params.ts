// Query-string parsing shared by the API endpoints. Pure: no I/O. Every value that reaches SQL goes
// through here and then into a bind parameter; a bad value becomes a 400 with a message naming it.

export class BadRequest extends Error {
  readonly status = '400 Bad Request';
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A vps or app name: any printable text up to 256 characters (it is only ever a bind parameter). */
export function optionalName(query: URLSearchParams, key: string): string | null {
  const v = query.get(key);
  if (v === null || v === '') return null;
  if (v.length > 256 || CONTROL.test(v)) throw new BadRequest(`${key} must be at most 256 printable characters`);
  return v;
}

export function requiredName(query: URLSearchParams, key: string): string {
  const v = optionalName(query, key);
  if (v === null) throw new BadRequest(`${key} is required`);
  return v;
}

/** The times a parameter may name: what JavaScript, PostgreSQL and ISO-8601 (4-digit years) all agree on. */
const MIN_TIME_MS = Date.UTC(1970, 0, 1);
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const ISO_TIME = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?$/i;

/** ISO-8601 (with a time zone or UTC) or epoch milliseconds, from 1970 to year 9999. */
export function parseTime(value: string, key: string): Date {
  const ms = /^\d{10,14}$/.test(value) ? Number(value) : ISO_TIME.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
    throw new BadRequest(`${key} must be an ISO-8601 time or epoch milliseconds from 1970 to 9999 (got ${JSON.stringify(value.slice(0, 40))})`);
  }
  return new Date(ms);
}

/** An optional time parameter (see parseTime). */
export function optionalTime(query: URLSearchParams, key: string): Date | null {
  const v = query.get(key);
  return v === null || v === '' ? null : parseTime(v, key);
}

/** A row id: an integer from 1 to 2^53 − 1 (every id of a bigint column the hub will meet), or null when absent. */
export function idParam(query: URLSearchParams, key: string): number | null {
  const v = query.get(key);
  if (v === null || v === '') return null;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new BadRequest(`${key} must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
  return n;
}

/** One of a fixed set of words (never a lookup in an object: `constructor` or `__proto__` are not choices). */
export function choiceParam<T extends string>(query: URLSearchParams, key: string, choices: readonly T[], fallback: T): T {
  const v = query.get(key);
  if (v === null || v === '') return fallback;
  if (!(choices as readonly string[]).includes(v)) throw new BadRequest(`${key} must be one of ${choices.join(', ')}`);
  return v as T;
}

export interface TimeRange {
  from: Date;
  to: Date;
}

/**
 * from/to with defaults (to = now, from = to − defaultSpanMs); from must precede to and the span
 * stay within maxSpanMs.
 */
export function timeRange(query: URLSearchParams, defaultSpanMs: number, maxSpanMs = 400 * 86_400_000): TimeRange {
  const toRaw = query.get('to');
  const fromRaw = query.get('from');
  const to = toRaw ? parseTime(toRaw, 'to') : new Date();
  const from = fromRaw ? parseTime(fromRaw, 'from') : new Date(to.getTime() - defaultSpanMs);
  if (from.getTime() >= to.getTime()) throw new BadRequest('from must be earlier than to');
  if (to.getTime() - from.getTime() > maxSpanMs) throw new BadRequest(`the range from…to must not exceed ${Math.round(maxSpanMs / 86_400_000)} days`);
  return { from, to };
}

/** A positive integer within [min, max], or the default when absent. */
export function intParam(query: URLSearchParams, key: string, min: number, max: number, fallback: number | null): number | null {
  const v = query.get(key);
  if (v === null || v === '') return fallback;
  if (!/^\d{1,12}$/.test(v)) throw new BadRequest(`${key} must be an integer from ${min} to ${max}`);
  const n = Number(v);
  if (n < min || n > max) throw new BadRequest(`${key} must be an integer from ${min} to ${max}`);
  return n;
}

/**
 * Bucket width in seconds: the requested step, widened so that the range yields at most maxPoints
 * buckets, and never below minStep.
 */
export function bucketSeconds(range: TimeRange, requestedStep: number | null, maxPoints: number, minStep: number): number {
  const spanS = (range.to.getTime() - range.from.getTime()) / 1000;
  const needed = Math.ceil(spanS / maxPoints);
  return Math.max(minStep, requestedStep ?? 0, needed);
}

/** Rejects parameters the endpoint does not know (a typo should not silently widen a query). */
export function rejectUnknown(query: URLSearchParams, known: readonly string[], prefixes: readonly string[] = []): void {
  for (const key of query.keys()) {
    if (known.includes(key) || prefixes.some((p) => key.startsWith(p))) continue;
    throw new BadRequest(`unknown parameter ${JSON.stringify(key.slice(0, 40))} (known: ${[...known, ...prefixes.map((p) => p + '<key>')].join(', ')})`);
  }
}
