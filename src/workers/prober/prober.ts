// The prober actor: every health check runs on its own timer, at wall-clock multiples of its
// interval shifted by a phase derived from its URL (≤ 10 % of the interval), so checks spread out
// and a restart keeps each check's phase. There is no queue: a hung endpoint holds only its own
// probe (bounded by its timeout), never another check's.
//
//   check[i]: ticker(interval, phase(url)) ──► probeOnce (hard deadline) ──► PROBE
//
// stop(): timers stop, in-flight probes are aborted (their connections destroyed at once) and
// their results discarded — an aborted probe says nothing about the endpoint. stop() resolves
// once every probe has settled, after which nothing more is sent.

import type { Actor, ActorContext, ActorFactory, CollectorsStart } from '../../supervisor/actor.js';
import type { HealthCheckConfig } from '../../supervisor/config.js';
import type { CollectorMessage, ControlMessage } from '../../supervisor/messages.js';
import { jitterOffsetMs, startTicker, type Ticker } from '../sampler/schedule.js';
import { probeOnce, type ProbeOptions } from './probe.js';

export interface ProberTuning {
  /** Extra probe options (trusted CAs in tests, body limit). */
  probe?: Omit<ProbeOptions, 'signal' | 'timeoutMs'>;
  /** Maximum phase as a fraction of the interval. Default 0.1. */
  maxJitterFraction?: number;
}

interface CheckRunner {
  check: HealthCheckConfig;
  ticker: Ticker | null;
  inFlight: Promise<void> | null;
  skipped: number;
}

class Prober implements Actor {
  readonly name = 'prober' as const;
  private readonly runners: CheckRunner[];
  private readonly abort = new AbortController();
  private stopping: Promise<void> | null = null;

  constructor(start: CollectorsStart, private readonly ctx: ActorContext, private readonly tuning: ProberTuning) {
    this.runners = start.config.healthChecks.map((check) => ({ check, ticker: null, inFlight: null, skipped: 0 }));
  }

  async start(): Promise<void> {
    if (this.stopping) return;
    if (this.ctx.signal.aborted) {
      await this.stop();
      return;
    }
    this.ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
    for (const runner of this.runners) {
      const intervalMs = runner.check.interval * 1000;
      runner.ticker = startTicker({
        intervalMs,
        offsetMs: jitterOffsetMs(runner.check.url, intervalMs, this.tuning.maxJitterFraction ?? 0.1),
        onTick: () => this.onTick(runner),
        onSkipped: (skipped) => this.log('warn', `${skipped} probe tick(s) of ${runner.check.url} missed (event loop blocked or machine suspended)`),
      });
    }
    if (this.runners.length) {
      this.log('debug', `probing ${this.runners.length} health check(s)`, {
        checks: this.runners.map((r) => ({ url: r.check.url, interval: r.check.interval, nextAt: new Date(r.ticker!.nextTickMs!).toISOString() })),
      });
    }
  }

  handle(message: ControlMessage): void {
    // Nothing to do for COMMITTED or tailing flow control; STOP arrives as stop().
    void message;
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    for (const runner of this.runners) runner.ticker?.stop();
    this.abort.abort();
    const pending = this.runners.map((r) => r.inFlight).filter((p): p is Promise<void> => p !== null);
    this.stopping = Promise.allSettled(pending).then(() => {});
    return this.stopping;
  }

  private onTick(runner: CheckRunner): void {
    if (this.stopping) return;
    if (runner.inFlight) {
      // Only possible when timeout == interval and the endpoint hangs: the check's own tick is
      // dropped; other checks are unaffected.
      runner.skipped++;
      this.log('debug', `probe of ${runner.check.url} still running at its next tick; tick skipped`, { skipped: runner.skipped });
      return;
    }
    runner.inFlight = probeOnce(runner.check, { ...this.tuning.probe, signal: this.abort.signal })
      .then((result) => {
        if (!this.abort.signal.aborted) this.send({ type: 'PROBE', result });
      })
      .catch((err: unknown) => {
        this.log('error', `probe of ${runner.check.url} threw: ${(err as Error)?.message ?? err}`, { stack: (err as Error)?.stack });
      })
      .finally(() => {
        runner.inFlight = null;
      });
  }

  private send(message: CollectorMessage): void {
    this.ctx.send(message);
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>): void {
    this.send({ type: 'LOG', level, actor: 'prober', message, ...(context ? { context } : {}) });
  }
}

/** The prober actor with tuning (tests: trusted CAs). The agent uses `createProber`. */
export function createProberWith(tuning: ProberTuning): ActorFactory {
  return (start, ctx) => new Prober(start, ctx, tuning);
}

export const createProber: ActorFactory = createProberWith({});
