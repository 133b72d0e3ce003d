// The plumbing every command shares: argument parsing with usage errors, the database URL from the
// environment, a connection that fails with a coded error, and signal handling. It sits below both
// the `observ` dispatcher (src/cli.ts) and the commands in src/ops/, so that ops never imports the
// CLI: test/cli/imports.test.ts keeps the import graph free of cycles.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ObservError } from './errors.js';
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
// The process helpers live with the agent's entry (src/supervisor/process.ts), which is bundled
// alone into the agent; every other command takes them from here.
export { exitWithParent, fail, onShutdown } from './supervisor/process.js';
