// Agent configuration: `/opt/deployments/{app}/config.yml`, `monitoring:` section exactly as in
// the product spec, plus `.env.production` beside it. Validated once into a deep-frozen object;
// every error names the file, the line and the field path.

import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { ConfigError, ObservError } from '../errors.js';
import { deepFreeze, parseYamlConfig, pathString, type PathSeg, type YamlConfigDocument } from '../yaml-config.js';

export type Placement = 'isolated' | 'compact';

export interface StatusRange {
  min: number;
  max: number;
}

export interface BodyExpectation {
  kind: 'substring' | 'regex';
  /** The substring, or the regex source. */
  value: string;
  /** Regex flags (only for kind 'regex'). */
  flags: string;
}

export interface HealthCheckConfig {
  url: string;
  /** Seconds between checks. */
  interval: number;
  /** Seconds; one deadline for DNS, connect, TLS, headers and body. */
  timeout: number;
  method: string;
  headers: Record<string, string>;
  expectStatus: StatusRange[];
  expectBody: BodyExpectation | null;
  followRedirects: boolean;
}

/** monitoring.multiline: folding of plain-text stack traces into one log entry (docs/tailer.md). */
export interface MultilineConfig {
  /** Fold stack traces into one record (false: one record per line). */
  enabled: boolean;
  /** Lines in one record; a longer trace goes on in a record flagged `multiline_continued`. */
  maxLines: number;
  /** File bytes in one record (a single longer line is never cut here: max_line_bytes does that). */
  maxBytes: number;
  /** A record still open is handed over once its file has had no new bytes for this long. */
  timeoutMs: number;
}

export interface AgentConfig {
  app: string;
  vpsName: string;
  configFile: string;
  stateDir: string;
  enabled: boolean;
  postgresUrl: string;
  /** Seconds, ≥ 10. */
  collectionInterval: number;
  healthChecks: HealthCheckConfig[];
  logFiles: string[];
  /** monitoring.journal_units: systemd units whose journal entries are followed (through journalctl). */
  journalUnits: string[];
  /** monitoring.journal_directory: read the journal files in this directory instead of the system journal (null: the system journal). */
  journalDirectory: string | null;
  /** Seconds between writer flushes (the writer also flushes on rows/bytes). */
  flushInterval: number;
  placement: Placement;
  maxLineBytes: number;
  multiline: MultilineConfig;
  spoolMaxBytes: number;
  /** Seconds: deadline for each database statement and for one whole batch transaction (a frozen database is given up on after it). */
  dbTimeout: number;
  /** Seconds without a batch after which the writer closes its database connection (0: keep it open). */
  dbIdleClose: number;
  /** Path whose filesystem is reported as the spec's disk_percent / disk_gb. */
  diskPath: string;
  /** monitoring.service: the systemd unit whose cgroup holds the app (null: `{app}.service` when it exists). */
  service: string | null;
  /** The app's release directory (`$OBSERV_DEPLOYMENTS_DIR/{app}/current`): processes working under it are the app's when no unit is found. */
  releaseDir: string;
}

export const DEFAULTS = {
  enabled: false,
  collectionInterval: 60,
  minCollectionInterval: 10,
  healthCheckTimeout: 5,
  flushInterval: 5,
  // compact (all actors in the main thread) is the default: measured in bench/agent-footprint it
  // uses 7-15 MB less RSS and 20-25 % less CPU than isolated; isolated is for hosts where a collector
  // may hang (NFS log files) and memory is not tight. docs/footprint.md has the figures.
  placement: 'compact' as Placement,
  maxLineBytes: 64 * 1024,
  // Generic limits: the largest JVM traces of Spring apps (nested `Caused by:`, ~300 frames) fit, and one
  // open record per file holds at most 128 KiB. A dump of every goroutine of a Go program is longer: it
  // goes on in continued records, nothing is lost. One second of quiet ends a record: a trace is written
  // within milliseconds, and the writer stores batches every flush_interval (5 s) anyway.
  multiline: { enabled: true, maxLines: 500, maxBytes: 128 * 1024, timeoutMs: 1000 } as MultilineConfig,
  spoolMaxMb: 256,
  dbTimeout: 30,
  // Four flush intervals: a busy agent keeps its connection (a reconnect costs the agent ~3.5 ms of CPU
  // and PostgreSQL ~4.5 ms for the backend start); one that only sends samples every 30-60 s gives its
  // slot back for most of each minute. Measured in docs/scale.md (bench/connect-cost).
  dbIdleClose: 20,
  deploymentsDir: '/opt/deployments',
  stateRoot: '/var/lib/observ',
};

export interface LoadOptions {
  app: string;
  configFile?: string;
  stateDir?: string;
  vpsName?: string;
  env?: NodeJS.ProcessEnv;
  /** Called for each non-fatal finding (unknown keys). */
  warn?: (message: string) => void;
}

export function defaultConfigPath(app: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(env.OBSERV_DEPLOYMENTS_DIR || DEFAULTS.deploymentsDir, app, 'config.yml');
}

/** Parses a dotenv file: KEY=VALUE, optional `export `, quotes, # comments. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if ((value.startsWith('"') && value.endsWith('"') && value.length >= 2)) {
      value = value.slice(1, -1).replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1]!] = value;
  }
  return out;
}

const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

export function loadAgentConfig(options: LoadOptions): AgentConfig {
  const env = options.env ?? process.env;
  if (!APP_NAME.test(options.app)) {
    throw new ObservError('OBS_ERR_USAGE', `app name "${options.app}" must be letters, digits, '.', '_', '-' or '@'`);
  }
  const file = resolve(options.configFile ?? defaultConfigPath(options.app, env));
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ObservError('OBS_ERR_CONFIG_NOT_FOUND', `config not found: ${file} (${(err as NodeJS.ErrnoException).code ?? err}); ` +
      `create it with a monitoring: section, or pass --config FILE`, { cause: err });
  }
  const dotenvFile = join(dirname(file), '.env.production');
  const dotenv = existsSync(dotenvFile) ? parseDotenv(readFileSync(dotenvFile, 'utf8')) : {};
  // The process environment wins over .env.production, as with every dotenv loader.
  const vars: Record<string, string | undefined> = { ...dotenv };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') vars[k] = v;
  return parseAgentConfig(text, {
    file,
    app: options.app,
    vars,
    stateDir: options.stateDir ?? join(DEFAULTS.stateRoot, options.app),
    vpsName: options.vpsName ?? env.OBSERV_VPS_NAME ?? hostname(),
    releaseDir: join(env.OBSERV_DEPLOYMENTS_DIR || DEFAULTS.deploymentsDir, options.app, 'current'),
    warn: options.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`)),
  });
}

interface ParseContext {
  file: string;
  app: string;
  vars: Record<string, string | undefined>;
  stateDir: string;
  vpsName: string;
  /** Default: /opt/deployments/{app}/current. */
  releaseDir?: string;
  warn: (message: string) => void;
}

export function parseAgentConfig(text: string, ctx: ParseContext): AgentConfig {
  return parseYamlConfig(text, ctx.file, { warn: ctx.warn }, (doc) => build(doc, ctx));
}

function build({ root, issues, fail, warnUnknown, lineOf, expand: expandVars }: YamlConfigDocument, ctx: ParseContext): AgentConfig {
  if (root === null || root === undefined || typeof root !== 'object' || Array.isArray(root)) {
    issues.push({ file: ctx.file, line: 1, path: 'monitoring', message: 'is required (the file must be a mapping with a monitoring: section)' });
    throw new ConfigError(issues);
  }
  const monitoringRaw = (root as Record<string, unknown>).monitoring;
  if (monitoringRaw === undefined || monitoringRaw === null || typeof monitoringRaw !== 'object' || Array.isArray(monitoringRaw)) {
    fail(['monitoring'], 'is required and must be a mapping');
    throw new ConfigError(issues);
  }
  const m = monitoringRaw as Record<string, unknown>;
  const base = ['monitoring'];

  /** `${VAR}` / `${VAR:-default}` expansion and the `{app}` placeholder in every string. */
  const expand = (value: string, path: PathSeg[]): string =>
    expandVars(value, path, ctx.vars, 'the environment or in .env.production').replace(/\{app\}/g, ctx.app);

  const bool = (key: string, dflt: boolean): boolean => {
    const v = m[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') { fail([...base, key], `must be true or false (got ${JSON.stringify(v)})`); return dflt; }
    return v;
  };
  const int = (obj: Record<string, unknown>, key: string, path: PathSeg[], dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) { fail([...path, key], `must be an integer (got ${JSON.stringify(v)})`); return dflt; }
    if (v < min) { fail([...path, key], `must be ≥ ${min} (got ${v})`); return dflt; }
    if (v > max) { fail([...path, key], `must be ≤ ${max} (got ${v})`); return dflt; }
    return v;
  };

  warnUnknown(m, ['enabled', 'postgres_url', 'collection_interval', 'health_checks', 'log_files', 'flush_interval',
    'placement', 'max_line_bytes', 'multiline', 'spool_max_mb', 'db_timeout', 'db_idle_close', 'disk_path', 'service', 'journal_units',
    'journal_directory'], base);

  const enabled = bool('enabled', DEFAULTS.enabled);

  let postgresUrl = '';
  if (m.postgres_url === undefined || m.postgres_url === null || m.postgres_url === '') {
    fail([...base, 'postgres_url'], 'is required (e.g. ${OBSERV_DB_URL})');
  } else if (typeof m.postgres_url !== 'string') {
    fail([...base, 'postgres_url'], 'must be a string');
  } else {
    postgresUrl = expand(m.postgres_url, [...base, 'postgres_url']);
    if (postgresUrl && !/^postgres(ql)?:\/\//.test(postgresUrl)) {
      fail([...base, 'postgres_url'], 'must be a postgresql:// connection string');
    }
  }

  const collectionInterval = int(m, 'collection_interval', base, DEFAULTS.collectionInterval, DEFAULTS.minCollectionInterval, 86400);
  let flushInterval = int(m, 'flush_interval', base, DEFAULTS.flushInterval, 1, 3600);
  if (flushInterval > collectionInterval) {
    // The hub expects a batch at least every collection interval: it shows an agent as stale after
    // 2 × collection_interval + 15 s without one, and agent-silent fires after 3 ×. Longer batches
    // would make a healthy agent flap between stale and up, and page someone each time.
    const at = [...base, 'flush_interval'];
    ctx.warn(`${ctx.file}:${lineOf(at) ?? '?'} ${pathString(at)} (${flushInterval} s) is longer than collection_interval ` +
      `(${collectionInterval} s): the hub would see this agent as silent between batches; batches are written every ${collectionInterval} s instead`);
    flushInterval = collectionInterval;
  }
  const maxLineBytes = int(m, 'max_line_bytes', base, DEFAULTS.maxLineBytes, 1024, 16 * 1024 * 1024);
  const multiline = parseMultiline(m.multiline, [...base, 'multiline'], int, fail, warnUnknown);
  const spoolMaxBytes = int(m, 'spool_max_mb', base, DEFAULTS.spoolMaxMb, 1, 1024 * 1024) * 1024 * 1024;
  const dbTimeout = int(m, 'db_timeout', base, DEFAULTS.dbTimeout, 1, 3600);
  const dbIdleClose = int(m, 'db_idle_close', base, DEFAULTS.dbIdleClose, 0, 86400);

  let placement: Placement = DEFAULTS.placement;
  if (m.placement !== undefined && m.placement !== null) {
    if (m.placement === 'isolated' || m.placement === 'compact') placement = m.placement;
    else fail([...base, 'placement'], `must be "isolated" or "compact" (got ${JSON.stringify(m.placement)})`);
  }

  let diskPath = '/';
  if (m.disk_path !== undefined && m.disk_path !== null) {
    if (typeof m.disk_path !== 'string' || !m.disk_path) fail([...base, 'disk_path'], 'must be a path');
    else diskPath = expand(m.disk_path, [...base, 'disk_path']);
  }

  // A systemd service unit name; `shop` means shop.service. Other unit types hold no processes of their own.
  let service: string | null = null;
  if (m.service !== undefined && m.service !== null) {
    const raw = typeof m.service === 'string' ? expand(m.service, [...base, 'service']) : '';
    const name = UNIT_SUFFIX.test(raw) ? raw : `${raw}.service`;
    if (typeof m.service !== 'string' || !raw) fail([...base, 'service'], `must be a systemd unit name such as ${ctx.app}.service (got ${JSON.stringify(m.service)})`);
    else if (!name.endsWith('.service')) fail([...base, 'service'], `must be a .service unit (got ${JSON.stringify(raw)}): the processes of a socket or timer run in the service it starts`);
    else if (!/^[A-Za-z0-9:_.\\@-]+\.service$/.test(name) || name.length > 255) fail([...base, 'service'], `is not a valid systemd unit name (got ${JSON.stringify(raw)}): letters, digits and : _ . \\ @ - only`);
    else service = name;
  }

  const healthChecks: HealthCheckConfig[] = [];
  const hcRaw = m.health_checks;
  if (hcRaw !== undefined && hcRaw !== null) {
    if (!Array.isArray(hcRaw)) fail([...base, 'health_checks'], 'must be a list of checks');
    else hcRaw.forEach((item: unknown, i: number) => {
      const path = [...base, 'health_checks', i];
      if (typeof item === 'string') item = { url: item };
      if (item === null || typeof item !== 'object' || Array.isArray(item)) { fail(path, 'must be a mapping with url, interval, timeout'); return; }
      const c = item as Record<string, unknown>;
      warnUnknown(c, ['url', 'interval', 'timeout', 'method', 'headers', 'expect_status', 'expect_body', 'follow_redirects'], path);
      let url = '';
      if (typeof c.url !== 'string' || !c.url) fail([...path, 'url'], 'is required and must be a string');
      else {
        url = expand(c.url, [...path, 'url']);
        try {
          const u = new URL(url);
          if (u.protocol !== 'http:' && u.protocol !== 'https:') fail([...path, 'url'], `must be http:// or https:// (got ${u.protocol})`);
        } catch {
          fail([...path, 'url'], `is not a valid URL (got ${JSON.stringify(url)})`);
        }
      }
      const interval = int(c, 'interval', path, collectionInterval, 1, 86400);
      const timeout = int(c, 'timeout', path, DEFAULTS.healthCheckTimeout, 1, 600);
      if (timeout > interval) fail([...path, 'timeout'], `must be ≤ interval (${timeout} > ${interval})`);
      let method = 'GET';
      if (c.method !== undefined && c.method !== null) {
        if (typeof c.method !== 'string' || !/^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/i.test(c.method)) fail([...path, 'method'], 'must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
        else method = c.method.toUpperCase();
      }
      const headers: Record<string, string> = {};
      if (c.headers !== undefined && c.headers !== null) {
        if (typeof c.headers !== 'object' || Array.isArray(c.headers)) fail([...path, 'headers'], 'must be a mapping of header names to values');
        else for (const [k, v] of Object.entries(c.headers as Record<string, unknown>)) {
          if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) fail([...path, 'headers', k], 'is not a valid header name');
          else if (typeof v !== 'string' && typeof v !== 'number') fail([...path, 'headers', k], 'must be a string');
          else headers[k] = expand(String(v), [...path, 'headers', k]);
        }
      }
      const expectStatus = parseExpectStatus(c.expect_status, [...path, 'expect_status'], fail);
      let expectBody: BodyExpectation | null = null;
      if (c.expect_body !== undefined && c.expect_body !== null) {
        if (typeof c.expect_body !== 'string' || !c.expect_body) fail([...path, 'expect_body'], 'must be a non-empty string (a substring, or /regex/flags)');
        else {
          const re = /^\/(.+)\/([a-z]*)$/s.exec(c.expect_body);
          if (re) {
            try { new RegExp(re[1]!, re[2]); expectBody = { kind: 'regex', value: re[1]!, flags: re[2]! }; }
            catch (err) { fail([...path, 'expect_body'], `is not a valid regular expression: ${(err as Error).message}`); }
          } else expectBody = { kind: 'substring', value: c.expect_body, flags: '' };
        }
      }
      let followRedirects = false;
      if (c.follow_redirects !== undefined && c.follow_redirects !== null) {
        if (typeof c.follow_redirects !== 'boolean') fail([...path, 'follow_redirects'], 'must be true or false');
        else followRedirects = c.follow_redirects;
      }
      healthChecks.push({ url, interval, timeout, method, headers, expectStatus, expectBody, followRedirects });
    });
  }

  const logFiles: string[] = [];
  const lfRaw = m.log_files;
  if (lfRaw !== undefined && lfRaw !== null) {
    if (!Array.isArray(lfRaw)) fail([...base, 'log_files'], 'must be a list of file paths');
    else lfRaw.forEach((item: unknown, i: number) => {
      const path = [...base, 'log_files', i];
      if (typeof item !== 'string' || !item) { fail(path, 'must be a file path'); return; }
      const p = expand(item, path);
      if (!p.startsWith('/')) { fail(path, `must be an absolute path (got ${JSON.stringify(p)})`); return; }
      if (logFiles.includes(p)) { fail(path, `is listed twice (${p})`); return; }
      logFiles.push(p);
    });
  }

  // journalctl -u takes any unit type (a timer's or socket's messages are its own); `shop` means shop.service, as for -u.
  const journalUnits: string[] = [];
  const juRaw = m.journal_units;
  if (juRaw !== undefined && juRaw !== null) {
    if (!Array.isArray(juRaw)) fail([...base, 'journal_units'], `must be a list of systemd unit names such as [${ctx.app}.service]`);
    else juRaw.forEach((item: unknown, i: number) => {
      const path = [...base, 'journal_units', i];
      if (typeof item !== 'string' || !item) { fail(path, `must be a systemd unit name such as ${ctx.app}.service (got ${JSON.stringify(item)})`); return; }
      const raw = expand(item, path);
      const name = UNIT_SUFFIX.test(raw) ? raw : `${raw}.service`;
      if (!/^[A-Za-z0-9:_.\\@-]+$/.test(name) || name.length > 255 || raw.startsWith('-')) {
        fail(path, `is not a valid systemd unit name (got ${JSON.stringify(raw)}): letters, digits and : _ . \\ @ - only`);
        return;
      }
      if (journalUnits.includes(name)) { fail(path, `is listed twice (${name})`); return; }
      journalUnits.push(name);
    });
  }
  let journalDirectory: string | null = null;
  if (m.journal_directory !== undefined && m.journal_directory !== null) {
    const path = [...base, 'journal_directory'];
    const dir = typeof m.journal_directory === 'string' ? expand(m.journal_directory, path) : '';
    if (!dir.startsWith('/')) fail(path, `must be an absolute directory path (got ${JSON.stringify(m.journal_directory)})`);
    else if (!journalUnits.length) fail(path, 'is set but monitoring.journal_units is empty: name the units to follow');
    else journalDirectory = dir;
  }

  return deepFreeze({
    app: ctx.app,
    vpsName: ctx.vpsName,
    configFile: ctx.file,
    stateDir: ctx.stateDir,
    enabled,
    postgresUrl,
    collectionInterval,
    healthChecks,
    logFiles,
    journalUnits,
    journalDirectory,
    flushInterval,
    placement,
    maxLineBytes,
    multiline,
    spoolMaxBytes,
    dbTimeout,
    dbIdleClose,
    diskPath,
    service,
    releaseDir: ctx.releaseDir ?? join(DEFAULTS.deploymentsDir, ctx.app, 'current'),
  });
}

type IntReader = (obj: Record<string, unknown>, key: string, path: PathSeg[], dflt: number, min: number, max?: number) => number;

/** `multiline: false`, or a mapping of enabled, max_lines, max_bytes, timeout_ms. */
function parseMultiline(
  raw: unknown, path: PathSeg[], int: IntReader, fail: (path: PathSeg[], message: string) => void,
  warnUnknown: YamlConfigDocument['warnUnknown'],
): MultilineConfig {
  const d = DEFAULTS.multiline;
  if (raw === undefined || raw === null) return { ...d };
  if (typeof raw === 'boolean') return { ...d, enabled: raw };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    fail(path, `must be true, false or a mapping with enabled, max_lines, max_bytes, timeout_ms (got ${JSON.stringify(raw)})`);
    return { ...d };
  }
  const o = raw as Record<string, unknown>;
  warnUnknown(o, ['enabled', 'max_lines', 'max_bytes', 'timeout_ms'], path);
  let enabled = d.enabled;
  if (o.enabled !== undefined && o.enabled !== null) {
    if (typeof o.enabled !== 'boolean') fail([...path, 'enabled'], `must be true or false (got ${JSON.stringify(o.enabled)})`);
    else enabled = o.enabled;
  }
  return {
    enabled,
    maxLines: int(o, 'max_lines', path, d.maxLines, 2, 100_000),
    maxBytes: int(o, 'max_bytes', path, d.maxBytes, 1024, 16 * 1024 * 1024),
    timeoutMs: int(o, 'timeout_ms', path, d.timeoutMs, 10, 600_000),
  };
}

function parseExpectStatus(raw: unknown, path: PathSeg[], fail: (path: PathSeg[], message: string) => void): StatusRange[] {
  // Default: 2xx and 3xx count as healthy (Uptime Kuma's default too).
  if (raw === undefined || raw === null) return [{ min: 200, max: 399 }];
  const items = Array.isArray(raw) ? raw : [raw];
  const out: StatusRange[] = [];
  items.forEach((item: unknown, i: number) => {
    const p = Array.isArray(raw) ? [...path, i] : path;
    const s = String(item).trim();
    let m: RegExpExecArray | null;
    if ((m = /^(\d{3})$/.exec(s))) out.push({ min: +m[1]!, max: +m[1]! });
    else if ((m = /^(\d{3})\s*-\s*(\d{3})$/.exec(s)) && +m[1]! <= +m[2]!) out.push({ min: +m[1]!, max: +m[2]! });
    else if ((m = /^([1-5])xx$/i.exec(s))) out.push({ min: +m[1]! * 100, max: +m[1]! * 100 + 99 });
    else fail(p, `must be a status code (200), a range (200-299) or a class (2xx) (got ${JSON.stringify(item)})`);
  });
  return out;
}
