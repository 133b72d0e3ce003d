// Spawns agents as child processes (as systemd runs them) and reads their JSON log lines.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentOptions } from '../../src/supervisor/agent.js';
import { FACTORIES_ENV } from '../../src/supervisor/host.js';

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/supervisor/${name}.js`, import.meta.url));
export const agentBin = fileURLToPath(new URL('../../../bin/obs-agent.cjs', import.meta.url));

export interface AgentFiles { app: string; configFile: string; stateDir: string; dir: string }

/** A config.yml (and state dir) in a fresh temporary directory, removed after the test. */
export function agentFiles(t: TestContext, monitoring: Record<string, unknown>): AgentFiles {
  const dir = mkdtempSync(join(tmpdir(), 'observ-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.yml');
  // JSON is YAML: no YAML writer needed.
  writeFileSync(configFile, JSON.stringify({ monitoring: { enabled: true, collection_interval: 10, flush_interval: 1, ...monitoring } }, null, 2));
  return { app: 'supapp', configFile, stateDir: join(dir, 'state'), dir };
}

export interface LogLine { level: string; message: string; context?: Record<string, unknown> }

export interface RunningAgent {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Waits (bounded) for a log line matching `match`; returns it. */
  waitFor(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  count(match: (line: LogLine) => boolean): number;
}

function watch(t: TestContext, child: ChildProcess): RunningAgent {
  const lines: LogLine[] = [];
  let buf = '';
  let waiters: Array<() => void> = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const raw = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { lines.push(JSON.parse(raw) as LogLine); } catch { lines.push({ level: 'RAW', message: raw }); }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => {
    for (const w of waiters) w();
    resolve(code ?? signal ?? -1);
  }));
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const waitFor = (match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000) => new Promise<LogLine>((resolve, reject) => {
    const check = () => {
      const hit = lines.find(match);
      if (hit) { done(); resolve(hit); }
      else if (child.exitCode !== null || child.signalCode !== null) { done(); reject(new Error(`agent exited before ${what}; log:\n${dump(lines)}`)); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log:\n${dump(lines)}`)); }, timeoutMs);
    const done = () => { clearTimeout(timer); waiters = waiters.filter((w) => w !== check); };
    waiters.push(check);
    check();
  });
  return { child, lines, exited, waitFor, count: (match) => lines.filter(match).length };
}

export function dump(lines: LogLine[]): string {
  return lines.map((l) => `  ${l.level} ${l.message} ${l.context ? JSON.stringify(l.context).slice(0, 300) : ''}`).join('\n');
}

/** Runs the fixture agent (test/fixtures/supervisor/agent-child) with the given actor factories module. */
export function spawnFixtureAgent(t: TestContext, files: AgentFiles, factories: string | null,
  options: Omit<AgentOptions, 'config' | 'log'> = {}, deadlineMs = 10_000): RunningAgent {
  const env: NodeJS.ProcessEnv = { ...process.env, OBSERV_LOG_LEVEL: 'debug' };
  if (factories) env[FACTORIES_ENV] = fixture(factories);
  const child = spawn(process.execPath, [fixture('agent-child'), JSON.stringify({ ...files, options, deadlineMs })],
    { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return watch(t, child);
}

/** Runs the real agent binary, as the systemd unit does. */
export function spawnAgentBin(t: TestContext, files: AgentFiles, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): RunningAgent {
  const child = spawn(process.execPath, [...nodeArgs, agentBin, files.app, '--config', files.configFile, '--state-dir', files.stateDir, '--vps-name', 'test-vps'],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  return watch(t, child);
}

export const message = (text: string) => (l: LogLine) => l.message === text;
export const startsWith = (text: string) => (l: LogLine) => l.message.startsWith(text);
