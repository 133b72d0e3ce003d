// `observ` — one binary, subcommands. Each subcommand loads only what it uses (dynamic imports), so
// `observ agent` never pays for the hub's or the embedded database's modules.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ObservError } from './errors.js';
import { commandArgs, connectForCommand, fail, onShutdown, parsePort, requireDbUrl } from './command.js';

const USAGE = `observ — self-hosted fleet monitoring

Usage:
  observ start [--host 127.0.0.1] [--port 8080] [--data-dir .observ]
        everything on the embedded default: PostgreSQL, hub, demo apps and their agents
  observ agent APP [--config FILE] [--state-dir DIR] [--vps-name NAME]
        run the agent for APP (config: $OBSERV_DEPLOYMENTS_DIR/APP/config.yml, root /opt/deployments)
  observ hub [--host 127.0.0.1] [--port 8080] [--alerts FILE] [--transport auto|uws|node] [--status-page FILE]
             [--db-read-url URL]
        run the hub (dashboard, API, live stream, alerting) against $OBSERV_DB_URL; dashboard reads
        on a streaming replica with --db-read-url ($OBSERV_DB_READ_URL)
  observ db migrate
        apply missing schema migrations to $OBSERV_DB_URL
  observ db retention [--dry-run]
        drop data past its retention (daily partitions), for cron users
  observ db rollup
        fold per-minute data into hourly aggregates
  observ db embedded-clean [--dry-run]
        remove the embedded PostgreSQL's binary copies (made when run as root from a folder other users
        cannot reach) that no running server uses; database files are kept
  observ install APP [--dry-run]
        set up obs-agent@APP under systemd (checks the config first)
  observ doctor APP
        check config, database, log files and health URLs for APP, with fixes
  observ deploy APP [--version V] [--vps NAME] [--release PATH] [--config FILE]
        record a deploy of APP (a marker on its charts, quoted in alerts), for pipelines that do not switch
        $OBSERV_DEPLOYMENTS_DIR/APP/current (the agent records those itself); version: --version, else the
        release's VERSION file, else its folder name
  observ anomaly detect FILE|- [--interval SECONDS]
        score a timestamp,value CSV with the hub's anomaly detector; writes timestamp,value,score,anomaly
  observ hash-password < password.txt
        print the scrypt hash for OBSERV_HUB_PASSWORD_HASH (reads the password from stdin)
  observ version

Environment:
  OBSERV_DB_URL            postgresql://user:pass@host:5432/observ_metrics
  OBSERV_DB_READ_URL       a streaming replica of it, for the hub's dashboard reads (optional)
  OBSERV_DEPLOYMENTS_DIR   root of app deployments (default /opt/deployments)
`;

/** The usage entries of one command (`observ agent --help`, `obs-agent --help`), and the environment. */
export function commandUsage(command: string): string {
  const body = USAGE.slice(USAGE.indexOf('Usage:\n') + 'Usage:\n'.length, USAGE.indexOf('\nEnvironment:'));
  const entries = body.split(/\n(?=  observ )/).filter((e) => e.startsWith(`  observ ${command}`));
  return `Usage:\n${entries.join('\n')}\n${USAGE.slice(USAGE.indexOf('\nEnvironment:'))}`;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    // `--help` after a command shows that command (db's subcommands answer it themselves).
    if (command && command !== 'db' && USAGE.includes(`  observ ${command} `) && (rest.includes('--help') || rest.includes('-h'))) {
      process.stdout.write(commandUsage(command));
      return;
    }
    if ((command === 'agent' || command === 'hub') && rest.length === 1 && rest[0] === '--version') argv = ['version'];
    switch (argv[0]) {
      // The bundled agent (dist/agent/obs-agent.cjs, scripts/build-agent.ts): the same code obs-agent
      // runs, with its own error classes, so it reports its own errors.
      case 'agent': return await loadAgentBundle().main(rest);
      case 'hub': return await hubCommand(rest);
      case 'db': return await dbCommand(rest);
      case 'start': return await (await import('./start.js')).startCommand(rest);
      case 'hash-password': return await hashPasswordCommand();
      case 'anomaly': return await (await import('./ops/anomaly.js')).anomalyCommand(rest);
      case 'install': return await (await import('./ops/install.js')).installCommand(rest);
      case 'doctor': return await (await import('./ops/doctor.js')).doctorCommand(rest);
      case 'deploy': return await (await import('./ops/deploy.js')).deployCommand(rest);
      case 'version': case '--version': case '-v':
        process.stdout.write(`observ ${packageVersion()} (node ${process.version})\n`);
        return;
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

export { fail, onShutdown };
export { exitWithParent } from './command.js';

type AgentBundle = typeof import('./supervisor/main.js');
let agentBundle: AgentBundle | undefined;
/** The bundled agent beside dist/src (built by `npm run build`); it loads no ES modules of its own. */
export function loadAgentBundle(): AgentBundle {
  agentBundle ??= createRequire(import.meta.url)('../agent/obs-agent.cjs') as AgentBundle;
  return agentBundle;
}

async function hubCommand(rest: string[]): Promise<void> {
  const { values } = args(rest, { host: { type: 'string' }, port: { type: 'string' }, alerts: { type: 'string' }, transport: { type: 'string' }, 'status-page': { type: 'string' },
    'db-read-url': { type: 'string' } }, false);
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
  const hub = await startHub({ databaseUrl: url, host, port, alertsFile: values.alerts, transport, statusPage: values['status-page'],
    readDatabaseUrl: values['db-read-url'] });
  process.stdout.write(`Dashboard: ${hub.url}\nTransport: ${hub.implementation} (${hub.transportReason})\n`);
  onShutdown(() => hub.close(), 10_000, (m) => process.stderr.write(m + '\n'));
}

async function dbCommand(rest: string[]): Promise<void> {
  const [sub] = rest;
  if (sub === 'retention') return (await import('./ops/retention.js')).retentionCommand(rest.slice(1));
  if (sub === 'rollup') return (await import('./ops/rollup.js')).rollupCommand(rest.slice(1));
  if (sub === 'embedded-clean') return embeddedCleanCommand(rest.slice(1));
  if (sub !== 'migrate') throw new ObservError('OBS_ERR_USAGE', `usage: observ db migrate | retention | rollup | embedded-clean`);
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

async function embeddedCleanCommand(rest: string[]): Promise<void> {
  const dryRun = commandArgs(rest, { 'dry-run': { type: 'boolean' } }, 'usage: observ db embedded-clean [--dry-run]').values['dry-run'] === true;
  const { cleanBinaryCopies, embeddedRoot } = await import('./db/embedded-binaries.js');
  const { removed, inUse } = cleanBinaryCopies({ dryRun });
  for (const { path, bytes } of removed) process.stdout.write(`${dryRun ? 'would remove' : 'removed'} ${path} (${(bytes / 1048576).toFixed(1)} MB)\n`);
  for (const { path, pid } of inUse) process.stdout.write(`kept ${path}: in use (pid ${pid})\n`);
  if (!removed.length && !inUse.length) process.stdout.write(`no PostgreSQL binary copies in ${embeddedRoot()}\n`);
}

async function hashPasswordCommand(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 12) throw new ObservError('OBS_ERR_USAGE', 'the password must be at least 12 characters (pipe it on stdin: observ hash-password < file)');
  const { hashPassword } = await import('./hub/auth.js');
  // Single-quoted: the hash is full of `$`, which a shell sourcing the env file would expand.
  // systemd's EnvironmentFile= strips the quotes too, and the hub accepts the value with or without them.
  process.stdout.write(`OBSERV_HUB_PASSWORD_HASH='${await hashPassword(password)}'\n`);
}
