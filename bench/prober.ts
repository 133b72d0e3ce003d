// Probe cost and deadline accuracy: probeOnce (node:http, fresh connection, own deadline) beside
// the global fetch (undici, AbortSignal.timeout) as the baseline, against servers on 127.0.0.1.
// Prints one JSON object. Usage: node dist/bench/prober.js [probes=300] [hangs=5]

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { probeOnce, type ProbeTarget } from '../src/workers/prober/probe.js';

const probes = Number(process.argv[2] ?? 300);
const hangs = Number(process.argv[3] ?? 5);
const timeoutMs = 1000;

const server = http.createServer((req, res) => {
  if (req.url === '/hang') return;
  res.end('{"status":"ok"}');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const target = (path: string): ProbeTarget => ({
  url: `${base}${path}`, timeout: timeoutMs / 1000, method: 'GET', headers: {},
  expectStatus: [{ min: 200, max: 399 }], expectBody: { kind: 'substring', value: 'ok', flags: '' }, followRedirects: false,
});

async function viaFetch(path: string): Promise<{ ok: boolean; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
    const body = await res.text();
    return { ok: res.ok && body.includes('ok'), ms: performance.now() - t0 };
  } catch {
    return { ok: false, ms: performance.now() - t0 };
  }
}

async function cpuPerProbe(run: () => Promise<boolean>): Promise<{ cpuMicrosPerProbe: number; wallMsPerProbe: number; failures: number }> {
  for (let i = 0; i < 20; i++) await run();
  let failures = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < probes; i++) if (!(await run())) failures++;
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuMicrosPerProbe: Math.round((cpu.user + cpu.system) / probes), wallMsPerProbe: Math.round((wall / probes) * 100) / 100, failures };
}

/** How late the deadline fires: measured elapsed time minus the deadline, in ms. */
async function lateness(run: () => Promise<number>): Promise<{ medianMs: number; maxMs: number }> {
  const late: number[] = [];
  for (let i = 0; i < hangs; i++) late.push((await run()) - timeoutMs);
  late.sort((a, b) => a - b);
  return { medianMs: Math.round(late[Math.floor(late.length / 2)]! * 10) / 10, maxMs: Math.round(late.at(-1)! * 10) / 10 };
}

const ours = await cpuPerProbe(async () => (await probeOnce(target('/health'))).success);
const oursLate = await lateness(async () => (await probeOnce(target('/hang'))).responseTimeMs ?? NaN);
const theirs = await cpuPerProbe(async () => (await viaFetch('/health')).ok);
const theirsLate = await lateness(async () => (await viaFetch('/hang')).ms);

server.closeAllConnections();
server.close();
process.stdout.write(`${JSON.stringify({
  scenario: 'one health probe on 127.0.0.1 (fresh connection each)',
  node: process.version,
  probes,
  probeOnce_node_http: { ...ours, deadlineLateness: oursLate },
  baseline_fetch_undici: { ...theirs, deadlineLateness: theirsLate },
}, null, 2)}\n`);
