// How an Observ process ends: on an error (fail) and on SIGTERM/SIGINT (onShutdown), shared by
// `observ` and the bundled agent. Node built-ins only, so importing it loads nothing else.

import { ConfigError, ObservError } from '../errors.js';

/** Ends the process for an error: 2 for usage and configuration errors, 1 otherwise. */
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

