// Shapes of the hub's JSON API as the dashboard reads them (mirrors src/hub/api/*; kept apart so the
// dashboard's type-check does not pull in server code).

export interface FleetCheck {
  url: string;
  success: boolean;
  statusCode: number | null;
  responseTimeMs: number | null;
  errorMessage: string | null;
  timestamp: string;
}

/** The app's own processes (mirrors FleetApp in src/hub/api/fleet.ts). */
export interface FleetApp {
  source: string;
  processes: number | null;
  cpuPercent: number | null;
  rssMb: number | null;
  threads: number | null;
  openFiles: number | null;
  restarts24h: number;
}

export interface FleetRow {
  vps: string;
  app: string;
  lastSeen: string;
  collectionInterval: number | null;
  stale: boolean;
  status: 'up' | 'down' | 'stale' | 'unknown';
  metricsAt: string | null;
  cpuPercent: number | null;
  memoryPercent: number | null;
  memoryMb: number | null;
  diskPercent: number | null;
  diskGb: number | null;
  loadAvg1m: number | null;
  loadAvg5m: number | null;
  loadAvg15m: number | null;
  appMetrics?: FleetApp | null;
  checks: FleetCheck[];
}

export type Series = { avg: (number | null)[]; max: (number | null)[] };

export interface MetricsResult {
  source: 'raw' | 'hourly';
  stepSeconds: number;
  t: number[];
  samples: number[];
  series: Partial<Record<'cpu' | 'cpuIowait' | 'memory' | 'swap' | 'disk' | 'load1' | 'load5' | 'load15' | 'netRxBps' | 'netTxBps' | 'diskReadBps' | 'diskWriteBps'
    | 'appCpu' | 'appRssMb' | 'appThreads' | 'appOpenFiles', Series>>;
  appRestarts?: number[];
  appSource?: string | null;
}

export interface HealthSeries {
  url: string;
  checks: number;
  failures: number;
  uptimePercent: number | null;
  t: number[];
  checksPerBucket: number[];
  failuresPerBucket: number[];
  latencyAvg: (number | null)[];
  latencyP95: (number | null)[];
  latencyMax: (number | null)[];
}

export interface HealthResult {
  source: 'raw' | 'hourly';
  stepSeconds: number;
  urls: HealthSeries[];
  failures: { timestamp: string; url: string; statusCode: number | null; responseTimeMs: number | null; errorMessage: string | null }[];
}

export interface LogEntry {
  id: string;
  timestamp: string;
  vps: string;
  app: string;
  level: string;
  logger: string | null;
  message: string;
  context: Record<string, unknown> | null;
  exception: Record<string, unknown> | null;
  flags: string[] | null;
  sourceFile: string | null;
  raw: string | null;
}

export interface LogSearchResult {
  entries: LogEntry[];
  nextCursor: string | null;
  partial: boolean;
  searchedBackTo: string | null;
  plan: { strategy: string; tsquery: string | null };
}

export interface CurrentAlert {
  kind: 'check_failing' | 'agent_silent' | 'disk_full';
  vps: string;
  app: string;
  since: string | null;
  message: string;
  detail: Record<string, unknown>;
}

export type LiveMessage =
  | { type: 'hello'; topics: string[] }
  | { type: 'subscribed'; topics: string[] }
  | { type: 'fleet'; rows: FleetRow[]; at: string }
  | { type: 'logs'; app: string; vps: string; entries: LogEntry[]; truncated: boolean }
  | { type: 'resync' };
