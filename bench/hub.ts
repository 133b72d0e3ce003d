// Hub under load: WebSocket fan-out and API latency.
//
//   node dist/bench/hub.js [--clients 1000] [--agents 20] [--batches 200] [--batch-interval-ms 50]
//                          [--api-concurrency 32] [--api-seconds 10] [--transports uws,node]
//
// Each transport (default: both where a uWS build loads, else node) is measured on the same data,
// one after the other, and printed side by side.
//
// The hub runs in a child process (its own event loop, as in production); this process holds the
// `ws` clients, the writers (storeBatch, as agents do) and the API load generator, on an embedded
// PostgreSQL. Each batch tags its metric sample (memory_mb = batch number), so a client that receives
// the pushed fleet row knows which COMMIT it reflects: latency = receipt − COMMIT returned.
// Baselines beside the figures: a plain LISTEN connection's COMMIT→NOTIFY latency (the floor the hub
// builds on) and /api/status (one trivial query) for the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { connect } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { storeBatch } from '../src/workers/writer/writer.js';
import type { LogRecord, MetricSample, ProbeResult } from '../src/supervisor/messages.js';

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    db: { type: 'string' },
    clients: { type: 'string', default: '1000' },
    agents: { type: 'string', default: '20' },
    batches: { type: 'string', default: '200' },
    'batch-interval-ms': { type: 'string', default: '50' },
    'api-concurrency': { type: 'string', default: '32' },
    'api-seconds': { type: 'string', default: '10' },
    transports: { type: 'string' },
    transport: { type: 'string', default: 'auto' },
  },
});

function sample(timestamp: string, memoryMb: number, cpu: number): MetricSample {
  return { timestamp, cpuPercent: cpu, cpuUser: cpu * 0.7, cpuSystem: cpu * 0.3, cpuIowait: 0.5, cpuSteal: 0, memoryPercent: 45, memoryMb,
    memoryAvailableMb: 2000, swapPercent: 0, swapUsedMb: 0, diskPercent: 60, diskGb: 30, diskFreeGb: 20, diskReadBps: 1e4, diskWriteBps: 5e4,
    netRxBps: 2e5, netTxBps: 1e5, loadAvg1m: 0.8, loadAvg5m: 0.7, loadAvg15m: 0.6, uptimeSeconds: 1e5, mounts: [] };
}
const probe = (timestamp: string, i: number): ProbeResult => ({ timestamp, url: 'http://localhost:8000/health', statusCode: i % 97 ? 200 : 503,
  responseTimeMs: 10 + (i % 13), success: i % 97 !== 0, errorMessage: i % 97 ? null : 'HTTP 503', certDaysLeft: null });
const logLine = (timestamp: string, i: number): LogRecord => ({ timestamp, level: i % 20 ? 'INFO' : 'ERROR', logger: 'app',
  message: i % 20 ? `request ${i} served in ${i % 300} ms` : `payment ${i} failed: gateway timeout`, context: { user_id: i % 1000 }, exception: null,
  flags: [], raw: null, sourceFile: '/var/log/app.log' });

const pct = (xs: number[], p: number) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100; };
const say = (m: string) => process.stderr.write(`[hub-bench] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bench(): Promise<void> {
  const CLIENTS = Number(args.clients);
  const AGENTS = Number(args.agents);
  const BATCHES = Number(args.batches);
  const INTERVAL = Number(args['batch-interval-ms']);
  const dir = mkdtempSync(join(tmpdir(), 'observ-bench-hub-'));
  const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off', synchronous_commit: 'off', max_connections: '200' } });
  await pg.start();
  let hubProcess: ChildProcess | null = null;
  try {
    const admin = await connect(pg.urlFor('postgres'));
    await admin.query('CREATE DATABASE bench_hub');
    await admin.end();
    const url = pg.urlFor('bench_hub');
    const writer = await connect(url);
    await migrate(writer);
    // History to query: a day per agent (a sample and a probe a minute, 5,000 log lines).
    say(`loading a day of history for ${AGENTS} agents…`);
    const now = Date.now();
    const seqs = new Map<string, number>();
    const storeFor = async (a: number, parts: { metrics?: MetricSample[]; probes?: ProbeResult[]; logs?: LogRecord[] }) => {
      const app = `app-${a}`;
      const seq = (seqs.get(app) ?? 0) + 1;
      seqs.set(app, seq);
      await storeBatch(writer, { seq, createdAt: new Date().toISOString(), metrics: parts.metrics ?? [], probes: parts.probes ?? [], logs: parts.logs ?? [], events: [], files: [] },
        { vps: `vps-${a % 5}`, app, collectionInterval: 60, startedAt: new Date(now).toISOString() });
    };
    for (let a = 0; a < AGENTS; a++) {
      const ts = (i: number, n: number) => new Date(now - 86_400_000 + (i * 86_400_000) / n).toISOString();
      await storeFor(a, {
        metrics: Array.from({ length: 1440 }, (_, i) => sample(ts(i, 1440), 0, 20 + (i % 50))),
        probes: Array.from({ length: 1440 }, (_, i) => probe(ts(i, 1440), i)),
        logs: Array.from({ length: 5000 }, (_, i) => logLine(ts(i, 5000), i)),
      });
    }
    await writer.query('ANALYZE');

    const measure = async (transport: string) => {
      hubProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'hub', '--db', url, '--transport', transport], { stdio: ['ignore', 'pipe', 'inherit'] });
      const { port, implementation } = await new Promise<{ port: number; implementation: string }>((resolve, reject) => {
        hubProcess!.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(String(d)) as { port: number; implementation: string }));
        hubProcess!.once('exit', (code) => reject(new Error(`hub exited with ${code}`)));
      });
      const base = `http://127.0.0.1:${port}`;

      // ---- fan-out ----
      say(`connecting ${CLIENTS} WebSocket clients…`);
      const commitAt = new Map<number, number>();
      const latencies: number[] = [];
      let received = 0;
      const sockets: WebSocket[] = [];
      for (let c = 0; c < CLIENTS; c++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { perMessageDeflate: false });
        ws.on('message', (data) => {
          const msg = JSON.parse(String(data)) as { type: string; rows?: { memoryMb: number | null }[] };
          if (msg.type !== 'fleet') return;
          const at = performance.now();
          received++;
          for (const row of msg.rows ?? []) {
            const committed = commitAt.get(row.memoryMb ?? -1);
            if (committed !== undefined) latencies.push(at - committed);
          }
        });
        sockets.push(ws);
        await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
      }
      // Baseline: a plain LISTEN connection, COMMIT → notification.
      const listener = await connect(url);
      const notifyLatency: number[] = [];
      listener.on('notification', (n) => {
        const seqTag = (JSON.parse(n.payload ?? '{}') as { app?: string; seq?: number });
        const key = Number(`${seqTag.app?.slice(4) ?? ''}`) * 1e6 + (seqTag.seq ?? 0);
        const committed = notifyCommit.get(key);
        if (committed !== undefined) notifyLatency.push(performance.now() - committed);
      });
      const notifyCommit = new Map<number, number>();
      await listener.query('LISTEN observ_batch');

      say(`${BATCHES} batches, one every ${INTERVAL} ms, round-robin over ${AGENTS} agents…`);
      const t0 = performance.now();
      for (let b = 1; b <= BATCHES; b++) {
        const a = b % AGENTS;
        const started = performance.now();
        await storeFor(a, { metrics: [sample(new Date().toISOString(), b, 30)], probes: [probe(new Date().toISOString(), b)], logs: [logLine(new Date().toISOString(), b)] });
        const done = performance.now();
        commitAt.set(b, done);
        notifyCommit.set(a * 1e6 + seqs.get(`app-${a}`)!, done);
        const wait = INTERVAL - (performance.now() - started);
        if (wait > 0) await sleep(wait);
      }
      const expected = BATCHES * CLIENTS;
      for (let i = 0; i < 100 && latencies.length < expected; i++) await sleep(100);
      const fanoutSeconds = (performance.now() - t0) / 1000;
      const status = await (await fetch(`${base}/api/status`)).json() as { live: Record<string, number> };
      const liveStats = status.live;
      for (const ws of sockets) ws.terminate();
      await listener.end();

      // ---- API under concurrent load ----
      const CONC = Number(args['api-concurrency']);
      const SECONDS = Number(args['api-seconds']);
      const from = new Date(now - 86_400_000).toISOString();
      const endpoints: Record<string, string> = {
        'status (baseline)': '/api/status',
        fleet: '/api/fleet',
        'metrics 24h': `/api/metrics?vps=vps-3&app=app-3&from=${from}`,
        'health 24h': `/api/health?vps=vps-3&app=app-3&from=${from}`,
        'logs q=timeout': '/api/logs?q=timeout',
        'logs level=ERROR app': '/api/logs?level=ERROR&app=app-7',
        alerts: '/api/alerts/open',
      };
      const api: Record<string, unknown> = {};
      for (const [name, path] of Object.entries(endpoints)) {
        const times: number[] = [];
        let errors = 0;
        const until = performance.now() + (SECONDS * 1000) / Object.keys(endpoints).length;
        await Promise.all(Array.from({ length: CONC }, async () => {
          while (performance.now() < until) {
            const s = performance.now();
            const res = await fetch(base + path).catch(() => null);
            if (!res || !res.ok) errors++;
            await res?.arrayBuffer();
            times.push(performance.now() - s);
          }
        }));
        const secs = (SECONDS / Object.keys(endpoints).length);
        api[name] = { requestsPerSecond: Math.round(times.length / secs), p50: pct(times, 50), p99: pct(times, 99), errors };
        say(`${name}: ${JSON.stringify(api[name])}`);
      }
      const child = hubProcess as ChildProcess | null;
      child?.kill('SIGTERM');
      if (child) await new Promise((r) => child.once('exit', r));
      hubProcess = null;
      return {
        implementation,
        fanout: {
          clients: CLIENTS, batches: BATCHES, batchIntervalMs: INTERVAL, seconds: Math.round(fanoutSeconds * 10) / 10,
          deliveredUpdates: latencies.length, expectedUpdates: expected, updatesPerSecond: Math.round(received / fanoutSeconds),
          commitToReceiptMs: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: pct(latencies, 100) },
          baselineCommitToNotifyMs: { p50: pct(notifyLatency, 50), p99: pct(notifyLatency, 99) },
          hub: liveStats,
        },
        api: { concurrency: CONC, secondsPerEndpoint: SECONDS / Object.keys(endpoints).length, latencyMs: api },
      };
    };
    const { uwsAvailable } = await import('../src/hub/transport/index.js');
    const kinds = (args.transports ?? (uwsAvailable() ? 'uws,node' : 'node')).split(',');
    const transports: Record<string, unknown> = {};
    for (const kind of kinds) { say(`transport ${kind}`); transports[kind] = await measure(kind); }
    await writer.end();

    process.stdout.write(JSON.stringify({
      bench: 'hub', node: process.version, cpus: (await import('node:os')).cpus().length, transports,
    }, null, 2) + '\n');
  } finally {
    (hubProcess as ChildProcess | null)?.kill('SIGTERM');
    await sleep(200);
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- entry: the bench, or (spawned by it) just the hub ----
if (args.role === 'hub') {
  const { startHub } = await import('../src/hub/server.js');
  const hub = await startHub({ databaseUrl: args.db!, host: '127.0.0.1', port: 0, log: () => {}, transport: args.transport as 'auto' | 'uws' | 'node',
    liveMaxClients: 100_000, liveMaxClientsPerAddress: 100_000 });
  process.stdout.write(JSON.stringify({ port: hub.port, implementation: hub.implementation }) + '\n');
  process.on('SIGTERM', () => void hub.close().then(() => process.exit(0)));
} else {
  await bench();
}
