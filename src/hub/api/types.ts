// The JSON the hub's API sends, as types only: the one definition shared by the server code that
// builds these objects (src/hub/api/*, src/hub/alerting/api.ts, src/hub/live.ts) and the dashboard
// that reads them (src/hub/ui, whose own tsconfig includes this file). No imports and no values, so
// the dashboard's type-check and bundle never pull in server code.

// ── GET /api/fleet ──────────────────────────────────────────────────────────────────────────────

export interface FleetCheck {
  url: string;
  /** The latest result; null (with timestamp null) for a check the agent runs that has no result yet. */
  success: boolean | null;
  statusCode: number | null;
  responseTimeMs: number | null;
  errorMessage: string | null;
  timestamp: string | null;
  /** The agent's interval and timeout for this check (s); null from agents that do not store their checks. */
  intervalSeconds: number | null;
  timeoutSeconds: number | null;
}

/** The app's own processes in the latest sample (null from agents that do not measure them). */
export interface FleetApp {
  /** `unit:NAME.service` or `cwd:DIR`. */
  source: string;
  processes: number | null;
  /** Share of the whole machine, like the host's cpuPercent. */
  cpuPercent: number | null;
  rssMb: number | null;
  threads: number | null;
  openFiles: number | null;
  /** Main-process replacements seen in the last 24 hours. */
  restarts24h: number;
}

export type FleetStatus = 'up' | 'pending' | 'down' | 'stale' | 'unknown';

export interface FleetAlert {
  rule: string;
  type: string;
  status: 'pending' | 'firing';
  /** The URL or metric the alert is about ('' when none). */
  subject: string;
  severity: string;
  since: string | null;
}

export interface FleetRow {
  vps: string;
  app: string;
  lastSeen: string;
  collectionInterval: number | null;
  stale: boolean;
  status: FleetStatus;
  /** Open (pending or firing) alerts of this agent, by rule and subject. */
  alerts: FleetAlert[];
  metricsAt: string | null;
  cpuPercent: number | null;
  memoryPercent: number | null;
  memoryMb: number | null;
  diskPercent: number | null;
  diskGb: number | null;
  loadAvg1m: number | null;
  loadAvg5m: number | null;
  loadAvg15m: number | null;
  /** The app's own processes, apart from the host figures above. */
  appMetrics: FleetApp | null;
  checks: FleetCheck[];
}

// ── GET /api/metrics, GET /api/health ───────────────────────────────────────────────────────────

/** The first fields of every series result. */
export interface SeriesHeader {
  vps: string;
  app: string;
  from: string;
  to: string;
  source: 'raw' | 'hourly';
  stepSeconds: number;
}

export type MetricKey = 'cpu' | 'cpuIowait' | 'memory' | 'swap' | 'disk' | 'load1' | 'load5' | 'load15' | 'netRxBps' | 'netTxBps' |
  'diskReadBps' | 'diskWriteBps' | 'appCpu' | 'appRssMb' | 'appThreads' | 'appOpenFiles';

export type Series = { avg: (number | null)[]; max: (number | null)[] };

export interface MetricsResult extends SeriesHeader {
  /** Bucket starts, epoch seconds. */
  t: number[];
  samples: number[];
  series: Partial<Record<MetricKey, Series>>;
  /** Restarts of the app's main process per bucket (a sum, not an average); absent when the source has no such column. */
  appRestarts?: number[];
  /** Where the app's processes were found in the newest sample of the range (`unit:…`, `cwd:…`), null when not measured. */
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

export interface HealthFailure {
  timestamp: string;
  url: string;
  statusCode: number | null;
  responseTimeMs: number | null;
  errorMessage: string | null;
}

export interface HealthResult extends SeriesHeader {
  urls: HealthSeries[];
  /** The newest failures in the range (at most 200), always from raw rows. */
  failures: HealthFailure[];
}

// ── GET /api/logs ───────────────────────────────────────────────────────────────────────────────

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
  /** True when the time budget ran out before the page filled: nextCursor continues below searchedBackTo. */
  partial: boolean;
  searchedBackTo: string | null;
  /** How the query ran (for the curious and for bench/log-search.ts). */
  plan: {
    strategy: 'bitmap' | 'walk' | 'walk+bitmap'; estimatedRows: number; estimatedMatches: number; walkLimit: number | null; slices: number;
    /** Statements cut by their time bound (then shrunk and retried, or left for the next page). */
    cutStatements: number;
    elapsedMs: number;
    tsquery: string | null;
  };
}

// ── Alerting: GET /api/alerts (= /api/alerts/open), /api/alert-events, /api/alert-rules, … ──────

export type AlertStatus = 'pending' | 'firing' | 'resolved';
export type AlertEventKind = 'pending' | 'firing' | 'resolved' | 'cleared' | 'reminder' | 'acknowledged';

/** One alert (rule × vps × app × subject) and where its state machine stands. */
export interface AlertState {
  id: number;
  rule: string;
  type: string;
  vps: string;
  app: string;
  /** The url or metric; '' when the rule has none. */
  subject: string;
  status: AlertStatus;
  severity: string;
  summary: string;
  value: number | null;
  episode: number;
  pendingSince: string | null;
  firingSince: string | null;
  resolvedAt: string | null;
  notified: boolean;
  lastNotifiedAt: string | null;
  acknowledgedAt: string | null;
  /** The logged-in user's name, or "local" when the hub runs without a password on loopback. */
  acknowledgedBy: string | null;
  acknowledgedNote: string | null;
  /** Episodes of this alert in the last 24 h that went pending and cleared without firing: held back, nothing sent. */
  flaps24h: number;
  updatedAt: string;
}

export interface AlertsResult {
  generatedAt: string;
  alerts: AlertState[];
}

export interface AlertNotificationStatus {
  channel: string;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
}

export interface AlertEvent {
  id: number;
  alertId: number;
  timestamp: string;
  kind: AlertEventKind;
  episode: number;
  rule: string;
  type: string;
  vps: string;
  app: string;
  subject: string;
  severity: string;
  summary: string;
  value: number | null;
  observedAt: string | null;
  mutedBy: string | null;
  actor: string | null;
  context: unknown;
  notifications: AlertNotificationStatus[];
}

export interface AlertEventsResult {
  events: AlertEvent[];
  /** Pass as `before` for the next (older) page; null on the last. */
  nextBefore: number | null;
}

export interface ChannelStatus {
  name: string;
  type: string;
  /** The newest notification queued for this channel, null when none ever was. */
  lastDelivery: { status: 'pending' | 'sent' | 'failed'; at: string; error: string | null } | null;
}

/** A rule as the leader evaluates it: its definition's fields, plus these. */
export interface AlertRuleView {
  name: string;
  type: string;
  severity?: string;
  /** 'default' (built in) or `file:line`. */
  source?: string;
  /** The channels named in the rule; null = every configured channel. */
  channels?: string[] | null;
  recordedAt: string;
  firing: number;
  pending: number;
  /** The channels a firing alert of this rule notifies (resolved from `channels`); empty = nothing is sent. */
  notifies: string[];
  /** pending → cleared episodes of this rule's alerts in the last 24 h (held back, nothing sent). */
  flaps24h: number;
  [definition: string]: unknown;
}

export interface AlertRulesResult {
  leader: { instance: string; host: string; pid: number; since: string; heartbeat: string; configFile: string | null; channels: { name: string; type: string }[] } | null;
  /** The leader's channels and how their last delivery went. */
  channels: ChannelStatus[];
  rules: AlertRuleView[];
}

/** POST /api/alert-channels/:name/test */
export interface ChannelTestResult {
  channel: string;
  type: string;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  by: string;
}

export interface AckResult {
  alert: AlertState;
  alreadyAcknowledged: boolean;
}

// ── GET /api/session ────────────────────────────────────────────────────────────────────────────

export interface SessionState {
  authRequired: boolean;
  authenticated: boolean;
  /** Who actions are recorded as: the name given at login ("admin" by default), or "local" without auth. */
  user: string | null;
}

// ── /live (WebSocket) ───────────────────────────────────────────────────────────────────────────

export type LiveMessage =
  | { type: 'hello'; topics: string[]; tickMs?: number; at?: string }
  | { type: 'tick'; at: string }
  | { type: 'subscribed'; topics: string[] }
  | { type: 'fleet'; rows: FleetRow[]; at: string }
  | { type: 'logs'; app: string; vps: string; entries: LogEntry[]; truncated: boolean }
  | { type: 'resync' };

// ── Uptime per check (GET /api/uptime) and the public status page (GET /api/public/status) ─────────

export interface CheckUptime {
  vps: string;
  url: string;
  /** Percent of successful checks per window; null when there were none. */
  uptime: Record<'24h' | '7d' | '30d' | '90d', number | null>;
  /** The counts behind `uptime`. */
  counts: Record<'24h' | '7d' | '30d' | '90d', { checks: number; failures: number }>;
  /** 90 daily bars (UTC days), oldest first. */
  days: { day: string; checks: number; failures: number }[];
  /** The newest results, oldest first. */
  recent: { t: string; ok: boolean; ms: number | null }[];
}

export type PublicState = 'operational' | 'degraded' | 'down' | 'unknown';

export interface PublicStatus {
  title: string;
  generatedAt: string;
  state: PublicState;
  services: { name: string; state: PublicState; uptime: Record<'24h' | '7d' | '30d' | '90d', number | null>; days: { day: string; uptime: number | null }[] }[];
  incidents: { service: string; title: string; startedAt: string; resolvedAt: string | null; durationSeconds: number }[];
}

// ── GET /api/deployments ────────────────────────────────────────────────────────────────────────

/** A release going live (migration 070): the agent saw the release symlink change, or `observ deploy` said so. */
export interface Deployment {
  id: number;
  timestamp: string;
  vps: string;
  app: string;
  version: string | null;
  release: string | null;
  previousRelease: string | null;
  /** The version of this vps/app's deploy before this one (null for its first). */
  previousVersion: string | null;
  source: 'symlink' | 'cli';
}

export interface DeploymentsResult {
  deployments: Deployment[];
  /** True when `limit` cut the list (the newest are kept). */
  truncated: boolean;
}

// ── GET /api/read-replica (also in GET /api/status as readReplica) ──────────────────────────────

export interface ReadReplicaStatus {
  /** Whether the hub was given a read replica (OBSERV_DB_READ_URL). */
  configured: boolean;
  /** off: none given; starting: not checked yet; streaming: a replica answering; unreachable: reads fell back to the primary. */
  state: 'off' | 'starting' | 'streaming' | 'unreachable' | 'not-a-replica';
  /** Where dashboard reads (charts, health, uptime, log search, public status) go now. */
  readsFrom: 'primary' | 'replica';
  /** Seconds since the primary had written what the replica has not replayed yet (0 when current; null when unknown). */
  lagSeconds: number | null;
  /** WAL bytes between the primary's position and the replica's replay position. */
  lagBytes: number | null;
  /** Replay paused on the replica (pg_wal_replay_pause()). */
  replayPaused: boolean | null;
  /** lagSeconds past the hub's threshold (5 s): the dashboard shows it. */
  lagging: boolean;
  checkedAt: string | null;
  /** Why the replica is not used, when it is unreachable. */
  error: string | null;
}

/** GET /api/anomalies: one anomaly episode (src/hub/api/anomalies.ts). */
export type { AnomalyEpisode } from './anomalies.js';
