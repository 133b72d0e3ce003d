// Where the embedded PostgreSQL's binaries run from.
//
// Run as root, the server runs as an unprivileged user (`postgres` or `nobody`), which often cannot
// reach the binaries inside the checkout: a clone under /root (mode 700), or inside any mode-700
// folder. Then the package's whole `native/` tree is copied once to
//
//   <embedded root>/pg-<package version>-<first 12 hex of the tree's SHA-256>/
//
// (embedded root: $OBSERV_EMBEDDED_DIR, default /var/lib/observ/embedded). The whole tree, because
// postgres and initdb find their shared libraries through RUNPATH $ORIGIN/../lib, extensions
// (plpgsql, snowball dictionaries) in lib/postgresql and initdb's catalog files and time zones in
// share/postgresql — all relative to the binary. The copy is made in a temporary folder, verified
// against the source's manifest (every file's SHA-256, mode and size, every symlink), then renamed
// into place, so concurrent starts never see half a copy. Later runs, from any clone with the same
// package contents, verify and reuse it; `observ db embedded-clean` removes copies no server runs from.

import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync,
  rmSync, statSync, symlinkSync, writeFileSync, type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ObservError } from '../errors.js';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

const DEFAULT_ROOT = '/var/lib/observ/embedded';
const MANIFEST = 'observ-manifest.txt';
const COPY_PREFIX = 'pg-';

/** Root for everything the embedded server keeps outside an unreachable checkout (binary copies, data). */
export function embeddedRoot(): string {
  return resolve(process.env.OBSERV_EMBEDDED_DIR || DEFAULT_ROOT);
}

/**
 * mkdir -p where every folder it creates is mode 0755 whatever the umask (a 077 umask would otherwise
 * make /var/lib/observ itself unreachable for the server user).
 */
export function mkdirReachable(path: string): void {
  const missing: string[] = [];
  for (let dir = resolve(path); !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try { mkdirSync(dir, { mode: 0o755 }); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; }
    chmodSync(dir, 0o755);
  }
  chmodSync(path, 0o755);
}

/** Whether `who` has all of `need` (4 read, 2 write, 1 search/execute) on a file with these stats. */
function permits(st: Stats, who: RunAs, need: number): boolean {
  const shift = st.uid === who.uid ? 6 : st.gid === who.gid ? 3 : 0;
  return ((st.mode >> shift) & need) === need;
}

/** Whether `who` can traverse every directory down to `path` (search permission on each, `path` included). */
export function reachableBy(path: string, who: RunAs): boolean {
  let dir = resolve(path);
  for (;;) {
    let st;
    try { st = statSync(dir); } catch { return false; }
    if (!permits(st, who, 1)) return false;
    const parent = dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

/**
 * The first path under `root` that `who` cannot use as PostgreSQL needs it (reach the root; read and
 * search every folder; read every file and execute the executable ones), or null when all is usable.
 */
export function firstUnusable(root: string, who: RunAs): string | null {
  if (!reachableBy(root, who)) return root;
  const walk = (dir: string): string | null => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      let st: Stats;
      try { st = statSync(path); } catch { continue; } // a dangling symlink: nothing uses it
      const need = st.isDirectory() ? 5 : st.mode & 0o111 ? 5 : 4;
      if (!permits(st, who, need)) return path;
      if (st.isDirectory()) {
        const inner = walk(path);
        if (inner) return inner;
      }
    }
    return null;
  };
  return walk(root);
}

/**
 * One line per entry, sorted by path: `d PATH`, `f MODE SIZE SHA256 PATH`, `l TARGET PATH`. Modes are
 * normalised (0755 executable, 0644 otherwise) since the copy is made with those; a symlink pointing
 * outside the tree is recorded (and copied) as the file it points to.
 */
export function treeManifest(root: string): string {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      const rel = relative(root, path);
      if (dir === root && entry === MANIFEST) continue;
      const lst = lstatSync(path);
      if (lst.isSymbolicLink()) {
        const target = readlinkSync(path);
        const inside = !isAbsolute(target) && !relative(root, resolve(dir, target)).startsWith('..');
        if (inside) { lines.push(`l\t${target}\t${rel}`); continue; }
      }
      const st = lst.isSymbolicLink() ? statSync(path) : lst;
      if (st.isDirectory()) { lines.push(`d\t${rel}`); walk(path); continue; }
      if (!st.isFile()) continue;
      const sum = createHash('sha256').update(readFileSync(path)).digest('hex');
      lines.push(`f\t${st.mode & 0o111 ? '755' : '644'}\t${st.size}\t${sum}\t${rel}`);
    }
  };
  walk(root);
  return lines.join('\n') + '\n';
}

function copyByManifest(src: string, dst: string, manifest: string): void {
  mkdirSync(dst, { mode: 0o755 });
  chmodSync(dst, 0o755);
  for (const line of manifest.split('\n')) {
    if (!line) continue;
    const fields = line.split('\t');
    const rel = fields[fields.length - 1]!;
    const to = join(dst, rel);
    switch (fields[0]) {
      case 'd': mkdirSync(to, { mode: 0o755 }); chmodSync(to, 0o755); break;
      case 'l': symlinkSync(fields[1]!, to); break;
      case 'f': copyFileSync(join(src, rel), to); chmodSync(to, fields[1] === '755' ? 0o755 : 0o644); break;
      default: throw new Error(`bad manifest line: ${line}`);
    }
  }
}

export interface BinaryPlace {
  /** The native tree PostgreSQL runs from (bin/, lib/, share/). */
  root: string;
  /** A copy was made on this call. */
  copied: boolean;
}

/**
 * The native tree `who` can run: `sourceRoot` itself when usable, else a verified copy under
 * embeddedRoot(), made on first use. `version` names the copy (the package version).
 */
export function reachableBinaries(sourceRoot: string, version: string, who: RunAs, log: (line: string) => void): BinaryPlace {
  const blocked = firstUnusable(sourceRoot, who);
  if (!blocked) return { root: sourceRoot, copied: false };
  const fail = (why: string, cause?: unknown) => new ObservError('OBS_ERR_EMBEDDED_PG',
    `user ${who.name} cannot run PostgreSQL from ${sourceRoot} (${blocked} is not reachable), and ${why}. ` +
    'Fix: clone into a folder other users can traverse (e.g. /opt), or set OBSERV_DB_URL to an external PostgreSQL', { cause });

  const base = embeddedRoot();
  let manifest: string;
  try { manifest = treeManifest(sourceRoot); } catch (err) { throw fail(`reading it failed: ${(err as Error).message}`, err); }
  const sum = createHash('sha256').update(manifest).digest('hex');
  const name = `${COPY_PREFIX}${version.replace(/[^\w.+-]/g, '_')}-${sum.slice(0, 12)}`;
  const target = join(base, name);
  const verified = (dir: string) => {
    try { return readFileSync(join(dir, MANIFEST), 'utf8') === manifest && treeManifest(dir) === manifest; } catch { return false; }
  };
  const reason = `user ${who.name} cannot reach ${blocked}`;

  if (existsSync(target) && verified(target)) {
    log(`PostgreSQL binaries: ${target} (a verified copy; ${reason})`);
    return { root: target, copied: false };
  }
  const tmp = join(base, `.${name}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    mkdirReachable(base);
    if (existsSync(target)) rmSync(target, { recursive: true, force: true }); // incomplete or altered: copy again
    copyByManifest(sourceRoot, tmp, manifest);
    if (treeManifest(tmp) !== manifest) throw new Error(`the copy in ${tmp} does not match its source`);
    writeFileSync(join(tmp, MANIFEST), manifest, { mode: 0o644 });
    try {
      renameSync(tmp, target);
    } catch (err) {
      // Another start made the same copy meanwhile: use theirs if it is sound.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !verified(target)) throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw fail(`copying it to ${target} failed: ${(err as Error).message}`, err);
  }
  const stillBlocked = firstUnusable(target, who);
  if (stillBlocked) throw fail(`the copy in ${target} is not usable either (${stillBlocked})`);
  log(`PostgreSQL binaries copied once to ${target} (${reason}; \`observ db embedded-clean\` removes the copy)`);
  return { root: target, copied: true };
}

export interface CleanResult {
  removed: { path: string; bytes: number }[];
  inUse: { path: string; pid: number }[];
}

function treeBytes(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const entry of readdirSync(path)) total += treeBytes(join(path, entry));
  return total;
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** pid of a process whose executable lies inside `dir`, or null. */
function processRunningFrom(dir: string): number | null {
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return null; }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`).startsWith(dir + sep)) return Number(entry);
    } catch { /* another user's process (not root), or exited meanwhile */ }
  }
  return null;
}

/** Removes the binary copies (and leftovers of interrupted copies) that no running server uses. Data folders are kept. */
export function cleanBinaryCopies(options: { dryRun?: boolean } = {}): CleanResult {
  const base = embeddedRoot();
  const result: CleanResult = { removed: [], inUse: [] };
  if (!existsSync(base)) return result;
  for (const entry of readdirSync(base).sort()) {
    if (!entry.startsWith(COPY_PREFIX) && !(entry.startsWith(`.${COPY_PREFIX}`) && entry.includes('.tmp-'))) continue;
    const path = join(base, entry);
    const copier = /\.tmp-(\d+)-/.exec(entry);
    const pid = copier && pidAlive(Number(copier[1])) ? Number(copier[1]) : processRunningFrom(path);
    if (pid !== null) { result.inUse.push({ path, pid }); continue; }
    const bytes = treeBytes(path);
    if (!options.dryRun) {
      try { rmSync(path, { recursive: true }); } catch (err) {
        throw new ObservError('OBS_ERR_EMBEDDED_PG', `cannot remove ${path}: ${(err as Error).message} (run as root)`, { cause: err });
      }
    }
    result.removed.push({ path, bytes });
  }
  return result;
}
