// Deploy markers, I/O part: polls the release symlink (`$OBSERV_DEPLOYMENTS_DIR/{app}/current`) and
// hands each change of its target to the writer.
//
// It runs in the supervisor's thread, beside the writer, whatever the placement: its only state (the
// last target) must enter the writer's file positions in the same call as the deploy event, so both
// are sealed into one batch; and one readlink every few seconds costs microseconds and no import.

import { lstat, open, readlink } from '../fs-async.js';
import { dirname, join, resolve } from 'node:path';
import type { DeploymentRecord } from '../../supervisor/messages.js';
import { deploymentRecord, isDeploy } from './release.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** How often the symlink is read by default: a deploy is noticed within this. */
export const DEFAULT_RELEASE_POLL_MS = 5000;
/** Bytes of a VERSION file read (its first line is all that is kept). */
const VERSION_READ_BYTES = 1024;

export interface ReleaseWatcherOptions {
  /** The release symlink. */
  releaseDir: string;
  /** The target stored with the newest batch (storedTarget): undefined when none was ever stored. */
  stored: string | null | undefined;
  pollMs?: number;
  /** Hands a deploy to the writer; false while it cannot take one (spool full): offered again at the next poll. */
  record(deployment: DeploymentRecord): boolean;
  /** Keeps a target without recording a deploy (nothing was stored before: a first start). */
  remember(target: string | null): void;
  log?: (level: LogLevel, message: string, context?: Record<string, unknown>) => void;
}

export class ReleaseWatcher {
  private last: string | null | undefined;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  private lastPollAt = 0;
  private warned = '';
  private readonly log: NonNullable<ReleaseWatcherOptions['log']>;

  constructor(private readonly o: ReleaseWatcherOptions) {
    this.last = o.stored;
    this.log = o.log ?? (() => {});
  }

  /** Reads the symlink now, then every pollMs. */
  start(): Promise<void> {
    const first = this.poll();
    this.timer = setInterval(() => { void this.poll(); }, this.o.pollMs ?? DEFAULT_RELEASE_POLL_MS);
    this.timer.unref?.();
    return first;
  }

  /** One reading of the symlink (never overlapping another). */
  poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.polling ??= this.pollOnce().catch((err: Error) => this.warnOnce('error', `reading the release symlink failed: ${err.message}`))
      .finally(() => { this.polling = null; });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const since = this.lastPollAt;
    this.lastPollAt = Date.now();
    const current = await this.readTarget();
    if (this.closed) return;
    if (this.last === undefined) {
      this.last = current;
      this.o.remember(current);
      this.log('info', 'release symlink: remembering its target (a first start records no deploy)', { releaseDir: this.o.releaseDir, target: current });
      return;
    }
    if (!isDeploy(this.last, current)) return;
    const release = current!;
    const [versionFile, at] = await Promise.all([readVersionFile(release), this.switchedAt(since)]);
    if (this.closed) return;
    const deployment = deploymentRecord(release, this.last, versionFile, at);
    if (!this.o.record(deployment)) {
      this.log('debug', 'deploy noticed while the writer cannot take it (spool full); offered again at the next poll', { release });
      return;
    }
    this.log('info', 'deploy', { ...deployment });
    this.last = release;
  }

  /** Absolute target of the symlink; null when it does not exist or is not a symlink. */
  private async readTarget(): Promise<string | null> {
    try {
      const target = await readlink(this.o.releaseDir);
      this.warned = '';
      return resolve(dirname(this.o.releaseDir), target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'EINVAL') {
        this.warnOnce('info', 'the release dir is not a symlink: deploys are noticed only when it is one (else record them with `observ deploy`)');
        return null;
      }
      throw err;
    }
  }

  /**
   * The symlink's own mtime is when it was switched (`ln -sfn`, or `mv -T` of a fresh link). While the
   * agent runs, the switch happened since the previous poll, so the time is kept inside that interval;
   * a switch found at start happened while the agent was down, at whatever time the link says.
   */
  private async switchedAt(sinceMs: number): Promise<Date> {
    const now = Date.now();
    try {
      const mtime = (await lstat(this.o.releaseDir)).mtimeMs;
      return new Date(Math.min(now, Math.max(mtime, sinceMs)));
    } catch {
      return new Date(now);
    }
  }

  private warnOnce(level: LogLevel, message: string): void {
    if (this.warned === message) return;
    this.warned = message;
    this.log(level, message, { releaseDir: this.o.releaseDir });
  }

  /** Stops polling (a poll in progress finishes without effect). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    await this.polling;
  }
}

/** The first bytes of RELEASE/VERSION as text; null when there is none. */
export async function readVersionFile(release: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(join(release, 'VERSION'), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(VERSION_READ_BYTES);
    const { bytesRead } = await handle.read(buf, 0, VERSION_READ_BYTES, 0);
    return buf.toString('utf8', 0, bytesRead);
  } catch {
    return null;
  } finally {
    await handle.close().catch(() => {});
  }
}
