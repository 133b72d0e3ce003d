// The error catalogue: one class per failure with a stable `code`. README.md's "Error codes"
// section lists the same codes; test/errors/catalogue.test.ts keeps the two in step.

export const ERROR_CODES = {
  OBS_ERR_CONFIG: 'The agent or hub configuration is invalid (file, line and field are named).',
  OBS_ERR_CONFIG_NOT_FOUND: 'The configuration file does not exist or cannot be read.',
  OBS_ERR_USAGE: 'The command line is invalid.',
  OBS_ERR_DB_UNREACHABLE: 'PostgreSQL could not be reached or refused the connection.',
  OBS_ERR_MIGRATION: 'A schema migration failed.',
  OBS_ERR_EMBEDDED_PG: 'The embedded PostgreSQL could not be started or stopped.',
  OBS_ERR_UWS_UNAVAILABLE: '`--transport uws` was asked for, and no uWebSockets.js build loads here (each build tried is named with its cause).',
  OBS_ERR_ACTOR_CRASH_LOOP: 'An agent actor crashed too often and was not restarted again.',
  OBS_ERR_CLOSED: 'Work was submitted after close().',
  OBS_ERR_CHECKPOINT_AHEAD: "The database checkpoint is ahead of every batch this agent issued (changed by another login or agent): its batches are stored anyway and the checkpoint reset.",
  OBS_ERR_ANOMALY_INPUT: 'The input of `observ anomaly detect` is not `timestamp,value` CSV (the line and field are named).',
  OBS_ERR_AGENT_LOGIN: "The agent's database login may not write as this vps/app (another login holds it in observ_agent_logins).",
  OBS_ERR_JOURNAL: 'The journald source cannot run journalctl or read the journal (journalctl missing, the agent outside the systemd-journal group, an unreadable journal_directory); retried with backoff.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ObservError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ObservError';
  }
}

export interface ConfigIssue {
  file: string;
  line: number | null;
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  return `${where} ${issue.path} ${issue.message}`;
}

export class ConfigError extends ObservError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('OBS_ERR_CONFIG', issues.map(formatIssue).join('\n'));
    this.issues = issues;
    this.name = 'ConfigError';
  }
}

export class ClosedError extends ObservError {
  constructor(what: string) {
    super('OBS_ERR_CLOSED', `${what} is closed`);
    this.name = 'ClosedError';
  }
}
