// PostgreSQL COPY text format, encoded by hand because it is the hot path and simple:
// columns separated by TAB, rows by LF, NULL as \N, and backslash, TAB, LF and CR escaped.
// PostgreSQL text cannot hold NUL (U+0000): it is removed here, and callers flag the row.
// Lone UTF-16 surrogates cannot be encoded in UTF-8: Buffer.from() writes U+FFFD for them.

export type CopyValue = string | number | boolean | null | undefined | Date | string[] | Record<string, unknown>;

const NEEDS_ESCAPE = /[\\\t\n\r\u0000]/;

export function escapeCopyText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    switch (ch) {
      case '\\': out += '\\\\'; break;
      case '\t': out += '\\t'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\u0000': break;
      default: out += ch;
    }
  }
  return out;
}

/** Array literal for a text[] column: {"a","b"} with quotes and backslashes escaped. */
function arrayLiteral(items: string[]): string {
  return '{' + items.map((s) => '"' + s.replace(/\u0000/g, '').replace(/[\\"]/g, (c) => '\\' + c) + '"').join(',') + '}';
}

export function encodeCopyValue(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'string') return escapeCopyText(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return escapeCopyText(arrayLiteral(v));
  // JSONB: \u0000 is not allowed in jsonb text either, so it is dropped from the JSON text.
  return escapeCopyText(JSON.stringify(v, stripNul));
}

export function encodeCopyRow(values: CopyValue[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    if (i) line += '\t';
    line += encodeCopyValue(values[i]);
  }
  return line + '\n';
}

function stripNul(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replace(/\u0000/g, '') : value;
}
