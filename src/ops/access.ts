// "Can the service read this file?", answered for the service's identity rather than for whoever runs
// `observ doctor` (usually root, who can read everything). obs-agent@.service runs as a dynamic user
// (DynamicUser=yes): a uid that owns no file, in the groups SupplementaryGroups= names. So a file is
// readable when every directory above it is searchable, and the file readable, through its group
// bits (group in SERVICE_GROUPS) or its "other" bits. POSIX ACLs are not looked at.

import { readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join, sep } from 'node:path';

/** The unit's SupplementaryGroups= (a test keeps this and ops/obs-agent@.service in step). */
export const SERVICE_GROUPS = ['www-data', 'adm'] as const;

export interface ServiceIdentity {
  /** A fixed uid, or null for a dynamic user (owns nothing that exists before it starts). */
  uid: number | null;
  gids: number[];
  /** Names of `gids`, in the same order. */
  groups: string[];
  /** For messages: "a dynamic user in groups www-data (33), adm (4)". */
  description: string;
}

/** Group name → gid from an /etc/group file (missing groups are left out). */
export function readGroups(etcGroup = '/etc/group'): Map<string, number> {
  const groups = new Map<string, number>();
  let text = '';
  try { text = readFileSync(etcGroup, 'utf8'); } catch { return groups; }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) groups.set(f[0], Number(f[2]));
  }
  return groups;
}

export function serviceIdentity(etcGroup = '/etc/group'): ServiceIdentity {
  const known = readGroups(etcGroup);
  const present = SERVICE_GROUPS.filter((g) => known.has(g));
  return {
    uid: null,
    gids: present.map((g) => known.get(g)!),
    groups: [...present],
    description: present.length
      ? `a dynamic user in group${present.length > 1 ? 's' : ''} ${present.map((g) => `${g} (${known.get(g)})`).join(', ')}`
      : 'a dynamic user in no extra group',
  };
}

type Bit = 4 | 1;

/** Whether `who` has permission `bit` (4 read, 1 search/execute) on a file with these stats. */
export function permits(st: Pick<Stats, 'mode' | 'uid' | 'gid'>, who: Pick<ServiceIdentity, 'uid' | 'gids'>, bit: Bit): boolean {
  // Exactly one class applies, as in the kernel: owner, else group, else other.
  if (who.uid !== null && st.uid === who.uid) return (st.mode & (bit << 6)) !== 0;
  if (who.gids.includes(st.gid)) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

export type Readability =
  | { ok: true; realPath: string }
  | { ok: false; problem: 'missing' | 'not_a_file' | 'directory' | 'file'; path: string; realPath?: string; message: string; fix: string };

/** Whether `who` can open `path` for reading (following symlinks, as the agent does). */
export function checkReadable(path: string, who: ServiceIdentity): Readability {
  const groupName = who.groups[0] ?? SERVICE_GROUPS[0];
  let realPath: string;
  try {
    realPath = realpathSync(path);
  } catch (err) {
    return { ok: false, problem: 'missing', path, message: `${path} does not exist (${(err as NodeJS.ErrnoException).code})`, fix: `check the path in config.yml, or create the file: sudo install -m 640 -g ${groupName} /dev/null ${path}` };
  }
  // Every directory from / down to the file's own must let the service through.
  const parts = dirname(realPath).split(sep).filter(Boolean);
  let dir: string = sep;
  for (let i = 0; i <= parts.length; i++) {
    const st = statSync(dir);
    if (!permits(st, who, 1)) {
      return { ok: false, problem: 'directory', path, realPath, message: `the service cannot enter ${dir} (mode ${modeString(st.mode)}, owner ${st.uid}:${st.gid})`, fix: `sudo chmod o+x ${dir}   (lets it pass through without listing)` };
    }
    if (i < parts.length) dir = join(dir, parts[i]!);
  }
  const st = statSync(realPath);
  if (!st.isFile()) return { ok: false, problem: 'not_a_file', path, realPath, message: `${realPath} is not a regular file`, fix: 'point log_files at the log file itself' };
  if (!permits(st, who, 4)) {
    return { ok: false, problem: 'file', path, realPath, message: `${realPath} is not readable by the service (mode ${modeString(st.mode)}, owner ${st.uid}:${st.gid})`, fix: `sudo chgrp ${groupName} ${realPath} && sudo chmod g+r ${realPath}   (and \`create 0640 … ${groupName}\` in its logrotate rule)` };
  }
  return { ok: true, realPath };
}

export function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Paths the unit's sandbox hides: ProtectHome=yes empties /home, /root and /run/user; PrivateTmp=yes
 * gives the service its own /tmp and /var/tmp. A log file there is never seen by the agent.
 */
export function hiddenBySandbox(realPath: string): string | null {
  const under = (root: string) => realPath === root || realPath.startsWith(root + '/');
  if (under('/home') || under('/root') || under('/run/user')) return 'ProtectHome=yes';
  if (under('/tmp') || under('/var/tmp')) return 'PrivateTmp=yes';
  return null;
}
