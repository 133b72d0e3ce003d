// Tick math shared by the sampler (wall-clock aligned samples) and the prober (aligned ticks
// shifted by a per-URL phase). The functions are pure; `startTicker` is the one thin timer loop.

/**
 * The first instant strictly after `nowMs` that is a multiple of `intervalMs` past `offsetMs`
 * (Unix epoch based, so a 60 s interval lands on :00 of every minute, in every time zone whose
 * offset is whole minutes).
 */
export function nextAlignedTick(nowMs: number, intervalMs: number, offsetMs = 0): number {
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0 (got ${intervalMs})`);
  const k = Math.floor((nowMs - offsetMs) / intervalMs) + 1;
  return k * intervalMs + offsetMs;
}

/** 32-bit FNV-1a over the UTF-16 code units of `text`: small, stable across Node versions. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A phase in [0, maxFraction × intervalMs), derived from `key` alone, so a restart (or a second
 * agent with the same config) keeps the same phase while different URLs spread out.
 */
export function jitterOffsetMs(key: string, intervalMs: number, maxFraction = 0.1): number {
  const span = Math.floor(intervalMs * maxFraction);
  if (span <= 0) return 0;
  return fnv1a32(key) % span;
}

export interface TickerOptions {
  intervalMs: number;
  offsetMs?: number;
  /** Called at each tick with the tick's wall-clock time. Not awaited: the callee guards overlap. */
  onTick: (tickMs: number) => void;
  /** Called when ticks were missed (event loop blocked, machine suspended): they are not replayed. */
  onSkipped?: (skipped: number, tickMs: number) => void;
  /** Wall clock, replaceable in tests. */
  now?: () => number;
}

export interface Ticker {
  /** The next tick that will fire (wall clock ms), or null once stopped. */
  readonly nextTickMs: number | null;
  stop(): void;
}

/**
 * Fires `onTick` at every aligned tick until stopped. Timers run on the monotonic clock while
 * ticks are wall-clock instants, so each timer is re-armed from the current wall clock: a timer
 * that fires early (wall clock stepped back) waits out the rest, a late one skips the missed
 * ticks instead of bursting to catch up.
 */
export function startTicker(options: TickerOptions): Ticker {
  const now = options.now ?? Date.now;
  const offset = options.offsetMs ?? 0;
  const interval = options.intervalMs;
  let timer: NodeJS.Timeout | null = null;
  let next: number | null = nextAlignedTick(now(), interval, offset);
  const arm = () => {
    if (next === null) return;
    timer = setTimeout(fire, Math.max(0, next - now()));
  };
  const fire = () => {
    timer = null;
    if (next === null) return;
    const t = now();
    if (t < next - 5) {
      arm();
      return;
    }
    const tick = next;
    // The latest tick not in the future: when the loop was blocked past several ticks, report the
    // gap once and sample now, stamped with the most recent tick.
    const latest = nextAlignedTick(t, interval, offset) - interval;
    const effective = Math.max(tick, latest);
    const skipped = Math.round((effective - tick) / interval);
    next = nextAlignedTick(Math.max(t, effective), interval, offset);
    if (skipped > 0) options.onSkipped?.(skipped, effective);
    arm();
    options.onTick(effective);
  };
  arm();
  return {
    get nextTickMs() {
      return next;
    },
    stop() {
      next = null;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
