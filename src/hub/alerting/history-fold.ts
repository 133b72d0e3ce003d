// Folding flaps in the alert history, pure (no imports but types; the dashboard bundles it too).
// A flaky check that fails once and recovers leaves a pending and a cleared event each time: the
// state machine holds it back (nothing is sent) but the history fills with them. Each run of an
// alert's pending/cleared events, unbroken by another event of that alert, becomes one row.
import type { AlertEvent } from '../api/types.js';

export interface FlapRun {
  kind: 'flaps';
  alertId: number;
  rule: string;
  vps: string;
  app: string;
  subject: string;
  /** Episodes that went pending and cleared without firing (held back, nothing sent). */
  flaps: number;
  /** Events folded into this row. */
  events: number;
  /** Oldest and newest folded event (ISO). */
  from: string;
  to: string;
  /** The newest folded event is `pending`: the alert may still fire. */
  stillPending: boolean;
  summary: string;
}

export type HistoryRow = { kind: 'event'; event: AlertEvent } | FlapRun;

const isFlapEvent = (e: AlertEvent) => e.kind === 'pending' || e.kind === 'cleared';

/** `events` newest first (as the API sends them); runs of at least `minEvents` events are folded. */
export function foldFlaps(events: readonly AlertEvent[], minEvents = 3): HistoryRow[] {
  // Pass 1: number the runs. A run stays open per alert until another kind of event of that alert.
  const runOf: number[] = [];
  const sizes: number[] = [];
  const open = new Map<number, number>();
  for (const e of events) {
    if (!isFlapEvent(e)) { open.delete(e.alertId); runOf.push(-1); continue; }
    let run = open.get(e.alertId);
    if (run === undefined) { run = sizes.length; sizes.push(0); open.set(e.alertId, run); }
    sizes[run]!++;
    runOf.push(run);
  }
  // Pass 2: a folded run appears where its newest event was.
  const rows: HistoryRow[] = [];
  const folded = new Map<number, FlapRun>();
  events.forEach((e, i) => {
    const run = runOf[i]!;
    if (run < 0 || sizes[run]! < minEvents) { rows.push({ kind: 'event', event: e }); return; }
    let row = folded.get(run);
    if (!row) {
      row = { kind: 'flaps', alertId: e.alertId, rule: e.rule, vps: e.vps, app: e.app, subject: e.subject, flaps: 0, events: 0,
        from: e.timestamp, to: e.timestamp, stillPending: e.kind === 'pending', summary: e.summary };
      folded.set(run, row);
      rows.push(row);
    }
    row.events++;
    if (e.kind === 'cleared') row.flaps++;
    row.from = e.timestamp;
  });
  return rows;
}
