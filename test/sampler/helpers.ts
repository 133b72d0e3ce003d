// Shared by the collector tests: a validated-looking AgentConfig and an ActorContext that records.
import type { ActorContext } from '../../src/supervisor/actor.js';
import { DEFAULTS, type AgentConfig, type HealthCheckConfig } from '../../src/supervisor/config.js';
import type { CollectorMessage } from '../../src/supervisor/messages.js';

export function agentConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    app: 'demo',
    vpsName: 'test-vps',
    configFile: '/nonexistent/config.yml',
    stateDir: '/nonexistent/state',
    enabled: true,
    postgresUrl: 'postgresql://localhost/observ_test',
    collectionInterval: 10,
    healthChecks: [],
    logFiles: [],
    journalUnits: [],
    journalDirectory: null,
    flushInterval: 5,
    placement: 'compact',
    maxLineBytes: 64 * 1024,
    multiline: DEFAULTS.multiline,
    spoolMaxBytes: 1024 * 1024,
    dbTimeout: 30,
    dbIdleClose: 20,
    diskPath: '/',
    service: null,
    releaseDir: '/nonexistent/current',
    ...overrides,
  };
}

export function healthCheck(url: string, overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return {
    url,
    interval: 1,
    timeout: 1,
    method: 'GET',
    headers: {},
    expectStatus: [{ min: 200, max: 399 }],
    expectBody: null,
    followRedirects: false,
    ...overrides,
  };
}

export interface RecordingContext extends ActorContext {
  messages: CollectorMessage[];
  controller: AbortController;
  /** Resolves once `predicate` holds for the messages received so far (bounded by `timeoutMs`). */
  waitFor(predicate: (messages: CollectorMessage[]) => boolean, timeoutMs: number): Promise<void>;
}

export function recordingContext(): RecordingContext {
  const controller = new AbortController();
  const messages: CollectorMessage[] = [];
  const waiters = new Set<() => void>();
  return {
    messages,
    controller,
    signal: controller.signal,
    send(message) {
      messages.push(structuredClone(message));
      for (const w of [...waiters]) w();
    },
    waitFor(predicate, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(messages)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`condition not met within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
