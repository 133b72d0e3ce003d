// Hosts the collector actors (sampler, prober, tailer) in whichever thread it runs in:
// the main thread (placement: compact) or the collectors worker (placement: isolated).
// It is the only place that knows which actors exist; actors know only ActorContext.
//
// Liveness: while it runs, the host sends one HEARTBEAT per started actor every heartbeatIntervalMs
// from its thread's event loop. A collector stuck in a busy loop stops that loop, so the supervisor
// sees the heartbeats stop (isolated placement) and replaces the thread.
//
// Attribution: every call into an actor (factory, start, handle, stop) runs inside an
// AsyncLocalStorage scope naming the actor, so an uncaught error thrown later from one of its timers
// or promises can be traced back to it (`actorInScope()`).

import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import type { Actor, ActorFactory, CollectorsStart } from './actor.js';
import type { AgentConfig } from './config.js';
import { assertNever, type ActorName, type CollectorMessage, type ControlMessage } from './messages.js';

export type CollectorName = Exclude<ActorName, 'writer'>;

export const COLLECTOR_NAMES: readonly CollectorName[] = ['sampler', 'prober', 'tailer'];

/**
 * Test-only hook: a module path (or file: URL) whose exports named `sampler`, `prober` or `tailer`
 * (ActorFactory) replace the real actors. Read from the environment so it also reaches the
 * collectors worker and agents run as child processes; unset in production, where it costs one lookup.
 */
export const FACTORIES_ENV = 'OBSERV_ACTOR_FACTORIES';

const scope = new AsyncLocalStorage<CollectorName>();

/** The collector whose code (directly or through its timers and promises) is running now, if any. */
export function actorInScope(): CollectorName | undefined {
  return scope.getStore();
}

/** The actors a config needs: no checks → no prober; no files and no journal units → no tailer. The sampler always runs. */
export function plannedActors(config: Pick<AgentConfig, 'healthChecks' | 'logFiles'> & Partial<Pick<AgentConfig, 'journalUnits'>>): CollectorName[] {
  const tails = config.logFiles.length > 0 || (config.journalUnits?.length ?? 0) > 0;
  return COLLECTOR_NAMES.filter((name) =>
    !(name === 'prober' && config.healthChecks.length === 0) && !(name === 'tailer' && !tails));
}

/** Loads only the factories that `names` needs, so an agent without log files never loads the tailer. */
export async function loadFactories(names: readonly CollectorName[] = COLLECTOR_NAMES): Promise<Partial<Record<CollectorName, ActorFactory>>> {
  const out: Partial<Record<CollectorName, ActorFactory>> = {};
  const hook = process.env[FACTORIES_ENV];
  if (hook) {
    const url = hook.startsWith('file:') ? hook : pathToFileURL(hook).href;
    const mod = (await import(url)) as Partial<Record<CollectorName, ActorFactory>>;
    for (const name of names) if (typeof mod[name] === 'function') out[name] = mod[name];
  }
  for (const name of names) {
    if (out[name]) continue;
    switch (name) {
      case 'sampler': out.sampler = (await import('../workers/sampler/sampler.js')).createSampler; break;
      case 'prober': out.prober = (await import('../workers/prober/prober.js')).createProber; break;
      case 'tailer': out.tailer = (await import('../workers/tailer/tailer.js')).createTailer; break;
      default: assertNever(name, 'loadFactories');
    }
  }
  return out;
}

export interface HostOptions {
  /** Every this often, one HEARTBEAT per started actor. 0 turns heartbeats off. */
  heartbeatIntervalMs?: number;
}

export class CollectorHost {
  private readonly actors = new Map<CollectorName, Actor>();
  private readonly abort = new AbortController();
  private stopping: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly send: (message: CollectorMessage) => void, private readonly options: HostOptions = {}) {}

  /**
   * Starts the planned actors one by one; each that starts is announced with READY. Rejects on the
   * first actor that fails to start (after sending ERROR for it): the caller treats that as a crash of
   * the whole host, so a half-started set of collectors never runs silently.
   */
  async start(start: CollectorsStart, only?: CollectorName[]): Promise<void> {
    const names = only ?? plannedActors(start.config);
    const factories = await loadFactories(names);
    const every = this.options.heartbeatIntervalMs ?? 0;
    if (every > 0) {
      this.heartbeat = setInterval(() => {
        const at = Date.now();
        for (const name of this.actors.keys()) this.send({ type: 'HEARTBEAT', actor: name, at });
      }, every);
      // A host with nothing else to do must not keep its thread alive for heartbeats alone.
      this.heartbeat.unref();
    }
    for (const name of names) {
      if (this.stopping) return;
      await this.startOne(name, factories[name]!, start);
    }
  }

  private async startOne(name: CollectorName, factory: ActorFactory, start: CollectorsStart): Promise<void> {
    try {
      await scope.run(name, async () => {
        const actor = factory(start, {
          signal: this.abort.signal,
          send: (message) => {
            try { this.send(message); } catch (err) { this.send({ type: 'ERROR', actor: name, message: (err as Error).message }); }
          },
        });
        this.actors.set(name, actor);
        await actor.start();
      });
    } catch (err) {
      this.send({ type: 'ERROR', actor: name, message: `failed to start: ${(err as Error).message}`, stack: (err as Error).stack });
      throw err;
    }
    this.send({ type: 'READY', actor: name });
  }

  handle(message: ControlMessage): void {
    switch (message.type) {
      case 'COMMITTED':
      case 'PAUSE_TAILING':
      case 'RESUME_TAILING': {
        const tailer = this.actors.get('tailer');
        if (tailer) scope.run('tailer', () => tailer.handle(message));
        break;
      }
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
        if (this.heartbeat) { clearInterval(this.heartbeat); this.heartbeat = null; }
        this.abort.abort();
        await Promise.all([...this.actors].map(async ([name, actor]) => {
          try { await scope.run(name, () => actor.stop()); } catch (err) {
            this.send({ type: 'ERROR', actor: name, message: `stop failed: ${(err as Error).message}` });
          }
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
