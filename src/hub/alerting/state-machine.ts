// The per-alert state machine, pure: (stored state, verdict, now, muted?) → new state + events.
//
//            pending verdict            fire verdict
//   resolved ───────────────► pending ───────────────► firing ──── recover verdict ───► resolved
//      │  ▲                      │                       ▲  │                          (notice sent
//      │  └── recover: cleared ──┘                       │  └─ reminder every N while   if the firing
//      └──────────────── fire verdict ───────────────────┘     unacknowledged           one was)
//
// Flapping is absorbed by the verdicts themselves (N failures / M successes in a row, `for`
// durations): a fail/ok/fail sequence never yields a `fire` verdict. A maintenance window mutes
// notifications, not the record: the events are stored with `mutedBy`, and an alert still firing
// when the window ends is notified then. A resolve notice goes out only when its firing notice did.

import type { Verdict } from './judge.js';

export type AlertStatus = 'pending' | 'firing' | 'resolved';
export type EventKind = 'pending' | 'firing' | 'resolved' | 'cleared' | 'reminder' | 'acknowledged';

export interface StoredState {
  status: AlertStatus;
  /** 0 for a row that was never active. */
  episode: number;
  pendingSince: number | null;
  firingSince: number | null;
  resolvedAt: number | null;
  notified: boolean;
  lastNotifiedAt: number | null;
  acknowledgedAt: number | null;
}

export interface PlannedEvent {
  kind: EventKind;
  /** Queue a notification for this event. */
  notify: boolean;
  /** The window that muted it, when muted. */
  mutedBy: string | null;
  /** A firing notice that waited for a maintenance window to end. */
  late: boolean;
}

export interface StepResult {
  state: StoredState;
  events: PlannedEvent[];
}

export const NEVER_ACTIVE: StoredState = {
  status: 'resolved', episode: 0, pendingSince: null, firingSince: null, resolvedAt: null, notified: false, lastNotifiedAt: null, acknowledgedAt: null,
};

export interface StepInput {
  state: StoredState;
  verdict: Verdict;
  now: number;
  mutedBy: string | null;
  reminderIntervalMs: number;
}

export function step({ state, verdict, now, mutedBy, reminderIntervalMs }: StepInput): StepResult {
  const events: PlannedEvent[] = [];
  const ev = (kind: EventKind, notify: boolean, late = false) => events.push({ kind, notify: notify && !mutedBy, mutedBy: notify ? mutedBy : null, late });
  const newEpisode = (): StoredState => ({ ...NEVER_ACTIVE, episode: state.episode + 1 });

  switch (state.status) {
    case 'resolved': {
      if (verdict === 'fire') {
        const s: StoredState = { ...newEpisode(), status: 'firing', pendingSince: now, firingSince: now, notified: !mutedBy, lastNotifiedAt: mutedBy ? null : now };
        ev('firing', true);
        return { state: s, events };
      }
      if (verdict === 'pending') {
        ev('pending', false);
        return { state: { ...newEpisode(), status: 'pending', pendingSince: now }, events };
      }
      return { state, events };
    }
    case 'pending': {
      if (verdict === 'fire') {
        ev('firing', true);
        return { state: { ...state, status: 'firing', firingSince: now, notified: !mutedBy, lastNotifiedAt: mutedBy ? null : now }, events };
      }
      if (verdict === 'recover') {
        ev('cleared', false);
        return { state: { ...state, status: 'resolved', resolvedAt: now }, events };
      }
      return { state, events };
    }
    case 'firing': {
      if (verdict === 'recover') {
        // Sent even inside a maintenance window when the firing notice went out: it closes a
        // notification people already have.
        events.push({ kind: 'resolved', notify: state.notified, mutedBy: null, late: false });
        return { state: { ...state, status: 'resolved', resolvedAt: now }, events };
      }
      if (!state.notified) {
        if (mutedBy) return { state, events };
        ev('firing', true, true);
        return { state: { ...state, notified: true, lastNotifiedAt: now }, events };
      }
      if (reminderIntervalMs > 0 && state.acknowledgedAt === null && state.lastNotifiedAt !== null &&
          now - state.lastNotifiedAt >= reminderIntervalMs) {
        if (mutedBy) return { state, events };
        ev('reminder', true);
        return { state: { ...state, lastNotifiedAt: now }, events };
      }
      return { state, events };
    }
  }
}
