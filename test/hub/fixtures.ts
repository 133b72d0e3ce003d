// Shared test fixtures for the hub: rows stored the way agents store them (the writer's storeBatch),
// and a hub started against a fresh test database.
import type { TestContext } from 'node:test';
import { storeBatch, type AgentHealthCheck, type Batch } from '../../src/workers/writer/writer.js';
import type { LogRecord, MetricSample, ProbeResult } from '../../src/supervisor/messages.js';
import type { PgClient } from '../../src/db/pg.js';
import { startHub, type Hub, type HubOptions } from '../../src/hub/server.js';
import { testDatabase, type TestDatabase } from '../helpers/pg.js';

export function sample(timestamp: string, values: Partial<MetricSample> = {}): MetricSample {
  return {
    timestamp, cpuPercent: 10, cpuUser: 7, cpuSystem: 3, cpuIowait: 0, cpuSteal: 0, memoryPercent: 40, memoryMb: 800,
    memoryAvailableMb: 1200, swapPercent: 0, swapUsedMb: 0, diskPercent: 50, diskGb: 20, diskFreeGb: 20, diskReadBps: 1000,
    diskWriteBps: 2000, netRxBps: 3000, netTxBps: 4000, loadAvg1m: 0.5, loadAvg5m: 0.4, loadAvg15m: 0.3, uptimeSeconds: 1000,
    mounts: [], ...values,
  };
}

export function probe(timestamp: string, values: Partial<ProbeResult> = {}): ProbeResult {
  return { timestamp, url: 'http://localhost:8000/health', statusCode: 200, responseTimeMs: 12, success: true, errorMessage: null, certDaysLeft: null, ...values };
}

export function logLine(timestamp: string, message: string, values: Partial<LogRecord> = {}): LogRecord {
  return { timestamp, level: 'INFO', logger: 'app', message, context: null, exception: null, flags: [], raw: null, sourceFile: '/var/log/app.log', ...values };
}

const seqs = new Map<string, number>();

/** Stores one batch for vps/app exactly as an agent's writer would (COPY, checkpoint, NOTIFY). */
/** `healthChecks`: the checks the agent says it runs (stored with the checkpoint); none: an agent that does not say. */
export async function store(client: PgClient, vps: string, app: string, parts: Partial<Pick<Batch, 'metrics' | 'probes' | 'logs'>>, collectionInterval = 60,
  healthChecks?: AgentHealthCheck[]): Promise<void> {
  const key = `${client.database ?? ''}/${vps}/${app}`;
  const seq = (seqs.get(key) ?? 0) + 1;
  seqs.set(key, seq);
  await storeBatch(client, { seq, createdAt: new Date().toISOString(), metrics: parts.metrics ?? [], probes: parts.probes ?? [], logs: parts.logs ?? [], events: [], files: [] },
    { vps, app, collectionInterval, startedAt: new Date().toISOString(), healthChecks: healthChecks && JSON.stringify(healthChecks) });
}

export async function hubFor(t: TestContext, options: Partial<HubOptions> = {}): Promise<{ hub: Hub; db: TestDatabase }> {
  const db = await testDatabase(t);
  const hub = await startHub({ databaseUrl: db.url, host: '127.0.0.1', port: 0, log: () => {}, ...options });
  t.after(() => hub.close());
  return { hub, db };
}

export async function getJson<T = unknown>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

export const minutesAgo = (m: number, from = Date.now()) => new Date(from - m * 60_000).toISOString();
