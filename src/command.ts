// The plumbing every command shares: argument parsing with usage errors, the database URL from the
// environment, a connection that fails with a coded error, and signal handling. It sits below both
// the `observ` dispatcher (src/cli.ts) and the commands in src/ops/, so that ops never imports the
// CLI: test/cli/imports.test.ts keeps the import graph free of cycles.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, ObservError } from './errors.js';
import type { ConnectOptions, PgClient } from './db/pg.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict; a bad flag becomes OBS_ERR_USAGE with `usage` after the message. */
export function commandArgs<O extends OptionsConfig>(args: string[], options: O, usage: string, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}\n${usage}`);
  }
}

export function requireDbUrl(): string {
  const url = process.env.OBSERV_DB_URL;
  if (!url) throw new ObservError('OBS_ERR_USAGE', 'OBSERV_DB_URL is not set (e.g. export OBSERV_DB_URL=postgresql://user:pass@localhost:5432/observ_metrics), or use `observ start` for the embedded default');
  return url;
}

/** One client for a command's run; an unreachable database is OBS_ERR_DB_UNREACHABLE. */
export async function connectForCommand(url: string, options: ConnectOptions): Promise<PgClient> {
  const { connect } = await import('./db/pg.js');
  return connect(url, options).catch((err: Error) => {
    throw new ObservError('OBS_ERR_DB_UNREACHABLE', `cannot connect to the database: ${err.message}`);
  });
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ObservError('OBS_ERR_USAGE', `--port must be an integer 0–65535 (got ${JSON.stringify(value)})`);
  return port;
}

/** Prints an error the way every command does and exits: 2 for usage and configuration, else 1. */
export function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`error: invalid configuration (${err.code})\n${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof ObservError) {
    process.stderr.write(`error: ${err.message} (${err.code})\n`);
    process.exit(err.code === 'OBS_ERR_USAGE' ? 2 : 1);
  }
  process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
}

/** Runs `stop` once on SIGTERM/SIGINT; a second signal, or the deadline, forces exit. */
export function onShutdown(stop: () => Promise<void>, deadlineMs: number, log: (m: string) => void): void {
  let firstAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt) {
      // Ctrl-C reaches the whole process group and npm forwards it too, so one keypress can arrive
      // as several signals: only a signal well after the first one means "stop waiting".
      if (Date.now() - firstAt < 3000) return;
      log(`second ${signal}: exiting now`);
      process.exit(1);
    }
    firstAt = Date.now();
    const force = setTimeout(() => { log(`shutdown deadline (${deadlineMs} ms) passed: exiting`); process.exit(1); }, deadlineMs + 2000);
    force.unref();
    stop().then(() => process.exit(0), (err: Error) => { log(`shutdown failed: ${err.message}`); process.exit(1); });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * For child processes of `observ start`: when the parent dies without stopping us (SIGKILL), we are
 * re-parented; stop gracefully instead of running on as an orphan.
 */
export function exitWithParent(stop: () => Promise<void>, log: (m: string) => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log('parent process is gone: stopping');
    stop().then(() => process.exit(0), () => process.exit(1));
  }, 1000);
  timer.unref();
}
