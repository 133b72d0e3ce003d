// A batch as one agent flush carries it: one sample, one probe result, `logs` parsed lines, one event.
import type { Batch } from '../../src/workers/writer/writer.js';

export function batch(seq: number, logs: number): Batch {
  const now = new Date().toISOString();
  return { seq, createdAt: now,
    metrics: [{ timestamp: now, cpuPercent: 12, cpuUser: 8, cpuSystem: 4, cpuIowait: 0, cpuSteal: 0, memoryPercent: 40, memoryMb: 800, memoryAvailableMb: 1200,
      swapPercent: 0, swapUsedMb: 0, diskPercent: 55, diskGb: 20, diskFreeGb: 16, diskReadBps: 0, diskWriteBps: 0, netRxBps: 100, netTxBps: 50,
      loadAvg1m: 0.5, loadAvg5m: 0.4, loadAvg15m: 0.3, uptimeSeconds: 1000, mounts: [] }],
    probes: [{ timestamp: now, url: 'http://127.0.0.1:8000/health', statusCode: 200, responseTimeMs: 3, success: true, errorMessage: null, certDaysLeft: null }],
    logs: Array.from({ length: logs }, (_, i) => ({ timestamp: now, level: 'INFO', logger: 'shop', message: `request handled path=/api/orders/${i} status=200`,
      context: { request_id: i }, exception: null, flags: [], raw: null, sourceFile: '/var/log/shop.log' })),
    events: [{ timestamp: now, kind: 'bench', detail: {} }],
    files: [{ path: '/var/log/shop.log', identity: { dev: 1, ino: 2, fingerprint: 'ab' }, offset: seq * 100 }] };
}
