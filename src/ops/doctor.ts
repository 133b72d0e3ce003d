// `observ doctor APP`: the spec's troubleshooting section as one command. Each check prints ✓, ! or
// ✗ and, when something is wrong, the fix. Exit code 1 when any check fails.
//
//   config → database URL → connection (as the agent's role) → schema version → privileges
//          → log files (as the service user) → journal (journal_units) → health URLs → app processes (which source)
//          → release symlink (deploys) → state directory (spool)
//
// The checks are data (DoctorCheck[]), so tests assert on them and the command only prints them.

import { existsSync, readdirSync, readFileSync, readlinkSync, lstatSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { ConfigError, ObservError } from '../errors.js';
import { defaultConfigPath, DEFAULTS, loadAgentConfig, parseDotenv, type AgentConfig, type HealthCheckConfig } from '../supervisor/config.js';
import { checkReadable, hiddenBySandbox, serviceIdentity, type ServiceIdentity } from './access.js';
import { formatBytes } from './retention.js';
import { AppReader } from '../workers/sampler/app-reader.js';
import { journalctlArgs } from '../workers/tailer/journal-entry.js';
import { parseVersion } from '../workers/deploys/release.js';
import { readVersionFile } from '../workers/deploys/watcher.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  status: CheckStatus;
  /** What was checked: "config", "database", "log file", … */
  name: string;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  app: string;
  configFile?: string;
  stateDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Who the service runs as; defaults to the unit's dynamic user and groups. */
  identity?: ServiceIdentity;
  /** Per health URL, in ms (default: the check's own timeout). */
  healthTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** The journalctl binary (tests). */
  journalctl?: string;
}

const PLACEHOLDER_URL = 'postgresql://unset.invalid/unset';

export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const env = options.env ?? process.env;
  const identity = options.identity ?? serviceIdentity();
  const checks: DoctorCheck[] = [];
  const add = (status: CheckStatus, name: string, detail: string, fix?: string) => { checks.push({ status, name, detail, ...(fix ? { fix } : {}) }); };
  const configFile = options.configFile ?? defaultConfigPath(options.app, env);

  // 1. Config: present, valid, readable by the service.
  const loaded = loadConfigForDoctor(options, env, configFile);
  if ('error' in loaded) {
    add('fail', 'config', loaded.error, loaded.fix);
    return checks;
  }
  const { config, unsetVars, rawPostgresUrl } = loaded;
  add('ok', 'config', `${config.configFile} is valid (${plural(config.healthChecks.length, 'health check')}, ${plural(config.logFiles.length, 'log file')}, every ${config.collectionInterval} s)`);
  if (!config.enabled) add('warn', 'config', 'monitoring.enabled is not true: the agent exits at once and stores nothing', `set monitoring.enabled: true in ${config.configFile}`);
  const configAccess = checkReadable(config.configFile, identity);
  if (!configAccess.ok) add('fail', 'config', `the service cannot read its config: ${configAccess.message}`, configAccess.fix);

  // 2. The database URL, where the service will find it.
  const dotenvFile = join(dirname(config.configFile), '.env.production');
  const dotenv = existsSync(dotenvFile) ? parseDotenv(readFileSync(dotenvFile, 'utf8')) : {};
  const referenced = [...rawPostgresUrl.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
  if (!referenced.length) {
    add('ok', 'database URL', 'monitoring.postgres_url is written in config.yml itself');
  } else {
    for (const name of referenced) {
      if (unsetVars.includes(name)) {
        add('fail', 'database URL', `${name} is not set (neither in ${dotenvFile} nor in the environment)`,
          `echo '${name}=postgresql://USER:PASSWORD@HOST:5432/observ_metrics' | sudo tee -a ${dotenvFile} && sudo chmod 600 ${dotenvFile}`);
      } else if (dotenv[name]) {
        add('ok', 'database URL', `${name} is set in ${dotenvFile}`);
      } else {
        add('warn', 'database URL', `${name} is set only in this shell's environment; the service reads ${dotenvFile}`,
          `add ${name}=… to ${dotenvFile}`);
      }
    }
  }

  // 3–5. Connection as the agent's role, schema version, privileges.
  if (config.postgresUrl && config.postgresUrl !== PLACEHOLDER_URL) await checkDatabase(config.postgresUrl, dotenvFile, add, options.connectTimeoutMs ?? 5000);

  // 6. Log files, as the service user.
  if (!config.logFiles.length) add('ok', 'log files', 'none configured (monitoring.log_files)');
  for (const file of config.logFiles) {
    const r = checkReadable(file, identity);
    if (!r.ok) { add('fail', 'log file', r.message, r.fix); continue; }
    const sandbox = hiddenBySandbox(r.realPath);
    if (sandbox) add('warn', 'log file', `${file} is readable, but under systemd ${sandbox} hides ${r.realPath} from the agent`, 'write the log under /opt/deployments/APP/… or /var/log/APP/');
    else add('ok', 'log file', `${file} is readable by the service (${identity.description})`);
  }

  // 6b. The journal of monitoring.journal_units: journalctl runs, reads the journal, and the service may too.
  if (config.journalUnits.length) checkJournal(config, identity, add, options.journalctl ?? 'journalctl');

  // 7. Health URLs.
  if (!config.healthChecks.length) add('ok', 'health checks', 'none configured (monitoring.health_checks)');
  await Promise.all(config.healthChecks.map(async (hc) => {
    const r = await probeOnce(hc, options.healthTimeoutMs ?? hc.timeout * 1000);
    add(r.status, 'health URL', r.detail, r.fix);
  }));

  // 8. The app's own processes: which source the sampler will use.
  checkAppProcesses(config, identity, add);

  // 9. The release symlink (deploy markers).
  await checkReleaseSymlink(config, add);

  // 10. State directory (the spool lives in it).
  checkStateDir(config, add);
  return checks;
}

/** Groups that may read the whole system journal (Debian and Ubuntu give `adm` read access too). */
const JOURNAL_GROUPS = ['systemd-journal', 'adm'];

/** One bounded journalctl run (the newest entry of the units), as the agent would start it. */
function checkJournal(config: AgentConfig, identity: ServiceIdentity, add: (status: CheckStatus, name: string, detail: string, fix?: string) => void,
  journalctl: string): void {
  const units = config.journalUnits.join(', ');
  const args = [...journalctlArgs({ units: config.journalUnits, directory: config.journalDirectory, cursor: null, follow: false }), '--lines=1'];
  const r = spawnSync(journalctl, args, { encoding: 'utf8', timeout: 10_000, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    add('fail', 'journal', missing ? `${journalctl} not found: monitoring.journal_units cannot be followed` : `cannot run ${journalctl}: ${r.error.message}`,
      missing ? 'sudo apt-get install systemd (journalctl), or remove monitoring.journal_units' : undefined);
    return;
  }
  const why = r.stderr.trim().split('\n').pop() ?? '';
  if (r.status !== 0) {
    add('fail', 'journal', `journalctl cannot read the journal${config.journalDirectory ? ` in ${config.journalDirectory}` : ''}: ${why || `exit status ${r.status}`}`,
      config.journalDirectory ? 'check monitoring.journal_directory and its permissions' : undefined);
    return;
  }
  if (!config.journalDirectory && identity.uid !== 0 && !identity.groups.some((g) => JOURNAL_GROUPS.includes(g))) {
    add('fail', 'journal', `the service (${identity.description}) is in neither the systemd-journal nor the adm group: journalctl would show it no entries of ${units}`,
      'sudo systemctl edit obs-agent@APP, then add [Service] SupplementaryGroups=systemd-journal');
    return;
  }
  if (!r.stdout.trim()) {
    add('warn', 'journal', `no entries of ${units} in the journal yet${config.journalDirectory ? ` in ${config.journalDirectory}` : ''}`,
      'check the unit names (journalctl -u UNIT); entries are followed from when they appear');
    return;
  }
  add('ok', 'journal', `journalctl reads entries of ${units}${config.journalDirectory ? ` in ${config.journalDirectory}` : ''}`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

type Loaded = { config: AgentConfig; unsetVars: string[]; rawPostgresUrl: string } | { error: string; fix: string };

/**
 * Loads the config as the agent would. An unset `${VAR}` in postgres_url is reported by the
 * database URL check, not as an invalid config, so the other checks still run.
 */
function loadConfigForDoctor(options: DoctorOptions, env: NodeJS.ProcessEnv, configFile: string): Loaded {
  const load = (extra: Record<string, string>) => loadAgentConfig({
    app: options.app, configFile, stateDir: options.stateDir, env: { ...env, ...extra }, warn: () => {},
  });
  let rawPostgresUrl = '';
  try {
    const doc = parseDocument(readFileSync(configFile, 'utf8')).toJS() as { monitoring?: { postgres_url?: unknown } } | null;
    if (typeof doc?.monitoring?.postgres_url === 'string') rawPostgresUrl = doc.monitoring.postgres_url;
  } catch { /* loadAgentConfig reports it below */ }
  try {
    return { config: load({}), unsetVars: [], rawPostgresUrl };
  } catch (err) {
    if (err instanceof ConfigError) {
      const unset = err.issues.filter((i) => i.path === 'monitoring.postgres_url' && /is not set in the environment/.test(i.message));
      if (unset.length && unset.length === err.issues.length) {
        const vars = unset.map((i) => /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(i.message)?.[1]).filter((v): v is string => !!v);
        try {
          return { config: load(Object.fromEntries(vars.map((v) => [v, PLACEHOLDER_URL]))), unsetVars: vars, rawPostgresUrl };
        } catch { /* fall through to the original error */ }
      }
      return { error: `${configFile} is invalid:\n      ${err.message.split('\n').join('\n      ')}`, fix: 'correct the fields named above (see the configuration reference)' };
    }
    if (err instanceof ObservError && err.code === 'OBS_ERR_CONFIG_NOT_FOUND') {
      return { error: `${configFile} not found`, fix: `create it with a monitoring: section (monitoring.enabled, postgres_url: \${OBSERV_DB_URL}, health_checks, log_files), or pass --config FILE` };
    }
    return { error: (err as Error).message, fix: 'see the message above' };
  }
}

async function checkDatabase(url: string, dotenvFile: string, add: (s: CheckStatus, n: string, d: string, f?: string) => void, connectTimeoutMs: number): Promise<void> {
  const { connect, redactUrl } = await import('../db/pg.js');
  const { latestVersion, schemaVersion } = await import('../db/migrate.js');
  let where = redactUrl(url);
  try { const u = new URL(url); where = `${u.hostname}:${u.port || 5432}${u.pathname} as ${decodeURIComponent(u.username) || '(default user)'}`; } catch { /* keep the redacted URL */ }
  let client: Awaited<ReturnType<typeof connect>>;
  try {
    client = await connect(url, { connectTimeoutMs, queryTimeoutMs: 10_000, statementTimeoutMs: 8000, applicationName: 'observ doctor' });
  } catch (err) {
    const e = err as Error & { code?: string };
    add('fail', 'database', `cannot connect to ${where}: ${e.message}`, connectFix(e.code, dotenvFile));
    return;
  }
  try {
    const who = (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    add('ok', 'database', `connected to ${where}`);
    const have = await schemaVersion(client);
    const want = latestVersion();
    if (have === want) add('ok', 'schema', `version ${have}, as this agent expects`);
    else if (have < want) add('fail', 'schema', `version ${have}, this agent expects ${want}`, 'run `observ db migrate` with the schema owner\'s OBSERV_DB_URL (the agent role cannot change the schema)');
    else add('warn', 'schema', `version ${have} is newer than this agent's ${want}`, 'upgrade observ on this machine');
    const r = await client.query<{ t: string; p: string; ok: boolean }>(
      `SELECT t, p, CASE WHEN p = 'EXECUTE' THEN to_regprocedure(t) IS NOT NULL AND has_function_privilege(current_user, t, p)
                         WHEN to_regclass(t) IS NULL THEN false ELSE has_table_privilege(current_user, t, p) END AS ok
         FROM (VALUES ('vps_metrics', 'INSERT'), ('health_checks', 'INSERT'), ('log_entries', 'INSERT'), ('agent_events', 'INSERT'),
                      ('agent_checkpoints', 'SELECT'), ('observ_checkpoint_lock(text,text)', 'EXECUTE'),
                      ('observ_checkpoint_save(text,text,bigint,jsonb,integer,text,timestamptz,jsonb)', 'EXECUTE')) AS x(t, p)`);
    const missing = r.rows.filter((row) => !row.ok).map((row) => `${row.p} on ${row.t}`);
    if (missing.length) add('fail', 'privileges', `role ${who} lacks ${missing.join(', ')}`, `as the schema owner: psql -f sql/roles.sql, then GRANT observ_agent TO ${who};`);
    else add('ok', 'privileges', `role ${who} can store batches and checkpoints`);
  } catch (err) {
    add('fail', 'database', `query failed: ${(err as Error).message}`, 'check the database server\'s log');
  } finally {
    await client.end().catch(() => {});
  }
}

function connectFix(code: string | undefined, dotenvFile: string): string {
  switch (code) {
    case '28P01': case '28000':
      return `check the user and password in OBSERV_DB_URL (${dotenvFile})`;
    case '3D000':
      return 'create the database (createdb observ_metrics), then `observ db migrate`';
    case 'ECONNREFUSED':
      return 'is PostgreSQL running and listening on that host and port (listen_addresses, pg_hba.conf, firewall)?';
    case 'ENOTFOUND': case 'EAI_AGAIN':
      return `the host name does not resolve: check OBSERV_DB_URL (${dotenvFile})`;
    default:
      return `check OBSERV_DB_URL (${dotenvFile}) and that PostgreSQL is reachable from this machine`;
  }
}

async function probeOnce(hc: HealthCheckConfig, timeoutMs: number): Promise<{ status: CheckStatus; detail: string; fix?: string }> {
  const t0 = performance.now();
  try {
    const res = await fetch(hc.url, { method: hc.method, headers: hc.headers, redirect: hc.followRedirects ? 'follow' : 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    const ms = Math.round(performance.now() - t0);
    const statusOk = hc.expectStatus.some((r) => res.status >= r.min && res.status <= r.max);
    if (!statusOk) return { status: 'fail', detail: `${hc.url} answered ${res.status} in ${ms} ms`, fix: 'the app reports itself unhealthy, or expect_status in config.yml does not match what it returns' };
    if (hc.expectBody) {
      const found = hc.expectBody.kind === 'regex' ? new RegExp(hc.expectBody.value, hc.expectBody.flags).test(body) : body.includes(hc.expectBody.value);
      if (!found) return { status: 'fail', detail: `${hc.url} answered ${res.status} but without the expected body`, fix: 'check expect_body in config.yml' };
    }
    return { status: 'ok', detail: `${hc.url} answered ${res.status} in ${ms} ms` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: 'fail', detail: `${hc.url}: ${reason}`, fix: 'is the app running and listening there? check the url in config.yml' };
  }
}

/** Whether deploys will be noticed: `current` must be a symlink. Informative only (`observ deploy` is the other way). */
async function checkReleaseSymlink(config: AgentConfig, add: (s: CheckStatus, n: string, d: string, f?: string) => void): Promise<void> {
  let target: string;
  try {
    target = resolve(dirname(config.releaseDir), readlinkSync(config.releaseDir));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EINVAL' ? 'is a folder, not a symlink' : 'does not exist';
    add('ok', 'deploys', `${config.releaseDir} ${why}: deploys are not noticed by the agent; record them with \`observ deploy ${config.app} --version V\``);
    return;
  }
  const file = await readVersionFile(target);
  const version = (file !== null ? parseVersion(file) : null) ?? parseVersion(basename(target));
  add('ok', 'deploys', `${config.releaseDir} → ${target} (version ${version ?? '?'}${file !== null ? ', from its VERSION file' : ', the folder name'}): ` +
    'the agent records a deploy when it points elsewhere');
}

function checkAppProcesses(config: AgentConfig, identity: ServiceIdentity, add: (s: CheckStatus, n: string, d: string, f?: string) => void): void {
  if (!existsSync('/proc/self/stat')) { add('warn', 'app processes', 'no /proc on this platform: the app\'s own processes are not measured'); return; }
  const reader = new AppReader({ app: config.app, service: config.service, releaseDir: config.releaseDir });
  const r = reader.read();
  const n = plural(r.pids.length, 'process');
  const setServiceFix = `set monitoring.service: UNIT in ${config.configFile} (the systemd unit the app runs as)`;
  if (r.source.kind === 'unit') {
    if (r.pids.length) add('ok', 'app processes', `systemd unit ${r.source.unit}: ${n} (${r.source.via})`);
    else add('warn', 'app processes', `monitoring.service is ${r.source.unit}, but it has no processes (${r.source.via}): the app is reported as not running`,
      `systemctl status ${r.source.unit}; or correct monitoring.service in ${config.configFile}`);
    return;
  }
  const where = `no unit ${reader.unit}; looked for processes working under ${r.source.dir}`;
  if (!r.pids.length) {
    add('warn', 'app processes', `${where}: none found, so the app is reported as not running`, `${setServiceFix}, or start the app from ${r.source.dir}`);
    return;
  }
  // The agent runs as its own (dynamic) user: another user's working directory is unreadable to it,
  // and ProtectProc=invisible hides those processes altogether. Only a unit's cgroup is visible then.
  const owners = new Set(r.pids.flatMap((pid) => { try { return [statSync(`/proc/${pid}`).uid]; } catch { return []; } }));
  const visible = identity.uid !== null && [...owners].every((uid) => uid === identity.uid);
  if (visible) add('ok', 'app processes', `${where}: found ${n} (pid ${r.pids.slice(0, 5).join(', ')}${r.pids.length > 5 ? ', …' : ''})`);
  else add('warn', 'app processes', `${where}: found ${n}, but they belong to another user than the service (${identity.description}), ` +
    'which cannot read their working directory (and ProtectProc=invisible hides them)', setServiceFix);
}

function checkStateDir(config: AgentConfig, add: (s: CheckStatus, n: string, d: string, f?: string) => void): void {
  const dir = config.stateDir;
  if (!existsSync(dir)) {
    add('warn', 'state directory', `${dir} does not exist yet`, `systemd creates it when obs-agent@${config.app} starts (StateDirectory=); or run \`observ install ${config.app}\``);
    return;
  }
  let bytes = 0;
  let files = 0;
  let oldest = Infinity;
  const walk = (d: string, depth: number) => {
    if (depth > 8) return;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) { walk(p, depth + 1); continue; }
      const st = lstatSync(p);
      if (!st.isFile()) continue;
      files++;
      bytes += st.size;
      oldest = Math.min(oldest, st.mtimeMs);
    }
  };
  try { walk(dir, 0); } catch (err) {
    add('fail', 'state directory', `cannot read ${dir}: ${(err as Error).message}`, `sudo ls -la ${dir}`);
    return;
  }
  const limit = config.spoolMaxBytes;
  const detail = files
    ? `${dir}: ${plural(files, 'file')}, ${formatBytes(bytes)} (spool limit ${formatBytes(limit)}), oldest written ${formatAge(Date.now() - oldest)} ago`
    : `${dir}: empty (nothing waiting for the database)`;
  if (bytes >= limit * 0.8) add('warn', 'state directory', `${detail}: the spool is nearly full, so the database has not been taking batches`, 'see the database checks above; `journalctl -u obs-agent@' + config.app + '`');
  else add('ok', 'state directory', detail);
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };

export function formatChecks(checks: DoctorCheck[]): string {
  let out = '';
  for (const c of checks) {
    out += `${MARK[c.status]} ${c.name}: ${c.detail}\n`;
    if (c.fix && c.status !== 'ok') out += `    fix: ${c.fix}\n`;
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  out += failed ? `\n${plural(failed, 'problem')} found${warned ? `, ${plural(warned, 'warning')}` : ''}.\n` : `\nall checks passed${warned ? ` (${plural(warned, 'warning')})` : ''}.\n`;
  return out;
}

const USAGE = 'usage: observ doctor APP [--config FILE] [--state-dir DIR]';

export async function doctorCommand(args: string[]): Promise<void> {
  let parsed: { values: { config?: string; 'state-dir'?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}\n${USAGE}`);
  }
  if (parsed.values.help) { process.stdout.write(USAGE + '\n'); return; }
  const app = parsed.positionals[0];
  if (!app || parsed.positionals.length > 1) throw new ObservError('OBS_ERR_USAGE', USAGE);
  const identity = serviceIdentity();
  const stateDir = parsed.values['state-dir'] ?? join(DEFAULTS.stateRoot, app);
  process.stdout.write(`observ doctor ${app} (file checks as the service user: ${identity.description})\n\n`);
  const checks = await runDoctor({ app, configFile: parsed.values.config, stateDir, identity });
  process.stdout.write(formatChecks(checks));
  if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
}
