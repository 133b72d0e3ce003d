// `observ deploy APP [--version V] [--vps NAME] [--release PATH] [--config FILE]`: records a deploy for
// pipelines that do not switch the release symlink the agent watches (src/workers/deploys). One
// INSERT and a NOTIFY in one transaction, so an open dashboard shows the marker at once.
//
// The database is OBSERV_DB_URL, else the app's own config (`postgres_url`, with .env.production), so
// a pipeline on the VPS can use the agent's login, which may insert deployments of its own vps/app only.

import { readlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { hostname } from 'node:os';
import { ConfigError, ObservError } from '../errors.js';
import { commandArgs, connectForCommand } from '../command.js';
import { defaultConfigPath, DEFAULTS, loadAgentConfig } from '../supervisor/config.js';
import { MAX_VERSION_CHARS, parseVersion } from '../workers/deploys/release.js';
import { readVersionFile } from '../workers/deploys/watcher.js';
import type { PgClient } from '../db/pg.js';

export const DEPLOY_USAGE = 'usage: observ deploy APP [--version V] [--vps NAME] [--release PATH] [--config FILE]';

export interface DeployOptions {
  app: string;
  vps: string;
  version: string;
  release: string | null;
}

export interface RecordedDeploy extends DeployOptions {
  timestamp: string;
}

const NAME_MAX = 256;

function checkName(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (!value || value.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ObservError('OBS_ERR_USAGE', `${what} must be 1–${NAME_MAX} printable characters (got ${JSON.stringify(value.slice(0, 40))})\n${DEPLOY_USAGE}`);
  }
  return value;
}

/** The release symlink's target, or null when there is none (or it is not a symlink). */
async function symlinkTarget(link: string): Promise<string | null> {
  try {
    return resolve(dirname(link), await readlink(link));
  } catch {
    return null;
  }
}

/**
 * What to record, from the flags and the app's release dir: --version, else the release's VERSION
 * file, else its folder name; the release is --release, else where `current` points.
 */
export async function resolveDeploy(values: { version?: string; vps?: string; release?: string }, app: string,
  env: NodeJS.ProcessEnv): Promise<DeployOptions> {
  checkName(app, 'APP');
  const vps = checkName(values.vps ?? env.OBSERV_VPS_NAME ?? hostname(), '--vps');
  const link = resolve(env.OBSERV_DEPLOYMENTS_DIR || DEFAULTS.deploymentsDir, app, 'current');
  const release = values.release !== undefined ? resolve(checkName(values.release, '--release')) : await symlinkTarget(link);
  let version: string | null;
  if (values.version !== undefined) {
    version = parseVersion(values.version);
    if (version === null || values.version.length > MAX_VERSION_CHARS) {
      throw new ObservError('OBS_ERR_USAGE', `--version must be 1–${MAX_VERSION_CHARS} printable characters (got ${JSON.stringify(values.version.slice(0, 40))})\n${DEPLOY_USAGE}`);
    }
  } else if (release !== null) {
    const file = await readVersionFile(release);
    version = (file !== null ? parseVersion(file) : null) ?? parseVersion(basename(release));
  } else {
    throw new ObservError('OBS_ERR_USAGE', `no version to record: give --version V or --release PATH (${link} is not a release symlink)\n${DEPLOY_USAGE}`);
  }
  return { app, vps, version: version ?? release!, release };
}

/** Stores one deploy (source 'cli') and tells live dashboards; returns the row. */
export async function recordDeploy(client: PgClient, d: DeployOptions): Promise<RecordedDeploy> {
  await client.query('BEGIN');
  try {
    // No RETURNING: it needs SELECT, which an agent's login does not have; now() is the transaction's time, the row's.
    await client.query(`INSERT INTO deployments (timestamp, vps_name, app_name, release, version, source) VALUES (now(), $1, $2, $3, $4, 'cli')`,
      [d.vps, d.app, d.release, d.version]);
    const r = await client.query<{ now: Date }>('SELECT now()');
    // The hub's live feed re-reads this agent on every notification: an open detail view refetches its markers.
    await client.query('SELECT pg_notify($1, $2)', ['observ_batch', JSON.stringify({ vps: d.vps, app: d.app, seq: 0, deployments: 1 })]);
    await client.query('COMMIT');
    return { ...d, timestamp: r.rows[0]!.now.toISOString() };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    const code = (err as { code?: unknown }).code;
    if (code === '42P01') {
      throw new ObservError('OBS_ERR_MIGRATION', 'the database has no deployments table (migration 070): run `observ db migrate` with the schema owner\'s OBSERV_DB_URL', { cause: err });
    }
    if (code === '42501') {
      throw new ObservError('OBS_ERR_AGENT_LOGIN', `the database refused the deploy: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}

/** OBSERV_DB_URL, else the app's config (its postgres_url, as the agent would read it). */
function databaseUrl(app: string, configFile: string | undefined, env: NodeJS.ProcessEnv): string {
  if (env.OBSERV_DB_URL) return env.OBSERV_DB_URL;
  const file = configFile ?? defaultConfigPath(app, env);
  try {
    return loadAgentConfig({ app, configFile: file, env, warn: () => {} }).postgresUrl;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof ObservError && err.code === 'OBS_ERR_CONFIG_NOT_FOUND') {
      throw new ObservError('OBS_ERR_USAGE', `OBSERV_DB_URL is not set and ${app}'s config was not found (${file}): ` +
        'export OBSERV_DB_URL=postgresql://…, or pass --config FILE');
    }
    throw err;
  }
}

export async function deployCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values, positionals } = commandArgs(args, { version: { type: 'string' }, vps: { type: 'string' }, release: { type: 'string' },
    config: { type: 'string' } }, DEPLOY_USAGE, true);
  if (positionals.length !== 1) throw new ObservError('OBS_ERR_USAGE', `give exactly one APP\n${DEPLOY_USAGE}`);
  const d = await resolveDeploy(values as { version?: string; vps?: string; release?: string }, positionals[0]!, env);
  const url = databaseUrl(d.app, values.config as string | undefined, env);
  const client = await connectForCommand(url, { applicationName: 'observ deploy' });
  try {
    const r = await recordDeploy(client, d);
    process.stdout.write(`recorded deploy: ${r.app} ${r.version} on ${r.vps} at ${r.timestamp}${r.release ? ` (${r.release})` : ''}\n`);
  } finally {
    await client.end().catch(() => {});
  }
}
