// Every message that crosses between actors, in one discriminated union (tagged by `type`).
// The same objects travel over worker_threads MessagePorts (placement: isolated) and over
// in-process channels (placement: compact), so they must stay structured-clone friendly:
// plain objects, strings, numbers, booleans, null, arrays. No Dates, no class instances.

export type ActorName = 'sampler' | 'prober' | 'tailer' | 'writer';

/** One metric sample of the host, as the sampler produces it. Timestamps are ISO-8601 UTC. */
export interface MetricSample {
  timestamp: string;
  cpuPercent: number | null;
  cpuUser: number | null;
  cpuSystem: number | null;
  cpuIowait: number | null;
  cpuSteal: number | null;
  memoryPercent: number | null;
  memoryMb: number | null;
  memoryAvailableMb: number | null;
  swapPercent: number | null;
  swapUsedMb: number | null;
  /** Usage of the filesystem holding the root (or the app's deployment dir). */
  diskPercent: number | null;
  diskGb: number | null;
  diskFreeGb: number | null;
  diskReadBps: number | null;
  diskWriteBps: number | null;
  netRxBps: number | null;
  netTxBps: number | null;
  loadAvg1m: number | null;
  loadAvg5m: number | null;
  loadAvg15m: number | null;
  uptimeSeconds: number | null;
  /** Per-mount usage; pseudo and read-only image filesystems left out. */
  mounts: MountUsage[];
  /** The app's own processes (absent without /proc, and from agents older than this field). */
  app?: AppSample | null;
}

/** The app's own processes at one sample: its systemd unit's cgroup, or what runs from its release dir. */
export interface AppSample {
  /** Where they were found: `unit:NAME.service` (the unit's cgroup) or `cwd:DIR` (working directory under DIR). */
  source: string;
  processes: number;
  /** Share of the whole machine, on the same scale as the host's cpuPercent. */
  cpuPercent: number | null;
  /** Resident memory summed over the processes (from the cgroup when their /proc entries are hidden). */
  rssMb: number | null;
  threads: number | null;
  /** Open file descriptors; null when /proc/PID/fd is not readable (another user, no CAP_SYS_PTRACE). */
  openFiles: number | null;
  /** Times the app's main process was replaced since the previous sample. */
  restarts: number;
}

export interface MountUsage {
  mount: string;
  fsType: string;
  usedGb: number;
  freeGb: number;
  percent: number;
}

/** One health probe result. */
export interface ProbeResult {
  timestamp: string;
  url: string;
  statusCode: number | null;
  responseTimeMs: number | null;
  success: boolean;
  errorMessage: string | null;
  /** Days until the TLS certificate expires (https only). */
  certDaysLeft: number | null;
}

/** A file's identity: device + inode + a fingerprint of its first bytes. */
export interface FileIdentity {
  dev: number;
  ino: number;
  /** hex sha1 of the first `fingerprintBytes` bytes (empty string while the file is shorter). */
  fingerprint: string;
}

/**
 * Where reading of one configured log file stands. Offsets are always at line boundaries.
 * The journald source travels the same way: path `journald`, no identity, offset 0, and `cursor`.
 */
export interface FileCheckpoint {
  /** The configured path (the stable name, e.g. /opt/deployments/app/current/logs/app.log), or `journald`. */
  path: string;
  identity: FileIdentity | null;
  offset: number;
  /** journald source only: the journal cursor of the last entry handed out (absent: start at the oldest entry). */
  cursor?: string;
  /**
   * Only on the release entry (path `release:` + the release symlink, see src/workers/deploys): where
   * the symlink pointed when the batch was sealed. It travels with the file positions, so the spool and
   * agent_checkpoints hold it in the same transaction as the deploy it records.
   */
  target?: string | null;
}

/** A parsed log line ready to store. */
export interface LogRecord {
  timestamp: string;
  level: string;
  logger: string | null;
  message: string;
  /** JSON-serialisable object, stored as JSONB. */
  context: Record<string, unknown> | null;
  /** An error attached to the line (logcore `exception`: type, message, stack, cause chain), stored as JSONB. */
  exception: Record<string, unknown> | null;
  /** Set when the line could not be parsed as intended: 'invalid_json', 'invalid_utf8', 'truncated', 'nul_removed'… */
  flags: string[];
  /** The original line when it was not stored faithfully otherwise (invalid JSON, truncated). */
  raw: string | null;
  sourceFile: string;
}

/** Lines read from one file, plus the position just after the last complete line. */
export interface LogBatch {
  records: LogRecord[];
  checkpoint: FileCheckpoint;
  /** Bytes consumed from the file for these records (for flow control). */
  bytes: number;
}

/** Counted events that must reach the database and the agent's own log (lost lines, thinned samples…). */
export interface AgentEvent {
  timestamp: string;
  kind: string;
  detail: Record<string, unknown>;
}

/** A release of the app went live: its release symlink points somewhere new. Stored exactly once (src/workers/deploys). */
export interface DeploymentRecord {
  /** When the symlink was switched (its own mtime), else when the agent noticed. */
  timestamp: string;
  /** The release directory it points to now (absolute, as resolved from the symlink). */
  release: string;
  /** The one it pointed to before (null: the symlink is new). */
  previousRelease: string | null;
  /** The release's VERSION file (first line, bounded), else the release folder's name. */
  version: string;
}

/** Messages from collector actors (sampler, prober, tailer) to the supervisor and writer. */
export type CollectorMessage =
  | { type: 'READY'; actor: ActorName }
  | { type: 'HEARTBEAT'; actor: ActorName; at: number }
  | { type: 'METRIC'; sample: MetricSample }
  | { type: 'PROBE'; result: ProbeResult }
  | { type: 'LOGS'; batch: LogBatch }
  | { type: 'EVENT'; event: AgentEvent }
  | { type: 'LOG'; level: 'debug' | 'info' | 'warn' | 'error'; actor: ActorName; message: string; context?: Record<string, unknown> }
  | { type: 'ERROR'; actor: ActorName; message: string; stack?: string }
  | { type: 'STOPPED'; actor: ActorName };

/** Messages from the supervisor to collector actors. */
export type ControlMessage =
  /** These file positions are durable (in the spool, ahead of the COMMIT): the tailer may release its in-flight window. */
  | { type: 'COMMITTED'; files: FileCheckpoint[]; bytes: number }
  /** The spool is full: stop reading files (lines stay safe in them) until RESUME_TAILING. */
  | { type: 'PAUSE_TAILING'; reason: string }
  | { type: 'RESUME_TAILING' }
  /** Stop producing, send what is in hand, then answer STOPPED. */
  | { type: 'STOP' };

export function assertNever(value: never, where: string): never {
  throw new Error(`unexpected message in ${where}: ${JSON.stringify(value)}`);
}
