// Runs the real agent (bin/observ.js agent …) as a child process, the way systemd would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const BIN = fileURLToPath(new URL('../../../bin/observ.js', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Deployment {
  dir: string;
  configFile: string;
  stateDir: string;
  logDir: string;
}

/** Writes APP/config.yml (and .env.production) into a fresh deployments root. */
export function deployment(app: string, configYaml: string, dotenv?: string): Deployment {
  const root = mkdtempSync(join(tmpdir(), 'observ-deploy-'));
  const dir = join(root, app);
  const logDir = join(dir, 'current', 'logs');
  mkdirSync(logDir, { recursive: true });
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, configYaml.replace(/\{logDir\}/g, logDir));
  if (dotenv !== undefined) writeFileSync(join(dir, '.env.production'), dotenv);
  return { dir, configFile, stateDir: join(dir, 'state'), logDir };
}

export function runAgent(t: TestContext, app: string, d: Deployment, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): AgentProcess {
  const child = spawn(process.execPath, [BIN, 'agent', app, '--config', d.configFile, '--state-dir', d.stateDir, '--vps-name', 'test-vps', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b; });
  child.stderr!.on('data', (b: Buffer) => { out += b; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  t.after(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; } });
  return {
    child,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}
