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
// Shutdown order (SIGTERM/SIGINT), one deadline for all of it (default 10 s), then force:
//   1. sources stop (STOP → every actor hands over what it read → STOPPED)
//   2. in-flight messages drain into the writer (a port delivers in order: all before STOPPED)
//   3. final flush and COMMIT
//   4. the database connection closes
//   5. own log lines are already written synchronously; the process exits 0

import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { AgentConfig } from './config.js';
import type { CollectorsStart } from './actor.js';
import { CollectorHost, type CollectorName } from './host.js';
import { assertNever, type CollectorMessage, type ControlMessage, type FileCheckpoint } from './messages.js';
import { createAgentLog, type AgentLog } from './log.js';
import { Writer } from '../workers/writer/writer.js';
import { redactUrl, type PgClient } from '../db/pg.js';
import { migrate } from '../db/migrate.js';

export interface AgentOptions {
  config: AgentConfig;
  log?: AgentLog;
  /** Restart policy for the collectors worker. */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Crash-loop limit: more crashes than this within crashWindowMs stops restarting. */
  maxCrashes?: number;
  crashWindowMs?: number;
}

interface Collectors {
  post(message: ControlMessage): void;
  /** Resolves when every actor reported STOPPED (or the thread is gone). */
  stopped: Promise<void>;
  terminate(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Agent {
  readonly config: AgentConfig;
  private readonly log: AgentLog;
  private writer: Writer | null = null;
  private collectors: Collectors | null = null;
  private stopping: Promise<void> | null = null;
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly o: Required<Omit<AgentOptions, 'config' | 'log'>>;
  private running = new Set<CollectorName>();

  constructor(options: AgentOptions) {
    this.config = options.config;
    this.log = options.log ?? createAgentLog('obs-agent');
    this.o = {
      restartBaseMs: options.restartBaseMs ?? 1000,
      restartMaxMs: options.restartMaxMs ?? 60_000,
      maxCrashes: options.maxCrashes ?? 5,
      crashWindowMs: options.crashWindowMs ?? 10 * 60_000,
    };
  }

  async start(): Promise<void> {
    const c = this.config;
    this.log('info', 'starting', { app: c.app, vps: c.vpsName, placement: c.placement, database: redactUrl(c.postgresUrl),
      collectionInterval: c.collectionInterval, healthChecks: c.healthChecks.length, logFiles: c.logFiles.length });
    this.writer = new Writer({
      postgresUrl: c.postgresUrl,
      vpsName: c.vpsName,
      app: c.app,
      collectionInterval: c.collectionInterval,
      flushIntervalMs: c.flushInterval * 1000,
      spoolDir: join(c.stateDir, 'spool'),
      spoolMaxBytes: c.spoolMaxBytes,
      queryTimeoutMs: c.dbTimeout * 1000,
      prepareConnection: (client) => this.prepareDatabase(client),
      log: (level, message, context) => this.log(level, message, { actor: 'writer', ...context }),
      // Durable in the spool is durable: the tailer may release those lines (they reach PostgreSQL from there).
      onDurable: (batch) => {
        this.collectors?.post({ type: 'COMMITTED', files: batch.files, bytes: batch.logBytes });
      },
      onBackpressure: (paused) => {
        this.collectors?.post(paused ? { type: 'PAUSE_TAILING', reason: 'spool nearly full' } : { type: 'RESUME_TAILING' });
      },
    });
    // Resumes from the database checkpoint, or from the newest spooled one when the database is down:
    // sampling, probing and tailing start either way, and batches wait in the spool.
    const state = await this.writer.start();
    this.startCollectors(state.files);
  }

  /** Applies missing migrations on the writer's first connection (at start, or when the database comes back). */
  private async prepareDatabase(client: PgClient): Promise<void> {
    // migrate() skips recorded migrations itself (schemaVersion() fails on a database never migrated).
    const applied = await migrate(client);
    if (applied.length) this.log('info', 'applied migrations', { applied });
  }

  private collectorsStart(files: FileCheckpoint[]): CollectorsStart {
    return { config: this.config, checkpoints: files };
  }

  private startCollectors(files: FileCheckpoint[]): void {
    const start = this.collectorsStart(files);
    this.collectors = this.config.placement === 'compact' ? this.startCompact(start) : this.startIsolated(start);
  }

  private startCompact(start: CollectorsStart): Collectors {
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => { resolveStopped = r; });
    this.onAllStopped = resolveStopped;
    // Deliver asynchronously, like a MessagePort would, so both placements behave the same.
    const host = new CollectorHost((m) => queueMicrotask(() => this.onMessage(m)));
    void host.start(start).catch((err: Error) => this.log('error', 'collectors failed to start', { error: err.message }));
    return {
      post: (m) => {
        if (m.type === 'STOP') void host.stop().then(() => queueMicrotask(resolveStopped));
        else host.handle(m);
      },
      stopped,
      terminate: async () => { await host.stop(); resolveStopped(); },
    };
  }

  private onAllStopped: (() => void) | null = null;

  private startIsolated(start: CollectorsStart): Collectors {
    const worker = new Worker(new URL('./collectors-worker.js', import.meta.url), {
      workerData: start,
      // Bounds the collectors' heap; a leak ends the worker (and it is restarted) instead of the agent.
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 4 },
      stderr: false,
    });
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => { resolveStopped = r; });
    this.onAllStopped = resolveStopped;
    worker.on('message', (m: CollectorMessage) => this.onMessage(m));
    worker.on('error', (err) => {
      this.log('error', 'collectors worker crashed', { error: err.message, stack: err.stack });
    });
    worker.on('exit', (code) => {
      resolveStopped();
      if (this.stopping || this.collectors?.post !== post) return;
      this.onCrash(`collectors worker exited with code ${code}`);
    });
    const post = (m: ControlMessage) => worker.postMessage(m);
    return { post, stopped, terminate: async () => { await worker.terminate(); } };
  }

  private onCrash(reason: string): void {
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < this.o.crashWindowMs);
    this.crashes.push(now);
    this.running.clear();
    this.writer?.addEvent({ timestamp: new Date().toISOString(), kind: 'actor_crash', detail: { reason, crashesInWindow: this.crashes.length } });
    if (this.crashes.length > this.o.maxCrashes) {
      this.log('error', 'collectors crash loop: not restarting', { code: 'OBS_ERR_ACTOR_CRASH_LOOP', reason,
        crashes: this.crashes.length, windowMs: this.o.crashWindowMs });
      this.writer?.addEvent({ timestamp: new Date().toISOString(), kind: 'actor_crash_loop', detail: { reason } });
      this.collectors = null;
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
        this.log('info', `${m.actor} ready`);
        break;
      case 'HEARTBEAT':
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
        this.log('error', `${m.actor}: ${m.message}`, { actor: m.actor, stack: m.stack });
        break;
      case 'STOPPED':
        this.running.delete(m.actor as CollectorName);
        if (this.running.size === 0) this.onAllStopped?.();
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
        if (this.restartTimer) clearTimeout(this.restartTimer);
        const collectors = this.collectors;
        if (collectors) {
          collectors.post({ type: 'STOP' });
          const done = await Promise.race([collectors.stopped.then(() => true), sleep(Math.max(0, (until - Date.now()) / 2)).then(() => false)]);
          if (!done) this.log('warn', 'collectors did not stop in time; terminating them', { running: [...this.running] });
          await collectors.terminate().catch(() => {});
        }
        if (this.writer) {
          const { unflushedRows, spooledBatches } = await this.writer.close(Math.max(500, until - Date.now()));
          if (spooledBatches) this.log('warn', 'batches left in the spool; they are stored at the next start', { spooledBatches });
          if (unflushedRows) this.log('error', 'shutdown deadline reached with rows neither stored nor spooled', { unflushedRows });
        }
        this.log('info', 'stopped');
      })();
    }
    return this.stopping;
  }
}
