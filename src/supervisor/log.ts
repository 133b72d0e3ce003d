// The agent's own log: one JSON line per event on stderr (journald keeps it), in logcore's line format,
// written synchronously so nothing is lost when the process exits. Deliberately not pino: the agent
// has a 50 MB budget and this is all it needs.

import { writeSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface AgentLog {
  (level: Level, message: string, context?: Record<string, unknown>): void;
}

export function createAgentLog(logger: string, minLevel: Level = (process.env.OBSERV_LOG_LEVEL as Level) || 'info', fd = 2): AgentLog {
  const min = ORDER[minLevel] ?? ORDER.info;
  return (level, message, context) => {
    if (ORDER[level] < min) return;
    const line = JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase(), logger, message,
      ...(context && Object.keys(context).length ? { context } : {}) }) + '\n';
    try { writeSync(fd, line); } catch { /* stderr closed: nothing better to do */ }
  };
}
