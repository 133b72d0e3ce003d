// Footprint of the built agent, run the way systemd runs it: a child process
// `node FLAGS bin/obs-agent.js APP --config … --state-dir …` against a real PostgreSQL (embedded),
// under two workloads and both placements, sampled from /proc every second. Baselines beside it:
// an idle bare `node` (with and without the agent's flags), the agent's modules loaded in an otherwise
// idle process (the floor under every scenario), and prometheus-node-exporter when installed.
// A backlog scenario measures the peak RSS while catching up a large log file.
//
//   node dist/bench/agent-footprint.js [--quick] [--duration S] [--placements isolated,compact]
//        [--workloads typical,busy | --workloads=] [--backlog-mb 100 | --no-backlog] [--flags "…"] [--env "K=V …"]
//
// Prints one JSON object (medians and maxima). Linux only (/proc).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddedPostgres, freePort } from '../src/db/embedded.js';
import { connect } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { AGENT_NODE_FLAGS, AGENT_ENV } from '../src/supervisor/launch-flags.js';

const AGENT_BIN = fileURLToPath(new URL('../../bin/obs-agent.js', import.meta.url));
const CLK_TCK = 100; // USER_HZ on every Linux that Node supports; `getconf CLK_TCK`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    placements: { type: 'string', default: 'isolated,compact' },
    workloads: { type: 'string', default: 'typical,busy' },
    'backlog-mb': { type: 'string', default: '100' },
    'no-backlog': { type: 'boolean', default: false },
    flags: { type: 'string' },
    env: { type: 'string' },
  },
});
const durationS = Number(argv.duration ?? (argv.quick ? 60 : 300));
const warmupS = Number(argv.warmup ?? (argv.quick ? 10 : 30));
const flags = argv.flags !== undefined ? argv.flags.split(/\s+/).filter(Boolean) : [...AGENT_NODE_FLAGS];
const agentEnv: Record<string, string> = argv.env !== undefined
  ? Object.fromEntries(argv.env.split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string]))
  : { ...AGENT_ENV };

interface Workload { name: string; collectionInterval: number; checks: number; checkInterval: number; files: number; linesPerSecond: number }
const WORKLOADS: Record<string, Workload> = {
  typical: { name: 'typical', collectionInterval: 60, checks: 2, checkInterval: 30, files: 1, linesPerSecond: 10 },
  busy: { name: 'busy', collectionInterval: 10, checks: 5, checkInterval: 5, files: 3, linesPerSecond: 1000 },
};

// ---- /proc sampling ------------------------------------------------------------------------------

interface ProcSample { at: number; cpuTicks: number; rssKb: number; hwmKb: number; rssAnonKb: number; pssKb: number; privateKb: number; threads: number }

function readProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(f[11]) + Number(f[12]); // utime + stime, all threads
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return {
      at: performance.now(), cpuTicks,
      rssKb: kb(status, 'VmRSS'), hwmKb: kb(status, 'VmHWM'), rssAnonKb: kb(status, 'RssAnon'), threads: kb(status, 'Threads'),
      pssKb: kb(rollup, 'Pss'), privateKb: kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty'),
    };
  } catch {
    return null;
  }
}

class Sampler {
  readonly samples: Array<ProcSample & { cpuPct: number }> = [];
  private prev: ProcSample | null = null;
  private timer: NodeJS.Timeout;
  constructor(readonly pid: number, readonly label: string) {
    this.prev = readProc(pid);
    this.timer = setInterval(() => {
      const s = readProc(pid);
      if (!s) return;
      const cpuPct = this.prev ? ((s.cpuTicks - this.prev.cpuTicks) / CLK_TCK) / ((s.at - this.prev.at) / 1000) * 100 : 0;
      this.samples.push({ ...s, cpuPct });
      this.prev = s;
    }, 1000);
  }
  stop(): void { clearInterval(this.timer); }
  summary(skipFirst = 0) {
    const steady = this.samples.slice(skipFirst);
    const all = this.samples;
    const mb = (kb: number) => round(kb / 1024);
    const pick = (xs: typeof all, key: keyof ProcSample | 'cpuPct') => xs.map((s) => s[key] as number);
    const first = steady[0];
    const last = steady[steady.length - 1];
    // CPU over the whole steady window (ticks are 10 ms, so per-second figures move in 1% steps).
    const average = first && last && last.at > first.at ? ((last.cpuTicks - first.cpuTicks) / CLK_TCK) / ((last.at - first.at) / 1000) * 100 : NaN;
    return {
      samples: steady.length,
      cpuPercent: { average: round(average, 3), median: round(median(pick(steady, 'cpuPct')), 2), p95: round(quantile(pick(steady, 'cpuPct'), 0.95), 2), max: round(Math.max(...pick(steady, 'cpuPct')), 2) },
      rssMb: { median: mb(median(pick(steady, 'rssKb'))), max: mb(Math.max(...pick(all, 'rssKb'))) },
      vmHwmMb: mb(Math.max(...pick(all, 'hwmKb'))),
      rssAnonMb: { median: mb(median(pick(steady, 'rssAnonKb'))), max: mb(Math.max(...pick(all, 'rssAnonKb'))) },
      pssMb: { median: mb(median(pick(steady, 'pssKb'))), max: mb(Math.max(...pick(all, 'pssKb'))) },
      privateMb: { median: mb(median(pick(steady, 'privateKb'))), max: mb(Math.max(...pick(all, 'privateKb'))) },
      threads: Math.max(...pick(all, 'threads')),
    };
  }
}

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);
const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo]! + (s[Math.ceil(i)]! - s[lo]!) * (i - lo);
}

// ---- the environment: PostgreSQL, a health endpoint, log writers ------------------------------------

const root = mkdtempSync(join(tmpdir(), 'observ-footprint-'));
// Its own temporary directory: when run as root, the server runs as another user and must reach it.
const pgDir = mkdtempSync(join(tmpdir(), 'observ-footprint-pg-'));
const pg = new EmbeddedPostgres({ dir: pgDir });
const children: ChildProcess[] = [];
const cleanup = async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await pg.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
  rmSync(pgDir, { recursive: true, force: true });
};
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

function logLine(i: number): string {
  return JSON.stringify({ timestamp: new Date().toISOString(), level: i % 50 === 0 ? 'ERROR' : 'INFO', logger: 'bench.app',
    message: `request ${i} handled in ${i % 97} ms path=/api/items/${i % 1000}`, context: { request_id: `r${i}`, user_id: i % 5000, status: 200 } }) + '\n';
}

/** Appends lines to the files at the workload's total rate, in 100 ms ticks. */
function startLogWriters(files: string[], linesPerSecond: number): () => void {
  let i = 0;
  let carry = 0;
  const perTick = linesPerSecond / 10;
  const timer = setInterval(() => {
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    const chunks = files.map(() => [] as string[]);
    for (let k = 0; k < n; k++) chunks[k % files.length]!.push(logLine(i++));
    files.forEach((f, k) => { if (chunks[k]!.length) appendFileSync(f, chunks[k]!.join('')); });
  }, 100);
  return () => clearInterval(timer);
}

function startHealthServer(): Promise<{ url: string; close: () => void; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => { hits++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok"}'); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    resolve({ url: `http://127.0.0.1:${port}`, close: () => server.close(), hits: () => hits });
  }));
}

interface Spawned { child: ChildProcess; ready: Promise<number>; stderrTail: string[] }

function spawnAgent(app: string, dir: string, monitoring: Record<string, unknown>): Spawned {
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, JSON.stringify({ monitoring: { enabled: true, ...monitoring } }, null, 2));
  const started = performance.now();
  const child = spawn(process.execPath, [...flags, AGENT_BIN, app, '--config', configFile, '--state-dir', join(dir, 'state'), '--vps-name', 'bench-vps'],
    { env: { ...process.env, ...agentEnv, OBSERV_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const stderrTail: string[] = [];
  let buf = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
        if (line.includes('"message":"collectors ready"')) resolve(Math.round(performance.now() - started));
      }
    });
    child.on('exit', (code) => reject(new Error(`agent exited with ${code}:\n${stderrTail.join('\n')}`)));
  });
  return { child, ready, stderrTail };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
  const t0 = performance.now();
  if (child.exitCode !== null) return { code: child.exitCode, ms: 0 };
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill(signal);
  const code = await Promise.race([exited, sleep(15_000).then(() => { child.kill('SIGKILL'); return null; })]);
  return { code, ms: Math.round(performance.now() - t0) };
}

function spawnIdleNode(withFlags: boolean): ChildProcess {
  const child = spawn(process.execPath, [...(withFlags ? flags : []), '-e', 'setInterval(() => {}, 1 << 30)'],
    { env: { ...process.env, ...(withFlags ? agentEnv : {}) }, stdio: 'ignore' });
  children.push(child);
  return child;
}

/**
 * The floor under any agent built this way: an ES-module process with the agent's flags that imports
 * the modules a running agent loads (config, writer with pg and pg-copy-streams, the three collectors,
 * node:http/crypto) and then does nothing. What the agent measures above this is its data and work.
 */
function spawnAgentModulesIdle(): ChildProcess {
  const dist = fileURLToPath(new URL('../src/', import.meta.url));
  const script = `
    const { loadPg } = await import(${JSON.stringify(dist + 'db/pg.js')}); loadPg();
    await import(${JSON.stringify(dist + 'supervisor/agent.js')});
    await import(${JSON.stringify(dist + 'supervisor/config.js')});
    for (const m of ['sampler/sampler.js', 'prober/prober.js', 'tailer/tailer.js']) await import(${JSON.stringify(dist + 'workers/')} + m);
    (await import('node:module')).createRequire(${JSON.stringify(dist)})('pg-copy-streams/copy-from');
    setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', script], { env: { ...process.env, ...agentEnv }, stdio: 'ignore' });
  children.push(child);
  return child;
}

function nodeExporterPath(): string | null {
  for (const p of ['/usr/bin/prometheus-node-exporter', '/usr/local/bin/node_exporter', '/usr/bin/node_exporter']) if (existsSync(p)) return p;
  return null;
}

// ---- scenarios ---------------------------------------------------------------------------------------

async function countRows(url: string, app: string) {
  const c = await connect(url);
  try {
    const q = async (table: string) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE app_name = $1`, [app])).rows[0]!.n);
    return { vps_metrics: await q('vps_metrics'), health_checks: await q('health_checks'), log_entries: await q('log_entries') };
  } finally { await c.end(); }
}

async function steadyScenario(url: string, placement: string, w: Workload, healthUrl: string) {
  const app = `fp-${placement}-${w.name}`;
  const dir = join(root, app);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const files = Array.from({ length: w.files }, (_, i) => join(dir, 'logs', `app${i}.log`));
  for (const f of files) writeFileSync(f, '');
  const agent = spawnAgent(app, dir, {
    postgres_url: url, placement, collection_interval: w.collectionInterval,
    health_checks: Array.from({ length: w.checks }, (_, i) => ({ url: `${healthUrl}/health/${i}`, interval: w.checkInterval, timeout: Math.min(5, w.checkInterval) })),
    log_files: files,
  });
  const readyMs = await agent.ready;
  const stopWriters = startLogWriters(files, w.linesPerSecond);
  const sampler = new Sampler(agent.child.pid!, app);
  // A node-exporter beside it, scraped at the same interval as the agent collects.
  let exporter: { sampler: Sampler; child: ChildProcess; timer: NodeJS.Timeout } | null = null;
  const exporterBin = nodeExporterPath();
  if (exporterBin) {
    const port = await freePort();
    const child = spawn(exporterBin, [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    children.push(child);
    await sleep(500);
    const scrape = () => http.get(`http://127.0.0.1:${port}/metrics`, (res) => res.resume()).on('error', () => {});
    scrape();
    exporter = { child, sampler: new Sampler(child.pid!, 'node-exporter'), timer: setInterval(scrape, w.collectionInterval * 1000) };
  }
  await sleep(durationS * 1000);
  stopWriters();
  sampler.stop();
  const stop = await stopChild(agent.child);
  let nodeExporter = null;
  if (exporter) {
    clearInterval(exporter.timer);
    exporter.sampler.stop();
    nodeExporter = exporter.sampler.summary(warmupS);
    await stopChild(exporter.child);
  }
  return { placement, workload: w.name, readyMs, ...sampler.summary(warmupS), stoppedInMs: stop.ms, exitCode: stop.code,
    rowsStored: await countRows(url, app), nodeExporter };
}

async function backlogScenario(url: string, placement: string, sizeMb: number) {
  const app = `fp-${placement}-backlog`;
  const dir = join(root, app);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const file = join(dir, 'logs', 'app.log');
  const fd = openSync(file, 'w');
  let written = 0;
  let lines = 0;
  let chunk = '';
  while (written < sizeMb * 1024 * 1024) {
    const l = logLine(lines++);
    chunk += l;
    written += Buffer.byteLength(l);
    if (chunk.length > 1 << 20) { writeSync(fd, chunk); chunk = ''; }
  }
  writeSync(fd, chunk);
  closeSync(fd);
  const size = statSync(file).size;
  const agent = spawnAgent(app, dir, { postgres_url: url, placement, collection_interval: 60, log_files: [file] });
  const t0 = performance.now();
  await agent.ready;
  const sampler = new Sampler(agent.child.pid!, app);
  const c = await connect(url);
  let caughtUpS: number | null = null;
  const limitS = argv.quick ? 240 : 900;
  try {
    while ((performance.now() - t0) / 1000 < limitS && agent.child.exitCode === null) {
      const r = await c.query<{ files: Array<{ offset: number }> }>('SELECT files FROM agent_checkpoints WHERE app_name = $1', [app]);
      const offset = r.rows[0]?.files?.[0]?.offset ?? 0;
      if (offset >= size) { caughtUpS = round((performance.now() - t0) / 1000); break; }
      await sleep(1000);
    }
  } finally { await c.end(); }
  sampler.stop();
  const exitedEarly = agent.child.exitCode;
  await stopChild(agent.child);
  const s = sampler.summary(0);
  return { placement, fileMb: round(size / 1048576), lines, caughtUpS, linesPerSecond: caughtUpS ? Math.round(lines / caughtUpS) : null,
    peakRssMb: s.vmHwmMb, rssMb: s.rssMb, privateMb: s.privateMb, cpuPercent: s.cpuPercent,
    ...(exitedEarly !== null ? { agentExitedWith: exitedEarly, log: agent.stderrTail.slice(-5) } : {}) };
}

async function main() {
  await pg.start();
  const url = pg.urlFor('observ_metrics');
  const c = await connect(url);
  try { await migrate(c); } finally { await c.end(); }
  const health = await startHealthServer();

  // Baselines: idle bare node, with and without the agent's flags, sampled beside the scenarios.
  const bare = spawnIdleNode(false);
  const bareFlags = spawnIdleNode(true);
  const bareSampler = new Sampler(bare.pid!, 'node');
  const bareFlagsSampler = new Sampler(bareFlags.pid!, 'node+flags');
  const modulesIdle = spawnAgentModulesIdle();
  const modulesIdleSampler = new Sampler(modulesIdle.pid!, 'agent modules, idle');

  const steady = [];
  for (const placement of argv.placements!.split(',')) {
    for (const name of argv.workloads!.split(',').filter(Boolean)) {
      const w = WORKLOADS[name];
      if (!w) throw new Error(`unknown workload ${name} (typical, busy)`);
      steady.push(await steadyScenario(url, placement, w, health.url));
    }
  }
  const backlog = [];
  if (!argv['no-backlog']) for (const placement of argv.placements!.split(',')) backlog.push(await backlogScenario(url, placement, Number(argv['backlog-mb'])));
  bareSampler.stop();
  bareFlagsSampler.stop();
  modulesIdleSampler.stop();
  health.close();

  const targets = steady.map((s) => ({
    placement: s.placement, workload: s.workload,
    cpu: { target: s.workload === 'typical' ? 0.5 : 2, average: s.cpuPercent.average },
    privateMb: { target: 25, median: s.privateMb.median },
    rssMb: { target: s.placement === 'compact' ? 50 : 60, median: s.rssMb.median, max: s.rssMb.max },
  })).map((t) => ({ ...t, pass: (t.cpu.average ?? 99) <= t.cpu.target && (t.privateMb.median ?? 99) <= t.privateMb.target && (t.rssMb.max ?? 99) <= t.rssMb.target }));
  const backlogTargets = backlog.map((b) => ({ placement: b.placement, peakRssMb: b.peakRssMb, target: 70, pass: (b.peakRssMb ?? 99) <= 70 && b.caughtUpS !== null }));

  const result = {
    bench: 'agent-footprint',
    node: process.version, platform: `${process.platform}-${process.arch}`,
    cpus: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || null,
    durationS, warmupS, sampleEveryS: 1,
    agentCommand: `node ${flags.join(' ')} bin/obs-agent.js APP --config … --state-dir …`,
    agentEnv,
    baseline: { idleNode: bareSampler.summary(warmupS), idleNodeWithAgentFlags: bareFlagsSampler.summary(warmupS),
      agentModulesLoadedIdle: modulesIdleSampler.summary(warmupS) },
    scenarios: steady,
    backlog,
    targets: { steady: targets, backlog: backlogTargets },
    note: 'agentModulesLoadedIdle: the agent\'s modules imported, nothing started (the floor under the scenarios)',
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

try {
  await main();
} finally {
  await cleanup();
}
