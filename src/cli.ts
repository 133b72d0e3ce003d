// `observ` — one binary, subcommands. Each subcommand loads only what it uses (dynamic imports), so
// `observ agent` never pays for the hub's or the embedded database's modules.

import { ObservError } from './errors.js';
import { commandArgs, connectForCommand, exitWithParent, fail, onShutdown, parsePort, requireDbUrl } from './command.js';

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
      case 'agent': return await agentCommand(rest);
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

function args(rest: string[], options: Record<string, { type: 'string' }>, positionals = true) {
  const parsed = commandArgs(rest, options, `\n${USAGE}`, positionals);
  return { values: parsed.values as Record<string, string | undefined>, positionals: parsed.positionals };
}

async function agentCommand(rest: string[]): Promise<void> {
  const { values, positionals } = args(rest, {
    config: { type: 'string' }, 'state-dir': { type: 'string' }, 'vps-name': { type: 'string' },
  });
  const app = positionals[0];
  if (!app || positionals.length > 1) throw new ObservError('OBS_ERR_USAGE', `usage: observ agent APP [--config FILE] [--state-dir DIR] [--vps-name NAME]`);
  const { loadAgentConfig } = await import('./supervisor/config.js');
  const { createAgentLog } = await import('./supervisor/log.js');
  const log = createAgentLog('obs-agent');
  const config = loadAgentConfig({
    app, configFile: values.config, stateDir: values['state-dir'], vpsName: values['vps-name'],
    warn: (m) => log('warn', m),
  });
  if (!config.enabled) {
    log('info', `monitoring is disabled for ${app} (monitoring.enabled is not true in ${config.configFile}); nothing to do`);
    return;
  }
  const { Agent } = await import('./supervisor/agent.js');
  const agent = new Agent({ config, log });
  onShutdown(() => agent.stop(10_000), 10_000, (m) => log('warn', m));
  if (process.env.OBSERV_EXIT_WITH_PARENT === '1') exitWithParent(() => agent.stop(10_000), (m) => log('warn', m));
  await agent.start();
}

async function hubCommand(rest: string[]): Promise<void> {
  const { values } = args(rest, { host: { type: 'string' }, port: { type: 'string' }, alerts: { type: 'string' }, transport: { type: 'string' } }, false);
  const url = requireDbUrl();
  const { parseTransportChoice } = await import('./hub/transport/index.js');
  const transport = parseTransportChoice(values.transport ?? process.env.OBSERV_HUB_TRANSPORT, values.transport ? '--transport' : 'OBSERV_HUB_TRANSPORT');
  const port = parsePort(values.port ?? process.env.OBSERV_HUB_PORT ?? '8080');
  const host = values.host ?? process.env.OBSERV_HUB_HOST ?? '127.0.0.1';
  const { migrate, schemaVersion, latestVersion } = await import('./db/migrate.js');
  const client = await connectForCommand(url, { applicationName: 'fleet-hub migrate' });
  // Only migrate when behind: the hub may run as the read-only observ_hub role, which cannot.
  try { if ((await schemaVersion(client)) < latestVersion()) await migrate(client); } finally { await client.end(); }
  const { startHub } = await import('./hub/server.js');
  const hub = await startHub({ databaseUrl: url, host, port, alertsFile: values.alerts, transport });
  process.stdout.write(`Dashboard: ${hub.url}\nTransport: ${hub.implementation} (${hub.transportReason})\n`);
  onShutdown(() => hub.close(), 10_000, (m) => process.stderr.write(m + '\n'));
}

async function dbCommand(rest: string[]): Promise<void> {
  const [sub] = rest;
  if (sub === 'retention') return (await import('./ops/retention.js')).retentionCommand(rest.slice(1));
  if (sub === 'rollup') return (await import('./ops/rollup.js')).rollupCommand(rest.slice(1));
  if (sub !== 'migrate') throw new ObservError('OBS_ERR_USAGE', `usage: observ db migrate | retention | rollup`);
  const url = requireDbUrl();
  const { migrate, schemaVersion } = await import('./db/migrate.js');
  const client = await connectForCommand(url, { applicationName: 'observ db' });
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
