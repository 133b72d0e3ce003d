// First version of the line parser; the collectors issue deepens it.
import type { LogRecord } from '../../supervisor/messages.js';

export function parseLogLine(line: Buffer, opts: { readAt: Date; sourceFile: string; maxLineBytes: number }): LogRecord {
  const text = line.toString('utf8').replace(/\r$/, '');
  const base: LogRecord = { timestamp: opts.readAt.toISOString(), level: 'INFO', logger: null, message: text, context: null,
    exception: null, flags: [], raw: null, sourceFile: opts.sourceFile };
  if (text.startsWith('{')) {
    try {
      const o = JSON.parse(text) as Record<string, unknown>;
      return { ...base, timestamp: typeof o.timestamp === 'string' ? new Date(o.timestamp).toISOString() : base.timestamp,
        level: typeof o.level === 'string' ? o.level.toUpperCase() : 'INFO', logger: typeof o.logger === 'string' ? o.logger : null,
        message: typeof o.message === 'string' ? o.message : text,
        context: (o.context as Record<string, unknown>) ?? null, exception: (o.exception as Record<string, unknown>) ?? null };
    } catch {
      return { ...base, flags: ['invalid_json'], raw: text };
    }
  }
  const m = /\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b/.exec(text);
  return { ...base, level: m ? m[1]!.replace('WARNING', 'WARN').replace('CRITICAL', 'FATAL') : 'INFO' };
}
