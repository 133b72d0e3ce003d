// `timestamp,value` CSV in, `timestamp,value,score,anomaly` CSV out: the parsing and the run that
// `observ anomaly detect` and the evaluation share, so both score exactly what the hub would.
//
// The interval is inferred from the first INFER_ROWS rows (median gap), then rows stream through one
// detector: memory stays bounded whatever the file's length.

import { ObservError } from '../../errors.js';
import { AnomalyDetector, inferIntervalSec, type DetectorTuning, DEFAULT_TUNING } from './detector.js';

/** Rows read before the interval is inferred and scoring starts. */
export const INFER_ROWS = 2000;

export interface CsvPoint {
  /** 1-based line number in the input (the header is line 1). */
  line: number;
  /** The timestamp as written, echoed in the output. */
  timestampText: string;
  tMs: number;
  /** The value as written ('' for missing), echoed in the output. */
  valueText: string;
  /** NaN when the value is missing (an empty field). */
  value: number;
}

function inputError(line: number, message: string): ObservError {
  return new ObservError('OBS_ERR_ANOMALY_INPUT', `line ${line}: ${message}`);
}

// ISO 8601 with a date and a time (`T` or space), optional seconds fraction and zone; no zone = UTC.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Milliseconds since the epoch, or NaN when the text is not a timestamp this reader accepts. */
export function parseTimestamp(text: string): number {
  const m = TIMESTAMP.exec(text);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return NaN;
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, second, frac ? Math.round(Number(frac) * 1000) : 0);
  if (new Date(ms).getUTCDate() !== day) return NaN; // 2026-02-30
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms;
}

function unquote(field: string): string {
  const f = field.trim();
  return f.length >= 2 && f.startsWith('"') && f.endsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f;
}

/**
 * Parses CSV lines (header first) into points, checking each row: two fields, a timestamp this reader
 * accepts, a number or an empty value, timestamps strictly increasing. Errors name the line and field.
 */
export class CsvPointReader {
  private line = 0;
  private lastMs = -Infinity;
  private sawHeader = false;

  /** Returns the point of a data line, null for the header or a blank line. */
  read(text: string): CsvPoint | null {
    const line = ++this.line;
    const raw = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (!this.sawHeader) {
      const header = raw.replace(/^\uFEFF/, '').split(',').map((f) => unquote(f).toLowerCase());
      if (header.length !== 2 || header[0] !== 'timestamp' || header[1] !== 'value') {
        throw inputError(line, `the header must be "timestamp,value" (got ${JSON.stringify(raw.slice(0, 80))})`);
      }
      this.sawHeader = true;
      return null;
    }
    if (raw.trim() === '') return null;
    const fields = raw.split(',');
    if (fields.length !== 2) throw inputError(line, `expected 2 fields (timestamp,value), got ${fields.length}`);
    const timestampText = unquote(fields[0]!), valueText = unquote(fields[1]!);
    const tMs = parseTimestamp(timestampText);
    if (Number.isNaN(tMs)) throw inputError(line, `timestamp ${JSON.stringify(timestampText)} is not ISO 8601 or YYYY-MM-DD HH:MM:SS`);
    if (tMs <= this.lastMs) throw inputError(line, `timestamp ${timestampText} is not after the previous row's`);
    this.lastMs = tMs;
    let value = NaN;
    if (valueText !== '') {
      value = Number(valueText);
      if (!Number.isFinite(value)) throw inputError(line, `value ${JSON.stringify(valueText.slice(0, 40))} is not a number`);
    }
    return { line, timestampText, tMs, valueText, value };
  }

  /** Throws when the input ended before a header. */
  end(): void {
    if (!this.sawHeader) throw inputError(this.line + 1, 'the input is empty: expected the header "timestamp,value"');
  }
}

export interface ScoredPoint extends CsvPoint {
  score: number;
  anomaly: boolean;
  expected: number;
}

export interface DetectRunOptions {
  /** Seconds between points; inferred from the first INFER_ROWS rows when absent. */
  intervalSec?: number;
  tuning?: Readonly<DetectorTuning>;
}

/**
 * Scores lines of `timestamp,value` CSV, yielding each data row once it is scored. The first rows are
 * held until the interval is known (at most INFER_ROWS).
 */
export async function* detectLines(lines: AsyncIterable<string> | Iterable<string>, options: DetectRunOptions = {}): AsyncGenerator<ScoredPoint> {
  const reader = new CsvPointReader();
  const held: CsvPoint[] = [];
  let detector: AnomalyDetector | null = null;
  const start = (): AnomalyDetector => {
    const interval = options.intervalSec ?? inferIntervalSec(held.map((p) => p.tMs)) ?? 60;
    return new AnomalyDetector(interval, options.tuning ?? DEFAULT_TUNING);
  };
  const score = (d: AnomalyDetector, p: CsvPoint): ScoredPoint => {
    const r = d.update(p.tMs, p.value);
    return { ...p, score: r.skipped ? NaN : r.score, anomaly: r.anomaly && !r.skipped, expected: r.expected };
  };
  for await (const text of lines) {
    const p = reader.read(text);
    if (!p) continue;
    if (detector) { yield score(detector, p); continue; }
    held.push(p);
    if (held.length >= INFER_ROWS) {
      detector = start();
      for (const h of held.splice(0)) yield score(detector, h);
    }
  }
  reader.end();
  if (!detector && held.length) {
    detector = start();
    for (const h of held.splice(0)) yield score(detector, h);
  }
}

/** One output row (no newline). A missing value keeps its row, with empty score and anomaly 0. */
export function formatScored(p: ScoredPoint): string {
  const score = Number.isNaN(p.score) ? '' : String(Math.round(p.score * 1000) / 1000);
  return `${p.timestampText},${p.valueText},${score},${p.anomaly ? 1 : 0}`;
}

export const OUTPUT_HEADER = 'timestamp,value,score,anomaly';
