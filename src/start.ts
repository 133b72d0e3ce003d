// `observ start` (= `npm start`): the whole system on one machine with nothing installed but Node.
//
//   embedded PostgreSQL (./.observ/postgres) ◄── COPY ── obs-agent demo-shop ◄── tails/probes ── demo app :P1
//        ▲                                      ◄── COPY ── obs-agent demo-api  ◄── tails/probes ── demo app :P2
//        └── LISTEN/queries ── hub (in this process) ── http://127.0.0.1:8080
//
// Agents and demo apps are child processes, the agents started as systemd starts them (`obs-agent APP`
// with the measured runtime flags). Ctrl-C / SIGTERM stops them in order — agents (final flush) → demo apps → hub →
// PostgreSQL — so no postgres process is left behind. When OBSERV_DB_URL is set, nothing is embedded.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { commandArgs, onShutdown, parsePort } from './command.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from './supervisor/launch-flags.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AGENT_BIN = join(ROOT, 'bin', 'obs-agent.js');
const DEMO_APP = join(ROOT, 'dist', 'examples', 'demo-app.js');

const say = (m: string) => process.stdout.write(m + '\n');

export interface DemoApp {
  name: string;
  linesPerSecond: number;
}

const DEMO_APPS: DemoApp[] = [
  { name: 'demo-shop', linesPerSecond: 3 },
  { name: 'demo-api', linesPerSecond: 1 },
];

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((r) => {
    const t = setTimeout(() => r(false), ms);
    child.once('exit', () => { clearTimeout(t); r(true); });
  });
}

async function stopChild(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, ms))) { child.kill('SIGKILL'); await waitExit(child, 2000); }
}

export async function startCommand(rest: string[]): Promise<void> {
  const { values } = commandArgs(rest, { host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' } },
    'usage: observ start [--host 127.0.0.1] [--port 8080] [--data-dir .observ]');
  const dataDir = resolve(values['data-dir'] ?? '.observ');
  const host = values.host ?? '127.0.0.1';
  const port = parsePort(values.port ?? '8080');
  mkdirSync(dataDir, { recursive: true });

  let pg: import('./db/embedded.js').EmbeddedPostgres | null = null;
  let dbUrl = process.env.OBSERV_DB_URL;
  if (!dbUrl) {
    const { EmbeddedPostgres } = await import('./db/embedded.js');
    pg = new EmbeddedPostgres({ dir: join(dataDir, 'postgres'), log: say });
    const t0 = Date.now();
    dbUrl = await pg.start();
    say(`PostgreSQL (embedded) ready in ${Date.now() - t0} ms on 127.0.0.1:${pg.port}, data in ${pg.pgdata}`);
  } else {
    say('Using OBSERV_DB_URL (nothing embedded)');
  }

  const children: { name: string; child: ChildProcess; kind: 'agent' | 'app' }[] = [];
  let hub: import('./hub/server.js').Hub | null = null;
  let stopping = false;

  const stopAll = async () => {
    stopping = true;
    say('stopping: agents → demo apps → hub → database');
    await Promise.all(children.filter((c) => c.kind === 'agent').map((c) => stopChild(c.child, 12_000)));
    await Promise.all(children.filter((c) => c.kind === 'app').map((c) => stopChild(c.child, 3000)));
    await hub?.close();
    await pg?.stop();
    say('stopped');
  };
  onShutdown(stopAll, 20_000, say);

  try {
    const { connect } = await import('./db/pg.js');
    const { migrate } = await import('./db/migrate.js');
    const client = await connect(dbUrl);
    try {
      const applied = await migrate(client);
      if (applied.length) say(`schema: applied ${applied.join(', ')}`);
    } finally { await client.end(); }

    const { startHub } = await import('./hub/server.js');
    hub = await startHub({ databaseUrl: dbUrl, host, port });

    const { freePort } = await import('./db/embedded.js');
    const vps = process.env.OBSERV_VPS_NAME || hostname();
    for (const demo of DEMO_APPS) {
      const appDir = join(dataDir, 'deployments', demo.name);
      const logFile = join(appDir, 'current', 'logs', 'app.log');
      mkdirSync(join(appDir, 'current', 'logs'), { recursive: true });
      const appPort = await freePort();
      const app = spawn(process.execPath, [DEMO_APP, '--port', String(appPort), '--log-file', logFile, '--lines-per-second', String(demo.linesPerSecond), '--exit-with-parent'],
        { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push({ name: demo.name, child: app, kind: 'app' });
      // The spec's config.yml, as a user would write it (the database URL comes from .env.production).
      writeFileSync(join(appDir, 'config.yml'), [
        'monitoring:',
        '  enabled: true',
        '  postgres_url: ${OBSERV_DB_URL}',
        '  collection_interval: 10',
        '  flush_interval: 2',
        '  health_checks:',
        `    - url: http://127.0.0.1:${appPort}/health`,
        '      interval: 10',
        '      timeout: 5',
        `    - url: http://127.0.0.1:${appPort}/api/status`,
        '      interval: 15',
        '      timeout: 5',
        '  log_files:',
        `    - ${join(dataDir, 'deployments')}/{app}/current/logs/app.log`,
        '',
      ].join('\n'));
      writeFileSync(join(appDir, '.env.production'), `OBSERV_DB_URL=${dbUrl}\n`, { mode: 0o600 });
      // Launched as systemd launches it: obs-agent with the measured runtime flags and environment.
      const agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_BIN, demo.name, '--state-dir', join(appDir, 'state'), '--vps-name', vps], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: agentEnv(join(dataDir, 'deployments')),
      });
      children.push({ name: demo.name, child: agent, kind: 'agent' });
    }
    for (const c of children) {
      c.child.once('exit', (code, signal) => {
        if (!stopping) say(`${c.kind} ${c.name} exited unexpectedly (${signal ?? code})`);
      });
    }
    say(`Dashboard: ${hub.url}`);
    say(`Transport: ${hub.implementation} (${hub.transportReason})`);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The agent reads the database URL from .env.production, as in production. */
function agentEnv(deploymentsDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...AGENT_ENV, ...process.env, OBSERV_DEPLOYMENTS_DIR: deploymentsDir, OBSERV_EXIT_WITH_PARENT: '1' };
  delete env.OBSERV_DB_URL;
  return env;
}
