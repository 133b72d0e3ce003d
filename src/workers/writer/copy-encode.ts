// PostgreSQL COPY text format, encoded by hand because it is the hot path and simple:
// columns separated by TAB, rows by LF, NULL as \N, and backslash, TAB, LF and CR escaped (so a
// `\.` line, which would end COPY data, can never appear: its backslash is doubled).
//
// What PostgreSQL cannot store is made storable here, never left to fail a whole batch:
// - NUL (U+0000) is not allowed in text or jsonb: it is removed, and `nulRemoved` tells the caller to
//   flag the row (`nul_removed` in log_entries.flags).
// - Lone UTF-16 surrogates cannot be encoded in UTF-8: Buffer.from() writes U+FFFD for them in text;
//   in JSON, JSON.stringify would write a `\udxxx` escape that jsonb rejects, so they become U+FFFD.
// - jsonb nesting deeper than MAX_JSON_DEPTH is replaced by a marker string (the server's parser
//   recurses, and the batch would fail on stack depth).
// - Non-finite numbers, values out of range for real/integer columns, and unparseable timestamps
//   become NULL (timestamps: the caller's fallback), so a bad sample cannot poison a batch.

export type CopyValue = string | number | boolean | null | undefined | Date | string[] | Record<string, unknown>;

export const MAX_JSON_DEPTH = 200;

const NEEDS_ESCAPE = /[\\\t\n\r\u0000]/;
const ESCAPES = /[\\\t\n\r\u0000]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\u0000': '' };

export function escapeCopyText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(ESCAPES, (ch) => ESCAPED[ch]!);
}

/** Array literal for a text[] column: {"a","b"} with quotes and backslashes escaped. */
function arrayLiteral(items: string[]): string {
  return '{' + items.map((s) => '"' + String(s).replace(/\u0000/g, '').replace(/[\\"]/g, (c) => '\\' + c) + '"').join(',') + '}';
}

// JSON.stringify escapes lone surrogates as \udxxx (well-formed JSON.stringify) and NUL as \u0000:
// both are rejected by jsonb. Matching the escapes in the output finds them without walking the value.
const JSON_UNSTORABLE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function cleanString(s: string): string {
  return s.replace(/\u0000/g, '').replace(LONE_SURROGATE, '\ufffd');
}

function sanitizeJson(value: unknown, depth: number, seen: Set<object>): unknown {
  if (typeof value === 'string') return cleanString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_JSON_DEPTH) return `[nested deeper than ${MAX_JSON_DEPTH} levels]`;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    const withToJson = value as { toJSON?: () => unknown };
    if (typeof withToJson.toJSON === 'function') return sanitizeJson(withToJson.toJSON(), depth, seen);
    if (Array.isArray(value)) return value.map((v) => sanitizeJson(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[cleanString(k)] = sanitizeJson(v, depth + 1, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

function depthExceeds(value: unknown, limit: number): boolean {
  // Iterative, so a hostile depth cannot overflow our own stack; bounded, so a shared-reference
  // graph cannot make it explode (such values take the careful path).
  const stack: Array<[unknown, number]> = [[value, 0]];
  let budget = 1_000_000;
  while (stack.length) {
    if (--budget < 0) return true;
    const [v, d] = stack.pop()!;
    if (d > limit) return true;
    for (const child of Object.values(v as Record<string, unknown>)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}

/** JSON text that jsonb accepts. `nulRemoved` is set when a NUL had to be dropped. */
export function jsonForPg(value: unknown): { text: string; nulRemoved: boolean } {
  let text: string | undefined;
  let careful = false;
  try {
    careful = value !== null && typeof value === 'object' && depthExceeds(value, MAX_JSON_DEPTH);
    if (!careful) text = JSON.stringify(value);
  } catch {
    careful = true; // BigInt, a throwing getter or toJSON: take the careful path
  }
  if (!careful) {
    if (text === undefined) return { text: 'null', nulRemoved: false };
    if (!JSON_UNSTORABLE.test(text)) return { text, nulRemoved: false };
  }
  const nulRemoved = containsNul(value);
  try {
    const out = JSON.stringify(sanitizeJson(value, 0, new Set()), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return { text: out ?? 'null', nulRemoved };
  } catch (err) {
    return { text: JSON.stringify({ unserializable: cleanString(String((err as Error)?.message ?? err)) }), nulRemoved };
  }
}

function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  let budget = 100_000;
  while (stack.length && budget-- > 0) {
    const v = stack.pop();
    if (typeof v === 'string') { if (v.includes('\u0000')) return true; continue; }
    if (v === null || typeof v !== 'object') continue;
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (k.includes('\u0000')) return true;
      stack.push(child);
    }
  }
  return false;
}

export function encodeCopyValue(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'string') return escapeCopyText(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '\\N' : v.toISOString();
  if (Array.isArray(v)) return escapeCopyText(arrayLiteral(v));
  return escapeCopyText(jsonForPg(v).text);
}

export function encodeCopyRow(values: CopyValue[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    if (i) line += '\t';
    line += encodeCopyValue(values[i]);
  }
  return line + '\n';
}

/** A `real` column: finite and within float4 range, else null. */
export function real(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 3.4e38 ? v : null;
}

/** A `double precision` column. */
export function double(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** An `integer` column. */
export function int4(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? v : null;
}

/**
 * A timestamptz value PostgreSQL will accept, as ISO-8601 UTC, or null when `v` is not a usable
 * timestamp (unparseable, or outside years 1–9999, which keeps clear of every server limit).
 */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

export function timestamp(v: string | null | undefined): string | null {
  if (typeof v !== 'string' || !v) return null;
  // The common case (what the parser produces): already ISO-8601 UTC, years 1000–9999.
  if (ISO_UTC.test(v) && v[0] !== '0' && !Number.isNaN(Date.parse(v))) return v;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  const d = new Date(t);
  const year = d.getUTCFullYear();
  if (year < 1 || year > 9999) return null;
  return d.toISOString();
}

/** True when any string in a value (keys included) holds a NUL. */
export function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  return value !== null && typeof value === 'object' ? containsNul(value) : false;
}
