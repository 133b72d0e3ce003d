// First version of the prober (node:http, one deadline per probe); the collectors issue deepens it.
import http from 'node:http';
import https from 'node:https';
import type { ActorFactory } from '../../supervisor/actor.js';
import type { HealthCheckConfig } from '../../supervisor/config.js';
import type { ProbeResult } from '../../supervisor/messages.js';

export function probeOnce(check: HealthCheckConfig): Promise<ProbeResult> {
  const started = Date.now();
  const timeoutMs = check.timeout * 1000;
  return new Promise((resolve) => {
    const done = (statusCode: number | null, error: string | null, success: boolean) =>
      resolve({ timestamp: new Date(started).toISOString(), url: check.url, statusCode, responseTimeMs: Date.now() - started,
        success, errorMessage: error, certDaysLeft: null });
    const signal = AbortSignal.timeout(timeoutMs);
    const lib = check.url.startsWith('https:') ? https : http;
    const req = lib.request(check.url, { method: check.method, headers: check.headers, signal, agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const ok = check.expectStatus.some((r) => code >= r.min && code <= r.max);
        done(code, ok ? null : `HTTP ${code}`, ok);
      });
      res.on('error', () => done(res.statusCode ?? null, signal.aborted ? `timeout after ${timeoutMs} ms` : 'response aborted', false));
    });
    req.on('error', (err: NodeJS.ErrnoException) => done(null, signal.aborted ? `timeout after ${timeoutMs} ms` : (err.code ?? err.message), false));
    req.end();
  });
}

export const createProber: ActorFactory = (start, ctx) => {
  const timers: NodeJS.Timeout[] = [];
  return {
    name: 'prober',
    async start() {
      for (const check of start.config.healthChecks) {
        const run = () => { void probeOnce(check).then((result) => { if (!ctx.signal.aborted) ctx.send({ type: 'PROBE', result }); }); };
        timers.push(setTimeout(run, 500));
        timers.push(setInterval(run, check.interval * 1000));
      }
    },
    handle() {},
    async stop() { for (const t of timers) clearInterval(t); },
  };
};
