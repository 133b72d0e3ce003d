// Maintenance windows, pure: is this rule × vps × app muted at this instant, and by which window?
// Recurring windows are local wall-clock times in an IANA time zone (DST handled by Intl).

import type { MaintenanceWindow } from './config.js';
import { inScope } from './judge.js';

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = fmtCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric' });
    fmtCache.set(timeZone, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a time zone. */
export function zonedParts(ms: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour! % 24, minute: p.minute!, second: p.second! };
}

/** The instant at which a wall-clock time occurs in a time zone (the earlier one in a DST overlap). */
export function zonedToUtc(year: number, month: number, day: number, minuteOfDay: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minuteOfDay / 60), minuteOfDay % 60);
  let guess = wall;
  // Two corrections converge for every real offset (offsets change at most once within hours).
  for (let i = 0; i < 3; i++) {
    const p = zonedParts(guess, timeZone);
    const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const diff = asUtc - wall;
    if (diff === 0) break;
    guess -= diff;
  }
  return guess;
}

function windowActive(w: MaintenanceWindow, now: number): boolean {
  if (w.kind === 'once') return now >= w.startMs && now < w.endMs;
  // A window may have started on an earlier local day and still be running (e.g. 23:00 for 3h).
  const today = zonedParts(now, w.timezone);
  const daysBack = Math.ceil(w.durationMs / 86_400_000) + 1;
  for (let back = 0; back <= daysBack; back++) {
    const d = new Date(Date.UTC(today.year, today.month - 1, today.day - back));
    if (!w.days.includes(d.getUTCDay())) continue;
    const start = zonedToUtc(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), w.startMinute, w.timezone);
    if (now >= start && now < start + w.durationMs) return true;
  }
  return false;
}

/** Name of the first window muting this alert at `now`, or null. */
export function mutedBy(windows: readonly MaintenanceWindow[], rule: string, vps: string, app: string, now: number): string | null {
  for (const w of windows) {
    if (w.rules.length && !w.rules.includes(rule)) continue;
    if (!inScope(w.scope, vps, app)) continue;
    if (windowActive(w, now)) return w.name;
  }
  return null;
}
