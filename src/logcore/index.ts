// Placeholder-free minimal logcore (the logcore issue replaces it with the pino-based library).
import { appendFileSync } from 'node:fs';

type Level = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

export interface LogOptions { context?: Record<string, unknown>; err?: unknown }

function errorShape(err: unknown): Record<string, unknown> | undefined {
  if (!(err instanceof Error)) return undefined;
  return { type: err.name, message: err.message, stack: err.stack, ...(err.cause ? { cause: errorShape(err.cause) } : {}) };
}

export function getLogger(name: string, options: { logFile?: string; context?: Record<string, unknown> } = {}) {
  const write = (level: Level, message: string, o: LogOptions = {}) => {
    const context = { ...options.context, ...o.context };
    const exception = errorShape(o.err);
    const line = JSON.stringify({ timestamp: new Date().toISOString(), level, logger: name, message, context,
      ...(exception ? { exception } : {}) }) + '\n';
    if (options.logFile) appendFileSync(options.logFile, line);
    else process.stdout.write(line);
  };
  return {
    trace: (m: string, o?: LogOptions) => write('TRACE', m, o),
    debug: (m: string, o?: LogOptions) => write('DEBUG', m, o),
    info: (m: string, o?: LogOptions) => write('INFO', m, o),
    warn: (m: string, o?: LogOptions) => write('WARN', m, o),
    error: (m: string, o?: LogOptions) => write('ERROR', m, o),
    fatal: (m: string, o?: LogOptions) => write('FATAL', m, o),
    flush: () => {},
  };
}
