// Deploy markers, pure part: what a change of the release symlink means, and the version it names.
//
// The last target seen is kept among the writer's file positions (an entry whose path is
// `release:` + the symlink), so it is spooled and committed with the batch that holds the deploy:
// after a restart, or a database outage replayed from the spool, the agent compares with exactly what
// was stored, and a deploy is recorded once. An agent that finds no such entry (its first start, or
// an upgrade from a version without deploy markers) records nothing and only remembers the target.

import { basename } from 'node:path';
import type { DeploymentRecord, FileCheckpoint } from '../../supervisor/messages.js';

/** Longest version kept from a VERSION file (a commit hash, a semver, a date-stamped tag fit easily). */
export const MAX_VERSION_CHARS = 128;

/** The key of the release entry among the file positions (no log file path starts like this: they are absolute). */
export function releaseKey(releaseDir: string): string {
  return `release:${releaseDir}`;
}

/** The file-position entry that carries the last target seen. */
export function releaseEntry(releaseDir: string, target: string | null): FileCheckpoint {
  return { path: releaseKey(releaseDir), identity: null, offset: 0, target };
}

/**
 * What the stored positions say about the symlink: `undefined` when nothing was ever stored (do not
 * record what is found, only remember it), else the target (null: it did not exist then).
 */
export function storedTarget(files: readonly FileCheckpoint[], releaseDir: string): string | null | undefined {
  const key = releaseKey(releaseDir);
  const entry = files.find((f) => f.path === key);
  return entry ? entry.target ?? null : undefined;
}

/** Whether the target seen now is a deploy. A missing symlink (mid-switch, or removed) is not: the last target stays. */
export function isDeploy(last: string | null | undefined, current: string | null): boolean {
  return last !== undefined && current !== null && current !== last;
}

/**
 * The version named by a VERSION file's text: its first non-empty line, trimmed, control characters
 * removed, at most MAX_VERSION_CHARS. Null when nothing usable is left (the folder name is used then).
 */
export function parseVersion(text: string): string | null {
  for (const line of text.split(/\r?\n/)) {
    // eslint-disable-next-line no-control-regex
    const clean = line.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim();
    if (clean) return [...clean].slice(0, MAX_VERSION_CHARS).join('');
  }
  return null;
}

/** The deploy record for a switch from `previous` to `release`. */
export function deploymentRecord(release: string, previous: string | null, versionFile: string | null, at: Date): DeploymentRecord {
  const version = (versionFile !== null ? parseVersion(versionFile) : null) ?? parseVersion(basename(release)) ?? release;
  return { timestamp: at.toISOString(), release, previousRelease: previous, version };
}
