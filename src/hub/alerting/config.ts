// Alerting configuration (`alerts.yml` on the hub). Validated once, without touching the network,
// into a deep-frozen object with defaults filled in; every error names the file, the line and the
// field path (`alerts.yml:12 rules[1].condition …`). With no file at all, the default rules apply
// and nothing is sent (no channels), but every alert is still recorded and visible in the API.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, ObservError } from '../../errors.js';
import { deepFreeze, parseYamlConfig, type PathSeg, type YamlConfigDocument } from '../../yaml-config.js';

export type RuleType = 'health_check' | 'metric' | 'agent_silent' | 'log_error_rate' | 'cert_expiry' | 'anomaly';
export type Severity = 'critical' | 'warning' | 'info';
export type CompareOp = '>' | '>=' | '<' | '<=';

/** Glob patterns (`*`, `?`); an empty list matches everything. */
export interface Scope {
  vps: readonly string[];
  app: readonly string[];
}

interface RuleBase {
  name: string;
  type: RuleType;
  severity: Severity;
  scope: Scope;
  /** Channel names; null = every configured channel. */
  channels: readonly string[] | null;
  /** Re-notify a firing, unacknowledged alert this often; 0 = never. */
  reminderIntervalMs: number;
  /** Where the rule came from: 'default' or `file:line`. */
  source: string;
}

export interface HealthCheckRule extends RuleBase {
  type: 'health_check';
  /** Consecutive failures before firing (Gatus failure-threshold, Kuma retries + 1). */
  failures: number;
  /** Consecutive successes before resolving. */
  successes: number;
  urls: readonly string[];
}

export interface MetricRule extends RuleBase {
  type: 'metric';
  /** The condition as written, e.g. `disk_percent > 90 for 5m`. */
  condition: string;
  metric: MetricName;
  op: CompareOp;
  threshold: number;
  /** The condition must hold on every sample for this long before firing; 0 = first sample. */
  forMs: number;
}

export interface AgentSilentRule extends RuleBase {
  type: 'agent_silent';
  /** Silent for longer than this many collection intervals (agent_checkpoints.collection_interval). */
  intervals: number;
}

export interface LogErrorRateRule extends RuleBase {
  type: 'log_error_rate';
  /** Lines per minute, averaged over `windowMs`, above which the rule fires. */
  perMinute: number;
  windowMs: number;
  levels: readonly string[];
}

export interface CertExpiryRule extends RuleBase {
  type: 'cert_expiry';
  /** Fires when the certificate expires in fewer than this many days. */
  days: number;
  urls: readonly string[];
}

/** Fires while the hub's anomaly detector holds an episode open on a matching series (docs/anomaly.md). */
export interface AnomalyRule extends RuleBase {
  type: 'anomaly';
  /** Glob patterns over series names (cpu_percent, health_latency_ms, …); empty = every series. */
  series: readonly string[];
  /** The episode must have lasted this long before firing; 0 = at once (the detector has its own hysteresis). */
  forMs: number;
  /** Only episodes whose peak is at least this many robust sigmas from the baseline. */
  minScore: number;
}

export type AlertRule = HealthCheckRule | MetricRule | AgentSilentRule | LogErrorRateRule | CertExpiryRule | AnomalyRule;

export interface SlackChannel {
  name: string;
  type: 'slack';
  webhookUrl: string;
}

export interface WebhookChannel {
  name: string;
  type: 'webhook';
  url: string;
  /** HMAC-SHA256 key for `X-Observ-Signature: sha256=<hex>`; null = unsigned. */
  secret: string | null;
  headers: Readonly<Record<string, string>>;
}

export interface EmailChannel {
  name: string;
  type: 'email';
  host: string;
  port: number;
  /** true = TLS from the first byte (port 465); false = STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send unless STARTTLS succeeds (ignored when `secure`). */
  requireTls: boolean;
  user: string | null;
  password: string | null;
  from: string;
  to: readonly string[];
  /** false only for test servers with self-signed certificates. */
  rejectUnauthorized: boolean;
}

export type Channel = SlackChannel | WebhookChannel | EmailChannel;

export type MaintenanceWindow = {
  name: string;
  scope: Scope;
  /** Rule names; empty = all rules. */
  rules: readonly string[];
} & ({ kind: 'once'; startMs: number; endMs: number } | {
  kind: 'recurring';
  /** 0 = Sunday … 6 = Saturday. */
  days: readonly number[];
  /** Minutes after local midnight. */
  startMinute: number;
  durationMs: number;
  timezone: string;
});

export interface DeliveryConfig {
  /** Attempts per notification and channel before it is marked failed. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** One deadline per attempt: connect, send, response. */
  timeoutMs: number;
  /** How often the leader looks for due notifications (it also looks right after an evaluation). */
  pollMs: number;
}

export interface AlertConfig {
  file: string | null;
  evaluationIntervalMs: number;
  /** How often a hub that is not the leader tries to become it. */
  leaderPollMs: number;
  /** Error lines carried in a firing notification. */
  contextLines: number;
  delivery: DeliveryConfig;
  channels: readonly Channel[];
  rules: readonly AlertRule[];
  maintenance: readonly MaintenanceWindow[];
}

export const METRICS = ['cpu_percent', 'memory_percent', 'memory_mb', 'disk_percent', 'disk_gb', 'load_avg_1m', 'load_avg_5m',
  'load_avg_15m', 'cpu_user', 'cpu_system', 'cpu_iowait', 'cpu_steal', 'memory_available_mb', 'swap_percent', 'swap_used_mb',
  'disk_free_gb', 'disk_read_bps', 'disk_write_bps', 'net_rx_bps', 'net_tx_bps',
  // The app's own processes (migration 050).
  'app_cpu_percent', 'app_rss_mb', 'app_threads', 'app_open_files', 'app_processes'] as const;
export type MetricName = typeof METRICS[number];

export const ALERT_DEFAULTS = {
  evaluationIntervalMs: 30_000,
  leaderPollMs: 5_000,
  contextLines: 5,
  reminderIntervalMs: 0,
  healthFailures: 3,
  healthSuccesses: 2,
  silentIntervals: 3,
  errorRatePerMinute: 10,
  errorRateWindowMs: 5 * 60_000,
  errorLevels: ['ERROR', 'FATAL', 'CRITICAL'],
  certDays: 14,
  anomalyForMs: 0,
  anomalyMinScore: 0,
  delivery: { maxAttempts: 10, initialBackoffMs: 5_000, maxBackoffMs: 30 * 60_000, timeoutMs: 10_000, pollMs: 2_000 },
};

const everywhere: Scope = { vps: [], app: [] };
const defaultBase = { severity: 'warning' as Severity, scope: everywhere, channels: null, reminderIntervalMs: 0, source: 'default' };

/** The rules that apply with no configuration. A configured rule with the same name replaces one. */
export const DEFAULT_RULES: readonly AlertRule[] = [
  { ...defaultBase, name: 'health-check-failing', type: 'health_check', severity: 'critical', failures: 3, successes: 2, urls: [] },
  { ...defaultBase, name: 'agent-silent', type: 'agent_silent', severity: 'critical', intervals: 3 },
  { ...defaultBase, name: 'disk-full', type: 'metric', condition: 'disk_percent > 90 for 5m', metric: 'disk_percent', op: '>', threshold: 90, forMs: 300_000 },
  { ...defaultBase, name: 'memory-high', type: 'metric', condition: 'memory_percent > 95 for 10m', metric: 'memory_percent', op: '>', threshold: 95, forMs: 600_000 },
  { ...defaultBase, name: 'log-error-rate', type: 'log_error_rate', perMinute: 10, windowMs: 300_000, levels: ALERT_DEFAULTS.errorLevels },
  { ...defaultBase, name: 'tls-cert-expiring', type: 'cert_expiry', days: 14, urls: [] },
];

export function defaultAlertConfig(): AlertConfig {
  return deepFreeze({
    file: null,
    evaluationIntervalMs: ALERT_DEFAULTS.evaluationIntervalMs,
    leaderPollMs: ALERT_DEFAULTS.leaderPollMs,
    contextLines: ALERT_DEFAULTS.contextLines,
    delivery: { ...ALERT_DEFAULTS.delivery },
    channels: [],
    rules: DEFAULT_RULES.map((r) => ({ ...r })),
    maintenance: [],
  });
}

/** `30s`, `5m`, `1h30m`, `250ms`, `2d`, or a bare number of seconds. Returns null when invalid. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  if (typeof value !== 'string') return null;
  const s = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(s)) return /^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s) * 1000) : null;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return Math.round(total);
}

/** Human form of a duration for messages: 300000 → "5m", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (s >= n) { parts.push(`${Math.floor(s / n)}${u}`); s %= n; }
  }
  return parts.join('');
}

/** Parses `metric op number [for duration]`. Returns an error message instead when invalid. */
export function parseCondition(text: string): { metric: MetricName; op: CompareOp; threshold: number; forMs: number } | string {
  const m = /^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(?:for\s+(\S+))?\s*$/.exec(text);
  if (!m) return `must look like "disk_percent > 90 for 5m" (metric, >, >=, < or <=, a number, optional "for <duration>")`;
  if (!(METRICS as readonly string[]).includes(m[1]!)) return `names an unknown metric "${m[1]}" (one of ${METRICS.join(', ')})`;
  const forMs = m[4] === undefined ? 0 : parseDuration(m[4]);
  if (forMs === null) return `has an invalid duration "${m[4]}" (e.g. 30s, 5m, 1h)`;
  return { metric: m[1] as MetricName, op: m[2] as CompareOp, threshold: Number(m[3]), forMs };
}

export interface LoadAlertOptions {
  env?: NodeJS.ProcessEnv;
  warn?: (message: string) => void;
}

/** Reads and validates an alerts file. Throws ConfigError (OBS_ERR_CONFIG) naming file:line field. */
export function loadAlertConfig(file: string, options: LoadAlertOptions = {}): AlertConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ObservError('OBS_ERR_CONFIG_NOT_FOUND', `alerting config not found: ${path} (${(err as NodeJS.ErrnoException).code ?? err})`, { cause: err });
  }
  return parseAlertConfig(text, path, options);
}

const TOP_KEYS = ['evaluation_interval', 'leader_poll_interval', 'reminder_interval', 'context_lines', 'default_rules', 'delivery',
  'channels', 'rules', 'maintenance'];
const RULE_KEYS: Record<RuleType, string[]> = {
  health_check: ['failures', 'successes', 'url'],
  metric: ['condition'],
  agent_silent: ['intervals'],
  log_error_rate: ['threshold', 'window', 'levels'],
  cert_expiry: ['days', 'url'],
  anomaly: ['series', 'for', 'min_score'],
};
const COMMON_RULE_KEYS = ['name', 'type', 'severity', 'vps', 'app', 'channels', 'reminder_interval', 'enabled'];
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export function parseAlertConfig(text: string, file: string, options: LoadAlertOptions = {}): AlertConfig {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  return parseYamlConfig(text, file, { warn }, (doc) => build(doc, options.env ?? process.env));
}

function build({ file, root: parsed, issues, fail, lineOf, warnUnknown, expand: expandVars }: YamlConfigDocument, env: NodeJS.ProcessEnv): AlertConfig {
  const expand = (value: string, path: PathSeg[]): string => expandVars(value, path, env);
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const given = (obj: Record<string, unknown>, key: string) => obj[key] !== undefined && obj[key] !== null;

  const duration = (obj: Record<string, unknown>, key: string, path: PathSeg[], dflt: number, minMs = 0): number => {
    if (!given(obj, key)) return dflt;
    const v = parseDuration(obj[key]);
    if (v === null) { fail([...path, key], `must be a duration like 30s, 5m, 1h (got ${JSON.stringify(obj[key])})`); return dflt; }
    if (v < minMs) { fail([...path, key], `must be ≥ ${formatDuration(minMs)} (got ${JSON.stringify(obj[key])})`); return dflt; }
    return v;
  };
  const num = (obj: Record<string, unknown>, key: string, path: PathSeg[], dflt: number, min: number, max: number, integer: boolean): number => {
    if (!given(obj, key)) return dflt;
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      fail([...path, key], `must be ${integer ? 'an integer' : 'a number'} (got ${JSON.stringify(v)})`); return dflt;
    }
    if (v < min) { fail([...path, key], `must be ≥ ${min} (got ${v})`); return dflt; }
    if (v > max) { fail([...path, key], `must be ≤ ${max} (got ${v})`); return dflt; }
    return v;
  };
  const str = (obj: Record<string, unknown>, key: string, path: PathSeg[], required: boolean): string | null => {
    if (!given(obj, key) || obj[key] === '') { if (required) fail([...path, key], 'is required'); return null; }
    const v = obj[key];
    if (typeof v !== 'string' && typeof v !== 'number') { fail([...path, key], 'must be a string'); return null; }
    return expand(String(v), [...path, key]);
  };
  const strList = (obj: Record<string, unknown>, key: string, path: PathSeg[]): string[] => {
    if (!given(obj, key)) return [];
    const v = obj[key];
    const items = Array.isArray(v) ? v : [v];
    const out: string[] = [];
    items.forEach((item, i) => {
      if (typeof item !== 'string' || !item) fail(Array.isArray(v) ? [...path, key, i] : [...path, key], 'must be a non-empty string or a list of them');
      else out.push(item);
    });
    return out;
  };
  const httpUrl = (value: string | null, path: PathSeg[]): string => {
    if (value === null) return '';
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(path, `must be http:// or https:// (got ${u.protocol})`);
    } catch { fail(path, 'is not a valid URL'); }
    return value;
  };

  const root = parsed ?? {};
  if (!isObj(root)) { fail([], 'the file must be a mapping (channels:, rules:, maintenance:)'); throw new ConfigError(issues); }
  warnUnknown(root, TOP_KEYS, []);

  const evaluationIntervalMs = duration(root, 'evaluation_interval', [], ALERT_DEFAULTS.evaluationIntervalMs, 50);
  const leaderPollMs = duration(root, 'leader_poll_interval', [], ALERT_DEFAULTS.leaderPollMs, 50);
  const reminderIntervalMs = duration(root, 'reminder_interval', [], ALERT_DEFAULTS.reminderIntervalMs);
  const contextLines = num(root, 'context_lines', [], ALERT_DEFAULTS.contextLines, 0, 50, true);
  let defaultRules = true;
  if (given(root, 'default_rules')) {
    if (typeof root.default_rules !== 'boolean') fail(['default_rules'], 'must be true or false');
    else defaultRules = root.default_rules;
  }

  const delivery: DeliveryConfig = { ...ALERT_DEFAULTS.delivery };
  if (given(root, 'delivery')) {
    const d = root.delivery;
    const p = ['delivery'];
    if (!isObj(d)) fail(p, 'must be a mapping');
    else {
      warnUnknown(d, ['max_attempts', 'initial_backoff', 'max_backoff', 'timeout', 'poll_interval'], p);
      delivery.maxAttempts = num(d, 'max_attempts', p, delivery.maxAttempts, 1, 1000, true);
      delivery.initialBackoffMs = duration(d, 'initial_backoff', p, delivery.initialBackoffMs, 10);
      delivery.maxBackoffMs = duration(d, 'max_backoff', p, delivery.maxBackoffMs, 10);
      delivery.timeoutMs = duration(d, 'timeout', p, delivery.timeoutMs, 100);
      delivery.pollMs = duration(d, 'poll_interval', p, delivery.pollMs, 20);
      if (delivery.maxBackoffMs < delivery.initialBackoffMs) fail([...p, 'max_backoff'], 'must be ≥ initial_backoff');
    }
  }

  const scopeOf = (obj: Record<string, unknown>, path: PathSeg[]): Scope => ({ vps: strList(obj, 'vps', path), app: strList(obj, 'app', path) });

  // Channels.
  const channels: Channel[] = [];
  if (given(root, 'channels')) {
    if (!Array.isArray(root.channels)) fail(['channels'], 'must be a list of channels');
    else root.channels.forEach((raw: unknown, i: number) => {
      const p: PathSeg[] = ['channels', i];
      if (!isObj(raw)) { fail(p, 'must be a mapping with name and type'); return; }
      const name = str(raw, 'name', p, true) ?? '';
      if (name && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) fail([...p, 'name'], 'must be letters, digits, ".", "_" or "-"');
      if (name && channels.some((c) => c.name === name)) fail([...p, 'name'], `is used twice ("${name}")`);
      switch (raw.type) {
        case 'slack':
          warnUnknown(raw, ['name', 'type', 'webhook_url'], p);
          channels.push({ name, type: 'slack', webhookUrl: httpUrl(str(raw, 'webhook_url', p, true), [...p, 'webhook_url']) });
          break;
        case 'webhook': {
          warnUnknown(raw, ['name', 'type', 'url', 'secret', 'headers'], p);
          const headers: Record<string, string> = {};
          if (given(raw, 'headers')) {
            if (!isObj(raw.headers)) fail([...p, 'headers'], 'must be a mapping of header names to values');
            else for (const [k, v] of Object.entries(raw.headers)) {
              if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) fail([...p, 'headers', k], 'is not a valid header name');
              else if (typeof v !== 'string' && typeof v !== 'number') fail([...p, 'headers', k], 'must be a string');
              else headers[k] = expand(String(v), [...p, 'headers', k]);
            }
          }
          channels.push({ name, type: 'webhook', url: httpUrl(str(raw, 'url', p, true), [...p, 'url']), secret: str(raw, 'secret', p, false), headers });
          break;
        }
        case 'email': {
          warnUnknown(raw, ['name', 'type', 'host', 'port', 'secure', 'require_tls', 'user', 'password', 'from', 'to', 'reject_unauthorized'], p);
          const bool = (key: string, dflt: boolean) => {
            if (!given(raw, key)) return dflt;
            if (typeof raw[key] !== 'boolean') { fail([...p, key], 'must be true or false'); return dflt; }
            return raw[key] as boolean;
          };
          const secure = bool('secure', false);
          const to = strList(raw, 'to', p).map((t, j) => expand(t, [...p, 'to', j]));
          if (!to.length) fail([...p, 'to'], 'is required (one address or a list)');
          const from = str(raw, 'from', p, true) ?? '';
          const user = str(raw, 'user', p, false);
          const password = str(raw, 'password', p, false);
          if ((user === null) !== (password === null)) fail([...p, user === null ? 'user' : 'password'], 'user and password go together');
          channels.push({
            name, type: 'email', host: str(raw, 'host', p, true) ?? '', port: num(raw, 'port', p, secure ? 465 : 587, 1, 65535, true),
            secure, requireTls: bool('require_tls', !secure), user, password, from, to, rejectUnauthorized: bool('reject_unauthorized', true),
          });
          break;
        }
        default:
          fail([...p, 'type'], `must be slack, webhook or email (got ${JSON.stringify(raw.type)})`);
      }
    });
  }
  const channelNames = new Set(channels.map((c) => c.name));

  // Rules.
  const configured: AlertRule[] = [];
  const disabled = new Set<string>();
  if (given(root, 'rules')) {
    if (!Array.isArray(root.rules)) fail(['rules'], 'must be a list of rules');
    else root.rules.forEach((raw: unknown, i: number) => {
      const p: PathSeg[] = ['rules', i];
      if (!isObj(raw)) { fail(p, 'must be a mapping with name and type'); return; }
      const name = str(raw, 'name', p, true) ?? '';
      if (name && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) fail([...p, 'name'], 'must be letters, digits, ".", "_" or "-"');
      if (name && configured.some((r) => r.name === name)) fail([...p, 'name'], `is used twice ("${name}")`);
      if (given(raw, 'enabled') && typeof raw.enabled !== 'boolean') fail([...p, 'enabled'], 'must be true or false');
      if (raw.enabled === false) { disabled.add(name); return; }
      // `type` may be left out when the name is a default rule's: that overrides the default's settings.
      const fallback = DEFAULT_RULES.find((r) => r.name === name);
      const type = (raw.type ?? fallback?.type) as RuleType;
      if (!(type in RULE_KEYS)) { fail([...p, 'type'], `must be one of ${Object.keys(RULE_KEYS).join(', ')} (got ${JSON.stringify(raw.type)})`); return; }
      if (fallback && fallback.type !== type) fail([...p, 'type'], `must be ${fallback.type} (the default rule "${name}" has that type), or choose another name`);
      warnUnknown(raw, [...COMMON_RULE_KEYS, ...RULE_KEYS[type]], p);
      let severity: Severity = fallback?.severity ?? 'warning';
      if (given(raw, 'severity')) {
        if (raw.severity === 'critical' || raw.severity === 'warning' || raw.severity === 'info') severity = raw.severity;
        else fail([...p, 'severity'], 'must be critical, warning or info');
      }
      let ruleChannels: string[] | null = null;
      if (given(raw, 'channels')) {
        ruleChannels = strList(raw, 'channels', p);
        ruleChannels.forEach((c, j) => { if (!channelNames.has(c)) fail([...p, 'channels', j], `names no configured channel ("${c}")`); });
      }
      const base = {
        name, severity, scope: scopeOf(raw, p), channels: ruleChannels,
        reminderIntervalMs: duration(raw, 'reminder_interval', p, reminderIntervalMs), source: `${file}:${lineOf(p) ?? '?'}`,
      };
      const fb = fallback as Record<string, unknown> | undefined;
      switch (type) {
        case 'health_check':
          configured.push({ ...base, type, urls: strList(raw, 'url', p),
            failures: num(raw, 'failures', p, ALERT_DEFAULTS.healthFailures, 1, 1000, true),
            successes: num(raw, 'successes', p, ALERT_DEFAULTS.healthSuccesses, 1, 1000, true) });
          break;
        case 'metric': {
          const text = str(raw, 'condition', p, !fb);
          const parsed = parseCondition(text ?? (fb?.condition as string | undefined) ?? '');
          if (typeof parsed === 'string') { if (text !== null) fail([...p, 'condition'], parsed); return; }
          configured.push({ ...base, type, condition: text ?? (fb!.condition as string), ...parsed });
          break;
        }
        case 'agent_silent':
          configured.push({ ...base, type, intervals: num(raw, 'intervals', p, ALERT_DEFAULTS.silentIntervals, 1, 10_000, false) });
          break;
        case 'log_error_rate': {
          const levels = given(raw, 'levels') ? strList(raw, 'levels', p).map((l) => l.toUpperCase()) : ALERT_DEFAULTS.errorLevels;
          configured.push({ ...base, type, levels,
            perMinute: num(raw, 'threshold', p, ALERT_DEFAULTS.errorRatePerMinute, 0, 1e9, false),
            windowMs: duration(raw, 'window', p, ALERT_DEFAULTS.errorRateWindowMs, 1000) });
          break;
        }
        case 'cert_expiry':
          configured.push({ ...base, type, urls: strList(raw, 'url', p), days: num(raw, 'days', p, ALERT_DEFAULTS.certDays, 0, 3650, false) });
          break;
        case 'anomaly':
          configured.push({ ...base, type, series: strList(raw, 'series', p), forMs: duration(raw, 'for', p, ALERT_DEFAULTS.anomalyForMs),
            minScore: num(raw, 'min_score', p, ALERT_DEFAULTS.anomalyMinScore, 0, 1e6, false) });
          break;
      }
    });
  }
  const rules: AlertRule[] = [];
  if (defaultRules) {
    for (const r of DEFAULT_RULES) {
      if (disabled.has(r.name) || configured.some((c) => c.name === r.name)) continue;
      rules.push({ ...r, reminderIntervalMs });
    }
  }
  rules.push(...configured);

  // Maintenance windows.
  const maintenance: MaintenanceWindow[] = [];
  if (given(root, 'maintenance')) {
    if (!Array.isArray(root.maintenance)) fail(['maintenance'], 'must be a list of windows');
    else root.maintenance.forEach((raw: unknown, i: number) => {
      const p: PathSeg[] = ['maintenance', i];
      if (!isObj(raw)) { fail(p, 'must be a mapping'); return; }
      warnUnknown(raw, ['name', 'vps', 'app', 'rules', 'start', 'end', 'days', 'at', 'duration', 'timezone'], p);
      const name = str(raw, 'name', p, false) ?? `maintenance[${i}]`;
      const ruleNames = strList(raw, 'rules', p);
      ruleNames.forEach((r, j) => { if (!rules.some((x) => x.name === r)) fail([...p, 'rules', j], `names no rule ("${r}")`); });
      const common = { name, scope: scopeOf(raw, p), rules: ruleNames };
      if (given(raw, 'start') || given(raw, 'end')) {
        const when = (key: string): number => {
          const v = raw[key];
          const ms = v instanceof Date ? v.getTime() : typeof v === 'string' && /\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v) && /(Z|[+-]\d\d:?\d\d)$/.test(v) ? Date.parse(v) : NaN;
          if (!Number.isFinite(ms)) fail([...p, key], 'must be an ISO date-time with a time zone (2025-07-01T22:00:00Z)');
          return ms;
        };
        const startMs = when('start');
        const endMs = when('end');
        if (Number.isFinite(startMs) && Number.isFinite(endMs) && endMs <= startMs) fail([...p, 'end'], 'must be after start');
        maintenance.push({ ...common, kind: 'once', startMs, endMs });
        return;
      }
      const at = str(raw, 'at', p, true);
      const hm = at === null ? null : /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(at);
      if (at !== null && !hm) fail([...p, 'at'], 'must be a local time HH:MM (e.g. "03:00")');
      const durationMs = duration(raw, 'duration', p, 0, 60_000);
      if (!given(raw, 'duration')) fail([...p, 'duration'], 'is required (e.g. 2h)');
      let days = [0, 1, 2, 3, 4, 5, 6];
      if (given(raw, 'days')) {
        const list = strList(raw, 'days', p).map((d) => d.toLowerCase().slice(0, 3));
        if (!(list.length === 1 && (list[0] === 'dai' || list[0] === 'eve'))) {
          days = [];
          list.forEach((d, j) => {
            const n = DAY_NAMES.indexOf(d);
            if (n < 0) fail([...p, 'days', j], 'must be a day name (mon … sun) or "daily"');
            else days.push(n);
          });
        }
      }
      const timezone = str(raw, 'timezone', p, false) ?? 'UTC';
      try { new Intl.DateTimeFormat('en-US', { timeZone: timezone }); } catch { fail([...p, 'timezone'], `is not a known time zone ("${timezone}")`); }
      maintenance.push({ ...common, kind: 'recurring', days, startMinute: hm ? Number(hm[1]) * 60 + Number(hm[2]) : 0, durationMs, timezone });
    });
  }

  return deepFreeze({ file, evaluationIntervalMs, leaderPollMs, contextLines, delivery, channels, rules, maintenance });
}
