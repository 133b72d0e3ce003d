// The agent supervisor: config → database → writer → collectors, and the shutdown order.
//
//   main thread                                   collectors (worker thread when `isolated`,
//   ┌───────────────────────────────┐             main thread when `compact`)
//   │ Agent (this file)             │  Control    ┌──────────────────────────┐
//   │  ├─ routes CollectorMessage ──┼──────────►  │ CollectorHost            │
//   │  │    METRIC/PROBE/LOGS/EVENT │  COMMITTED  │  ├─ sampler  (procfs)    │
//   │  │        ▼                   │  PAUSE/STOP │  ├─ prober   (node:http) │
//   │  └─ Writer ──COPY──► PostgreSQL│ ◄──────────┼──└─ tailer   (files)     │
//   └───────────────────────────────┘  Collector  └──────────────────────────┘
//
// Collectors' lifecycle (both placements):
//   - READY handshake: every planned actor answers READY within readyTimeoutMs, or the set is
//     treated as crashed. An actor that fails to start fails the whole set (never half-running).
//   - Liveness (isolated only): the collectors thread sends HEARTBEATs; none for heartbeatTimeoutMs
//     (a busy loop, a stuck synchronous read) → the thread is terminated and counted as a crash.
//     In compact placement a busy loop stops the supervisor too, so nothing in-process can see it:
//     that is the price of compact (systemd's Restart= is the backstop).
//   - Crashes (isolated: the thread exits; compact: an uncaught error raised by an actor's code,
//     attributed through the host's AsyncLocalStorage scope) restart the set with capped
//     exponential backoff. More than maxCrashes in crashWindowMs is a crash loop: reported
//     (OBS_ERR_ACTOR_CRASH_LOOP in the log, an agent_events row), not restarted; the writer keeps
//     running so the report reaches the database. An uncaught error outside the collectors exits 1.
//
// Shutdown order (SIGTERM/SIGINT), one deadline for all of it (default 10 s), then force:
//   1. sources stop (STOP → every actor hands over what it read → STOPPED); at most half the
//      deadline, then the collectors are terminated (isolated) or abandoned (compact)
//   2. in-flight messages drain into the writer (a port delivers in order: all before STOPPED)
//   3. final flush and COMMIT
//   4. the database connection closes
//   5. own log lines are already written synchronously; the process exits 0

import type { ResourceLimits } from 'node:worker_threads';
import { join } from 'node:path';
import type { AgentConfig } from './config.js';
import type { CollectorsStart } from './actor.js';
import { CollectorHost, actorInScope, plannedActors, type CollectorName } from './host.js';
import type { CollectorsWorkerData } from './collectors-worker.js';
import { assertNever, type CollectorMessage, type ControlMessage, type FileCheckpoint } from './messages.js';
import { createAgentLog, type AgentLog } from './log.js';
import { HeapGuard } from './heap-guard.js';
import { Writer } from '../workers/writer/writer.js';
import { ReleaseWatcher } from '../workers/deploys/watcher.js';
import { storedTarget } from '../workers/deploys/release.js';
import { redactUrl, type PgClient } from '../db/pg.js';
import { latestVersion, migrate, schemaVersion } from '../db/migrate.js';
import { ObservError } from '../errors.js';

export interface AgentOptions {
  config: AgentConfig;
  log?: AgentLog;
  /** Restart policy for the collectors worker. */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Crash-loop limit: more crashes than this within crashWindowMs stops restarting. */
  maxCrashes?: number;
  crashWindowMs?: number;
  /** Every planned collector must answer READY within this, or the set counts as crashed. */
  readyTimeoutMs?: number;
  /** How often the collectors thread proves it is alive (isolated placement). */
  heartbeatIntervalMs?: number;
  /** No HEARTBEAT for this long: the collectors thread is stuck; it is terminated and restarted. */
  heartbeatTimeoutMs?: number;
  /** Heap limits of the collectors thread (isolated): a leak ends the thread, not the agent. */
  workerResourceLimits?: ResourceLimits;
  /** How often the release symlink is read (deploy markers; default DEFAULT_RELEASE_POLL_MS). */
  releasePollMs?: number;
}

/** Heap limits of the collectors thread; see docs/footprint.md for the measurements behind them. */
export const COLLECTORS_WORKER_LIMITS: ResourceLimits = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 2 };

interface Collectors {
  /** Which start of the collectors this is: messages and exits of earlier generations are ignored. */
  generation: number;
  post(message: ControlMessage): void;
  /** Resolves when every actor has stopped (or the thread is gone). */
  stopped: Promise<void>;
  /** Ends the collectors now, whatever they are doing. Never waits on actor code. */
  terminate(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Set by scripts/build-agent.ts in the bundled agent: its collectors thread runs from the bundle beside it. */
declare const OBSERV_COLLECTORS_WORKER: string | undefined;
const COLLECTORS_WORKER = typeof OBSERV_COLLECTORS_WORKER === 'string' ? OBSERV_COLLECTORS_WORKER : './collectors-worker.js';

export class Agent {
  readonly config: AgentConfig;
  private readonly log: AgentLog;
  private writer: Writer | null = null;
  private releases: ReleaseWatcher | null = null;
  private collectors: Collectors | null = null;
  private stopping: Promise<void> | null = null;
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly o: Required<Omit<AgentOptions, 'config' | 'log'>>;
  private running = new Set<CollectorName>();
  private generation = 0;
  private planned: CollectorName[] = [];
  private lastHeartbeatAt = 0;
  private lastError = '';
  private readyTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private uncaughtInstalled = false;
  /** Holds the process open until stop(): the writer's timers are unref'd, and collectors may be gone (crash loop). */
  private keepAlive: NodeJS.Timeout | null = null;
  private workerThreads: typeof import('node:worker_threads') | null = null;
  /** Full collections once the heap has grown 1 MB past its live size (heap-guard.ts says why). */
  private readonly heapGuard = new HeapGuard();

  constructor(options: AgentOptions) {
    this.config = options.config;
    this.log = options.log ?? createAgentLog('obs-agent');
    this.o = {
      restartBaseMs: options.restartBaseMs ?? 1000,
      restartMaxMs: options.restartMaxMs ?? 60_000,
      maxCrashes: options.maxCrashes ?? 5,
      crashWindowMs: options.crashWindowMs ?? 10 * 60_000,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 5_000,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 30_000,
      workerResourceLimits: options.workerResourceLimits ?? COLLECTORS_WORKER_LIMITS,
      releasePollMs: options.releasePollMs ?? 0,
    };
  }

  async start(): Promise<void> {
    const c = this.config;
    this.log('info', 'starting', { app: c.app, vps: c.vpsName, placement: c.placement, database: redactUrl(c.postgresUrl),
      collectionInterval: c.collectionInterval, healthChecks: c.healthChecks.length, logFiles: c.logFiles.length, journalUnits: c.journalUnits });
    this.writer = new Writer({
      postgresUrl: c.postgresUrl,
      vpsName: c.vpsName,
      app: c.app,
      collectionInterval: c.collectionInterval,
      healthChecks: c.healthChecks,
      flushIntervalMs: c.flushInterval * 1000,
      spoolDir: join(c.stateDir, 'spool'),
      spoolMaxBytes: c.spoolMaxBytes,
      queryTimeoutMs: c.dbTimeout * 1000,
      idleCloseMs: c.dbIdleClose * 1000,
      prepareConnection: (client) => this.prepareDatabase(client),
      log: (level, message, context) => this.log(level, message, { actor: 'writer', ...context }),
      // Durable in the spool is durable: the tailer may release those lines (they reach PostgreSQL from there).
      onDurable: (batch) => {
        this.collectors?.post({ type: 'COMMITTED', files: batch.files, bytes: batch.logBytes });
        // A batch sealed is up to 512 KiB of lines handled: while catching up that is many times a second,
        // and the guard's once-a-second look would let several megabytes of garbage wait.
        if (batch.logBytes > 0) this.heapGuard.check();
      },
      onBackpressure: (paused) => {
        this.collectors?.post(paused ? { type: 'PAUSE_TAILING', reason: 'spool nearly full' } : { type: 'RESUME_TAILING' });
      },
    });
    // node:worker_threads only where a worker is started: compact placement never needs it.
    if (c.placement === 'isolated') this.workerThreads ??= await import('node:worker_threads');
    // Resumes from the database checkpoint, or from the newest spooled one when the database is down:
    // sampling, probing and tailing start either way, and batches wait in the spool.
    const state = await this.writer.start();
    this.heapGuard.start();
    this.startCollectors(state.files);
    const writer = this.writer;
    this.releases = new ReleaseWatcher({
      releaseDir: c.releaseDir,
      stored: storedTarget(state.files, c.releaseDir),
      ...(this.o.releasePollMs ? { pollMs: this.o.releasePollMs } : {}),
      record: (deployment) => writer.addDeployment(c.releaseDir, deployment),
      remember: (target) => writer.rememberRelease(c.releaseDir, target),
      log: (level, message, context) => this.log(level, message, { actor: 'deploys', ...context }),
    });
    void this.releases.start();
  }

  /** Applies missing migrations on the writer's first connection (at start, or when the database comes back). */
  private async prepareDatabase(client: PgClient): Promise<void> {
    // Only when behind: the agent usually runs as the insert-only observ_agent role, which cannot.
    const have = await schemaVersion(client);
    const want = latestVersion();
    if (have >= want) return;
    try {
      const applied = await migrate(client);
      if (applied.length) this.log('info', 'applied migrations', { applied });
    } catch (err) {
      throw new ObservError('OBS_ERR_MIGRATION', `the database schema is at version ${have} and this agent needs ${want}; ` +
        `applying the migrations failed (${(err as Error).message}). Fix: run \`observ db migrate\` with the schema owner's OBSERV_DB_URL`,
        { cause: err });
    }
  }

  private collectorsStart(files: FileCheckpoint[]): CollectorsStart {
    return { config: this.config, checkpoints: files };
  }

  private startCollectors(files: FileCheckpoint[]): void {
    const start = this.collectorsStart(files);
    this.keepAlive ??= setInterval(() => {}, 1 << 30);
    const generation = ++this.generation;
    this.running.clear();
    this.planned = plannedActors(this.config);
    this.lastHeartbeatAt = Date.now();
    this.lastError = '';
    this.collectors = this.config.placement === 'compact' ? this.startCompact(start, generation) : this.startIsolated(start, generation);
    this.readyTimer = setTimeout(() => {
      this.readyTimer = null;
      this.crashed(generation, `not READY within ${this.o.readyTimeoutMs} ms (ready: ${[...this.running].join(', ') || 'none'}; expected: ${this.planned.join(', ')})`);
    }, this.o.readyTimeoutMs);
    this.readyTimer.unref();
  }

  private startCompact(start: CollectorsStart, generation: number): Collectors {
    this.installUncaughtHandlers();
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => { resolveStopped = r; });
    // Deliver asynchronously, like a MessagePort would, so both placements behave the same.
    // Heartbeats are off: they would travel on the very event loop they are meant to watch.
    const host = new CollectorHost((m) => queueMicrotask(() => this.deliver(generation, m)));
    host.start(start).catch((err: Error) => this.crashed(generation, `failed to start: ${err.message}`));
    return {
      generation,
      post: (m) => {
        if (m.type === 'STOP') void host.stop().then(() => queueMicrotask(resolveStopped));
        else host.handle(m);
      },
      stopped,
      // Actor code shares our thread and cannot be killed: abort it and stop listening to it.
      terminate: async () => { void host.stop(); resolveStopped(); },
    };
  }

  private startIsolated(start: CollectorsStart, generation: number): Collectors {
    const workerData: CollectorsWorkerData = { start, heartbeatIntervalMs: this.o.heartbeatIntervalMs };
    const worker = new this.workerThreads!.Worker(new URL(COLLECTORS_WORKER, import.meta.url), {
      workerData,
      resourceLimits: this.o.workerResourceLimits,
      stderr: false,
    });
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => { resolveStopped = r; });
    worker.on('message', (m: CollectorMessage) => this.deliver(generation, m));
    worker.on('error', (err) => {
      // Errors the thread could not report itself (out of memory, a failure while loading).
      this.lastError ||= `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}`;
    });
    worker.on('exit', (code) => {
      resolveStopped();
      this.crashed(generation, `collectors worker exited with code ${code}${this.lastError ? ` (${this.lastError})` : ''}`);
    });
    this.watchdog = setInterval(() => {
      const silentMs = Date.now() - this.lastHeartbeatAt;
      if (silentMs > this.o.heartbeatTimeoutMs) {
        this.crashed(generation, `no HEARTBEAT for ${silentMs} ms: a collector is stuck (running: ${[...this.running].join(', ') || 'none'})`);
      }
    }, Math.max(50, Math.min(this.o.heartbeatIntervalMs, this.o.heartbeatTimeoutMs / 2)));
    this.watchdog.unref();
    return { generation, post: (m) => worker.postMessage(m), stopped, terminate: async () => { await worker.terminate(); } };
  }

  /** Routes a collector's message, unless it comes from a generation that was already replaced. */
  private deliver(generation: number, m: CollectorMessage): void {
    if (this.collectors?.generation === generation) this.onMessage(m);
  }

  private clearCollectorTimers(): void {
    if (this.readyTimer) { clearTimeout(this.readyTimer); this.readyTimer = null; }
    if (this.watchdog) { clearInterval(this.watchdog); this.watchdog = null; }
  }

  /** The current collectors failed (exit, missed heartbeats, no READY, uncaught error): end them, then restart or give up. */
  private crashed(generation: number, reason: string): void {
    const collectors = this.collectors;
    if (this.stopping || !collectors || collectors.generation !== generation) return;
    this.collectors = null;
    this.clearCollectorTimers();
    void collectors.terminate().catch(() => {});
    this.onCrash(reason);
  }

  // Compact placement only: actor code runs on our thread, so its uncaught errors arrive here.
  private readonly onUncaught = (err: unknown): void => {
    const e = err instanceof Error ? err : new Error(String(err));
    const actor = actorInScope();
    if (actor && this.collectors && this.config.placement === 'compact') {
      this.log('error', `${actor} crashed`, { actor, error: e.message, stack: e.stack });
      this.crashed(this.collectors.generation, `${actor}: crashed: ${e.message}`);
      return;
    }
    if (actor && this.stopping) return; // an abandoned actor failing after shutdown began
    // Outside the collectors nothing is known to be safe to continue: exit as Node would, but say why.
    this.log('error', 'uncaught error outside the collectors: exiting', { error: e.message, stack: e.stack });
    process.exit(1);
  };

  private installUncaughtHandlers(): void {
    if (this.uncaughtInstalled) return;
    this.uncaughtInstalled = true;
    process.on('uncaughtException', this.onUncaught);
    process.on('unhandledRejection', this.onUncaught);
  }

  private removeUncaughtHandlers(): void {
    if (!this.uncaughtInstalled) return;
    this.uncaughtInstalled = false;
    process.off('uncaughtException', this.onUncaught);
    process.off('unhandledRejection', this.onUncaught);
  }

  private onCrash(reason: string): void {
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < this.o.crashWindowMs);
    this.crashes.push(now);
    this.running.clear();
    this.writer?.addEvent({ timestamp: new Date(now).toISOString(), kind: 'actor_crash',
      detail: { reason, placement: this.config.placement, crashesInWindow: this.crashes.length } });
    if (this.crashes.length > this.o.maxCrashes) {
      this.log('error', 'collectors crash loop: not restarting them (restart the agent once the cause is fixed)', {
        code: 'OBS_ERR_ACTOR_CRASH_LOOP', reason, crashes: this.crashes.length, windowMs: this.o.crashWindowMs });
      this.writer?.addEvent({ timestamp: new Date(now).toISOString(), kind: 'actor_crash_loop',
        detail: { code: 'OBS_ERR_ACTOR_CRASH_LOOP', reason, crashes: this.crashes.length, windowMs: this.o.crashWindowMs } });
      return;
    }
    const delay = Math.min(this.o.restartMaxMs, this.o.restartBaseMs * 2 ** (this.crashes.length - 1));
    this.log('warn', 'restarting collectors', { reason, inMs: delay, crashesInWindow: this.crashes.length });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      // Resume after what the writer already holds (committed or buffered), not the last commit.
      this.startCollectors(this.writer?.currentFiles() ?? []);
    }, delay);
  }

  private onMessage(m: CollectorMessage): void {
    const w = this.writer;
    switch (m.type) {
      case 'READY':
        this.running.add(m.actor as CollectorName);
        this.lastHeartbeatAt = Date.now();
        this.log('info', `${m.actor} ready`);
        if (this.planned.every((name) => this.running.has(name)) && this.readyTimer) {
          clearTimeout(this.readyTimer);
          this.readyTimer = null;
          this.log('info', 'collectors ready', { placement: this.config.placement, actors: this.planned, start: this.generation });
        }
        break;
      case 'HEARTBEAT':
        this.lastHeartbeatAt = Date.now();
        break;
      case 'METRIC':
        w?.addMetric(m.sample);
        break;
      case 'PROBE':
        w?.addProbe(m.result);
        break;
      case 'LOGS':
        w?.addLogs(m.batch.records, m.batch.checkpoint, m.batch.bytes);
        break;
      case 'EVENT':
        this.log('warn', `event: ${m.event.kind}`, m.event.detail);
        w?.addEvent(m.event);
        break;
      case 'LOG':
        this.log(m.level, m.message, { actor: m.actor, ...m.context });
        break;
      case 'ERROR':
        this.lastError = `${m.actor}: ${m.message}`;
        this.log('error', `${m.actor}: ${m.message}`, { actor: m.actor, stack: m.stack });
        break;
      case 'STOPPED':
        this.running.delete(m.actor as CollectorName);
        break;
      default:
        assertNever(m, 'Agent.onMessage');
    }
  }

  /** The ordered shutdown described at the top of this file. Idempotent. */
  stop(deadlineMs = 10_000): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const until = Date.now() + deadlineMs;
        if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = null; }
        this.clearCollectorTimers();
        await this.releases?.close();
        const collectors = this.collectors;
        if (collectors) {
          this.log('info', 'shutdown 1/4: stopping sources', { deadlineMs, running: [...this.running] });
          collectors.post({ type: 'STOP' });
          const done = await Promise.race([collectors.stopped.then(() => true), sleep(Math.max(0, (until - Date.now()) / 2)).then(() => false)]);
          if (!done) this.log('warn', 'collectors did not stop in time; terminating them', { running: [...this.running] });
          await collectors.terminate().catch(() => {});
          this.collectors = null;
          this.log('info', 'shutdown 2/4: sources stopped; their messages are with the writer');
        }
        this.removeUncaughtHandlers();
        if (this.writer) {
          const { unflushedRows, spooledBatches } = await this.writer.close(Math.max(500, until - Date.now()));
          if (spooledBatches) this.log('warn', 'shutdown 3/4: batches left in the spool; they are stored at the next start', { spooledBatches });
          if (unflushedRows) this.log('error', 'shutdown deadline reached with rows neither stored nor spooled', { unflushedRows });
          if (!spooledBatches && !unflushedRows) this.log('info', 'shutdown 3/4: final flush committed; database connection closed');
        }
        if (this.keepAlive) { clearInterval(this.keepAlive); this.keepAlive = null; }
        this.heapGuard.stop();
        this.log('info', 'stopped', { heapGuardCollections: this.heapGuard.collections });
      })();
    }
    return this.stopping;
  }
}
