// Hosts the collector actors (sampler, prober, tailer) in whichever thread it runs in:
// the main thread (placement: compact) or the collectors worker (placement: isolated).
// It is the only place that knows which actors exist; actors know only ActorContext.

import type { Actor, ActorFactory, CollectorsStart } from './actor.js';
import { assertNever, type ActorName, type CollectorMessage, type ControlMessage } from './messages.js';

export type CollectorName = Exclude<ActorName, 'writer'>;

export async function loadFactories(): Promise<Record<CollectorName, ActorFactory>> {
  const [{ createSampler }, { createProber }, { createTailer }] = await Promise.all([
    import('../workers/sampler/sampler.js'),
    import('../workers/prober/prober.js'),
    import('../workers/tailer/tailer.js'),
  ]);
  return { sampler: createSampler, prober: createProber, tailer: createTailer };
}

export class CollectorHost {
  private readonly actors = new Map<CollectorName, Actor>();
  private readonly abort = new AbortController();
  private stopping: Promise<void> | null = null;

  constructor(private readonly send: (message: CollectorMessage) => void) {}

  async start(start: CollectorsStart, only?: CollectorName[]): Promise<void> {
    const factories = await loadFactories();
    const names: CollectorName[] = only ?? ['sampler', 'prober', 'tailer'];
    for (const name of names) {
      // Don't start actors with nothing to do: no checks → no prober; no files → no tailer.
      if (name === 'prober' && start.config.healthChecks.length === 0) continue;
      if (name === 'tailer' && start.config.logFiles.length === 0) continue;
      await this.startOne(name, factories[name], start);
    }
  }

  private async startOne(name: CollectorName, factory: ActorFactory, start: CollectorsStart): Promise<void> {
    const actor = factory(start, {
      signal: this.abort.signal,
      send: (message) => {
        try { this.send(message); } catch (err) { this.send({ type: 'ERROR', actor: name, message: (err as Error).message }); }
      },
    });
    this.actors.set(name, actor);
    try {
      await actor.start();
      this.send({ type: 'READY', actor: name });
    } catch (err) {
      this.send({ type: 'ERROR', actor: name, message: `failed to start: ${(err as Error).message}`, stack: (err as Error).stack });
    }
  }

  handle(message: ControlMessage): void {
    switch (message.type) {
      case 'COMMITTED':
      case 'PAUSE_TAILING':
      case 'RESUME_TAILING':
        this.actors.get('tailer')?.handle(message);
        break;
      case 'STOP':
        void this.stop();
        break;
      default:
        assertNever(message, 'CollectorHost.handle');
    }
  }

  /** Stops every actor (they hand over what they hold), then reports STOPPED for each. Idempotent. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.abort.abort();
        await Promise.all([...this.actors].map(async ([name, actor]) => {
          try { await actor.stop(); } catch (err) { this.send({ type: 'ERROR', actor: name, message: `stop failed: ${(err as Error).message}` }); }
          this.send({ type: 'STOPPED', actor: name });
        }));
      })();
    }
    return this.stopping;
  }

  get actorNames(): CollectorName[] {
    return [...this.actors.keys()];
  }
}
