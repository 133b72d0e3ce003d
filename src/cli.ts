// `observ` — one binary, subcommands. Each subcommand loads only what it uses (dynamic imports), so
// `observ agent` never pays for the hub's or the embedded database's modules.

import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { ObservError } from './errors.js';
import { fail, onShutdown } from './supervisor/process.js';

const USAGE = `observ — self-hosted fleet monitoring

Usage:
  observ start [--host 127.0.0.1] [--port 8080] [--data-dir .observ]
        everything on the embedded default: PostgreSQL, hub, demo apps and their agents
  observ agent APP [--config FILE] [--state-dir DIR] [--vps-name NAME]
        run the agent for APP (config: $OBSERV_DEPLOYMENTS_DIR/APP/config.yml, root /opt/deployments)
  observ hub [--host 127.0.0.1] [--port 8080] [--alerts FILE] [--transport auto|uws|node]
        run the hub (dashboard, API, live stream, alerting) against $OBSERV_DB_URL
  observ db migrate
        apply missing schema migrations to $OBSERV_DB_URL
  observ db retention [--dry-run]
        drop data past its retention (daily partitions), for cron users
  observ db rollup
        fold per-minute data into hourly aggregates
  observ install APP [--dry-run]
        set up obs-agent@APP under systemd (checks the config first)
  observ doctor APP
        check config, database, log files and health URLs for APP, with fixes
  observ hash-password < password.txt
        print the scrypt hash for OBSERV_HUB_PASSWORD_HASH (reads the password from stdin)
  observ version

Environment:
  OBSERV_DB_URL            postgresql://user:pass@host:5432/observ_metrics
  OBSERV_DEPLOYMENTS_DIR   root of app deployments (default /opt/deployments)
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      // The bundled agent (dist/agent/obs-agent.cjs, scripts/build-agent.ts): the same code obs-agent
      // runs, with its own error classes, so it reports its own errors.
      case 'agent': return await loadAgentBundle().main(rest);
      case 'hub': return await hubCommand(rest);
      case 'db': return await dbCommand(rest);
      case 'start': return await (await import('./start.js')).startCommand(rest);
      case 'hash-password': return await hashPasswordCommand();
      case 'install': return await (await import('./ops/install.js')).installCommand(rest);
      case 'doctor': return await (await import('./ops/doctor.js')).doctorCommand(rest);
      case 'version': case '--version': case '-v': {
        const { AGENT_VERSION } = await import('./workers/writer/writer.js');
        process.stdout.write(`observ ${AGENT_VERSION} (node ${process.version})\n`);
        return;
      }
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(USAGE);
        if (command === undefined) process.exitCode = 2;
        return;
      default:
        throw new ObservError('OBS_ERR_USAGE', `unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (err) {
    fail(err);
  }
}

export { fail };

function args(rest: string[], options: Record<string, { type: 'string' }>, positionals = true) {
  try {
    const parsed = parseArgs({ args: rest, options, allowPositionals: positionals, strict: true });
    return { values: parsed.values as Record<string, string | undefined>, positionals: parsed.positionals };
  } catch (err) {
    throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}\n\n${USAGE}`);
  }
}

export function requireDbUrl(): string {
  const url = process.env.OBSERV_DB_URL;
  if (!url) throw new ObservError('OBS_ERR_USAGE', 'OBSERV_DB_URL is not set (e.g. export OBSERV_DB_URL=postgresql://user:pass@localhost:5432/observ_metrics), or use `observ start` for the embedded default');
  return url;
}

export { onShutdown, exitWithParent } from './supervisor/process.js';

type AgentBundle = typeof import('./supervisor/main.js');
let agentBundle: AgentBundle | undefined;
/** The bundled agent beside dist/src (built by `npm run build`); it loads no ES modules of its own. */
export function loadAgentBundle(): AgentBundle {
  agentBundle ??= createRequire(import.meta.url)('../agent/obs-agent.cjs') as AgentBundle;
  return agentBundle;
}

async function hubCommand(rest: string[]): Promise<void> {
  const { values } = args(rest, { host: { type: 'string' }, port: { type: 'string' }, alerts: { type: 'string' }, transport: { type: 'string' } }, false);
  const url = requireDbUrl();
  const { parseTransportChoice } = await import('./hub/transport/index.js');
  const transport = parseTransportChoice(values.transport ?? process.env.OBSERV_HUB_TRANSPORT, values.transport ? '--transport' : 'OBSERV_HUB_TRANSPORT');
  const port = parsePort(values.port ?? process.env.OBSERV_HUB_PORT ?? '8080');
  const host = values.host ?? process.env.OBSERV_HUB_HOST ?? '127.0.0.1';
  const { connect } = await import('./db/pg.js');
  const { migrate, schemaVersion, latestVersion } = await import('./db/migrate.js');
  const client = await connect(url, { applicationName: 'fleet-hub migrate' }).catch((err: Error) => {
    throw new ObservError('OBS_ERR_DB_UNREACHABLE', `cannot connect to the database: ${err.message}`);
  });
  // Only migrate when behind: the hub may run as the read-only observ_hub role, which cannot.
  try { if ((await schemaVersion(client)) < latestVersion()) await migrate(client); } finally { await client.end(); }
  const { startHub } = await import('./hub/server.js');
  const hub = await startHub({ databaseUrl: url, host, port, alertsFile: values.alerts, transport });
  process.stdout.write(`Dashboard: ${hub.url}\nTransport: ${hub.implementation} (${hub.transportReason})\n`);
  onShutdown(() => hub.close(), 10_000, (m) => process.stderr.write(m + '\n'));
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ObservError('OBS_ERR_USAGE', `--port must be an integer 0–65535 (got ${JSON.stringify(value)})`);
  return port;
}

async function dbCommand(rest: string[]): Promise<void> {
  const [sub] = rest;
  if (sub === 'retention') return (await import('./ops/retention.js')).retentionCommand(rest.slice(1));
  if (sub === 'rollup') return (await import('./ops/rollup.js')).rollupCommand(rest.slice(1));
  if (sub !== 'migrate') throw new ObservError('OBS_ERR_USAGE', `usage: observ db migrate | retention | rollup`);
  const url = requireDbUrl();
  const { connect } = await import('./db/pg.js');
  const { migrate, schemaVersion } = await import('./db/migrate.js');
  const client = await connect(url, { applicationName: 'observ db' }).catch((err: Error) => {
    throw new ObservError('OBS_ERR_DB_UNREACHABLE', `cannot connect to the database: ${err.message}`);
  });
  try {
    const applied = await migrate(client);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
    process.stdout.write(`schema version ${await schemaVersion(client)}\n`);
  } finally {
    await client.end();
  }
}

async function hashPasswordCommand(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 12) throw new ObservError('OBS_ERR_USAGE', 'the password must be at least 12 characters (pipe it on stdin: observ hash-password < file)');
  const { hashPassword } = await import('./hub/auth.js');
  process.stdout.write(`OBSERV_HUB_PASSWORD_HASH=${await hashPassword(password)}\n`);
}
