// One configured log file, followed across rotations.
//
//   configured path ──stat──► live file (the one at the path now)
//                              ▲
//   draining: [old, middle…] ──┘ older files still to finish, oldest first; read before `live`
//
// Reading always happens on the oldest unfinished file, through an open descriptor, so a file that is
// renamed or deleted can still be read to its end. A rotated file is left once it is at EOF and has
// not grown for `rotationIdleMs` after its successor appeared (or after `rotationMaxGraceMs`), because
// apps keep writing to the old descriptor until they reopen.
//
// The position handed out (FileCheckpoint) is always just after a complete line of the file being read,
// and never past the start of a multi-line record still open (LineFolder), with that file's identity
// (device + inode + sha1 of its first bytes). A record never spans two files: one open when its file is
// rotated is completed from the rest of that file and handed over when the file is finished. A restart
// from any checkpoint finds that file again — at the path, or among its rotated siblings — finishes it,
// then goes on.
// A periodic stat is the source of truth; fs.watch (in the tailer) only makes polls come sooner.

import { open, readdir, stat, type FdHandle as FileHandle } from '../fs-async.js';
import type { Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { FileCheckpoint, FileIdentity, LogBatch, LogRecord } from '../../supervisor/messages.js';
import { parseLogLine } from './parse.js';
import { LineFolder, type MultilineOptions } from './multiline.js';

/** Bytes hashed into a file's fingerprint. Part of the checkpoint format: do not change lightly. */
export const FINGERPRINT_BYTES = 256;

export interface FollowerOptions {
  /** Size of each read. Memory per file is about one chunk plus one pending line. */
  chunkBytes: number;
  maxBatchRecords: number;
  maxBatchBytes: number;
  maxLineBytes: number;
  /** A rotated file is left when it has not grown for this long after its successor appeared. */
  rotationIdleMs: number;
  /** …or after this long in any case. */
  rotationMaxGraceMs: number;
  /** A last line without newline is handed over after this long without growth (0: wait forever). */
  flushPartialAfterMs: number;
  /** Bytes read from all files of one follower per pass, so one busy file cannot starve the others. */
  passBudgetBytes: number;
  /** Folding of plain-text stack traces into one record. */
  multiline: MultilineOptions;
}

/** What a follower needs from the tailer that hosts it. */
export interface FollowerSink {
  /** False while the in-flight window is full, tailing is paused, or the tailer is stopping. */
  canRead(): boolean;
  emit(batch: LogBatch): void;
  event(kind: string, detail: Record<string, unknown>): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>): void;
  now(): number;
}

const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|lzma|lzo|zip|Z|br|sz)$/;
const LF = 0x0a;
const CONSUMED_MEMORY = 64;
/** File timestamps come from the kernel's coarse clock, a few milliseconds behind Date.now(). */
const COARSE_CLOCK_MS = 20;

function createdAt(st: Stats): number {
  return st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
}

/** One open file and how far it has been read. */
class TrackedFile {
  /** Line boundary: everything before it has been handed out. */
  offset = 0;
  /** The multi-line record being read (null when folding is off); its bytes are not in `offset` yet. */
  folder: LineFolder | null = null;
  /** The first ≤ FINGERPRINT_BYTES bytes as last seen, to notice truncation and find copies. */
  prefix: Buffer = Buffer.alloc(0);
  fingerprint = '';
  /** Bytes of an unfinished last line: kept up to a cap, counted in full. */
  partial: Buffer[] = [];
  partialKept = 0;
  partialTotal = 0;
  partialChangedAt = 0;
  lastSize: number;
  lastMtimeMs: number;
  /** Creation time (statx), 0 where the filesystem does not record it. */
  readonly birthtimeMs: number;
  lastEofPos = -1;
  lastGrowthAt: number;
  /** When a successor appeared at the path (null while this is the file at the path). */
  leftPathAt: number | null = null;
  /** A copy made by copytruncate: complete once seen, no grace needed. */
  complete = false;
  /** Since when the file is known to be empty (null once a byte of it was seen). */
  emptySince: number | null;

  constructor(
    readonly handle: FileHandle,
    /** Where it was opened (for messages; the file may have moved since). */
    readonly name: string,
    readonly dev: number,
    readonly ino: number,
    st: Stats,
    now: number,
  ) {
    this.lastSize = st.size;
    this.lastMtimeMs = st.mtimeMs;
    this.birthtimeMs = st.birthtimeMs;
    this.emptySince = st.size === 0 ? now : null;
    this.lastGrowthAt = now;
  }

  get position(): number {
    return this.offset + (this.folder ? this.folder.pendingBytes : 0) + this.partialTotal;
  }

  identity(): FileIdentity {
    return { dev: this.dev, ino: this.ino, fingerprint: this.fingerprint };
  }

  setPrefix(prefix: Buffer): void {
    this.prefix = prefix;
    this.fingerprint = prefix.length >= FINGERPRINT_BYTES ? sha1(prefix.subarray(0, FINGERPRINT_BYTES)) : '';
  }

  clearPartial(): void {
    this.partial = [];
    this.partialKept = 0;
    this.partialTotal = 0;
  }
}

function sha1(buf: Buffer): string {
  return createHash('sha1').update(buf).digest('hex');
}

async function readHead(handle: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The first bytes are still the ones seen: a read past them continues what was read before. */
async function headUnchanged(file: TrackedFile): Promise<boolean> {
  const head = await readHead(file.handle, file.prefix.length);
  return head.equals(file.prefix);
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** `app.log.1`, `app.log-20261128`, `app.log_old` — names logrotate and friends give rotated files. */
export function isRotatedSibling(base: string, name: string): boolean {
  if (name.length <= base.length || !name.startsWith(base)) return false;
  const sep = name[base.length];
  return (sep === '.' || sep === '-' || sep === '_') && !COMPRESSED.test(name);
}

/**
 * Was `candidate` started after `old`? By creation time where the filesystem records it (rename keeps
 * it; timestamps tick coarsely, so equal ones fall back to the last write), else by last write; a tie
 * counts as later, because reading a file twice is reported by nothing while skipping one loses it.
 */
function isLaterGeneration(candidate: Stats, old: TrackedFile): boolean {
  if (candidate.birthtimeMs > 0 && old.birthtimeMs > 0 && candidate.birthtimeMs !== old.birthtimeMs) {
    return candidate.birthtimeMs > old.birthtimeMs;
  }
  return candidate.mtimeMs >= old.lastMtimeMs;
}

interface Candidate {
  name: string;
  st: Stats;
}

export class FileFollower {
  private live: TrackedFile | null = null;
  private readonly draining: TrackedFile[] = [];
  private readonly consumed: FileIdentity[] = [];
  private batch: { file: TrackedFile; records: LogRecord[]; bytes: number } | null = null;
  /** The reading position moved to another file: hand out a checkpoint even if no line follows. */
  private announce = false;
  private lastProblem: string | null = null;
  private readonly chunk: Buffer;
  private readonly lineCap: number;
  private closed = false;
  private dirMtimeMs = -1;

  constructor(
    readonly path: string,
    private readonly opts: FollowerOptions,
    private readonly sink: FollowerSink,
    /** Other configured paths: never taken for a rotated sibling of this one. */
    private readonly otherPaths: ReadonlySet<string> = new Set(),
  ) {
    this.chunk = Buffer.allocUnsafe(opts.chunkBytes);
    // Two bytes over the limit: enough for the parser to see the line is too long even after a CR.
    this.lineCap = opts.maxLineBytes + 2;
  }

  /** Where reading stands: the file being read and the line boundary reached in it. */
  checkpoint(): FileCheckpoint {
    const head = this.draining[0] ?? this.live;
    return { path: this.path, identity: head ? head.identity() : null, offset: head ? head.offset : 0 };
  }

  /**
   * Finds where to resume from a committed checkpoint (or from the start when there is none). When that
   * fails (permissions, I/O), it is tried again on each poll: never restarted from 0 by mistake.
   */
  async init(checkpoint: FileCheckpoint | null): Promise<void> {
    this.pendingInit = { checkpoint };
    try {
      await this.resume(checkpoint);
    } catch (err) {
      const opened = [...this.draining, ...(this.live ? [this.live] : [])];
      this.draining.length = 0;
      this.live = null;
      await Promise.allSettled(opened.map((f) => f.handle.close()));
      throw err;
    }
    this.pendingInit = null;
  }

  private pendingInit: { checkpoint: FileCheckpoint | null } | null = null;

  private async resume(checkpoint: FileCheckpoint | null): Promise<void> {
    const now = this.sink.now();
    const st = await this.statPath();
    const id = checkpoint?.identity ?? null;
    if (!checkpoint || !id) {
      if (st) this.live = await this.openFile(this.path);
      return;
    }
    const offset = checkpoint.offset;
    if (st && st.dev === id.dev && st.ino === id.ino) {
      const file = await this.openFile(this.path);
      const sameFile = file.dev === id.dev && file.ino === id.ino;
      if (sameFile && (id.fingerprint === '' || file.fingerprint === id.fingerprint) && file.lastSize >= offset) {
        file.offset = offset;
        this.live = file;
        return;
      }
      // Same inode, other content: truncated (copytruncate) while stopped, or the inode was reused.
      const copy = id.fingerprint ? await this.findCopy(id, offset, [file]) : null;
      this.reportLoss('truncated_while_stopped', {
        offset, sizeNow: st.size, recoveredFrom: copy?.name ?? null,
      });
      this.live = file;
      if (copy) await this.queueRecovered(copy, offset, [file], now);
      this.announce = true;
      return;
    }
    // The path holds another file, or nothing: the checkpointed file was rotated while we were stopped.
    const found = await this.findByIdentity(id, offset, st);
    if (found && st && found.st.dev === st.dev && found.st.ino === st.ino) {
      // The same content under a new inode at the path (moved across filesystems, restored): go on.
      const file = await this.openFile(this.path);
      file.offset = offset;
      this.live = file;
      return;
    }
    if (!found) {
      this.reportLoss('checkpointed_file_not_found', { identity: id, offset });
    }
    const live = st ? await this.openFile(this.path) : null;
    if (found) {
      const old = await this.openFile(found.name);
      old.offset = offset;
      old.leftPathAt = now;
      this.draining.push(old);
      this.log('info', 'resuming a file rotated while stopped', { rotatedTo: found.name, offset });
      this.draining.push(...(await this.openIntermediates(old, live ? [live] : [], now)));
    }
    this.live = live;
    this.announce = true;
  }

  /**
   * One poll: notice rotation / truncation / appearance, then read what is there.
   * Returns true when it stopped with data left to read within its budget (call again soon).
   */
  async poll(): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (this.pendingInit) await this.init(this.pendingInit.checkpoint);
      await this.detectChanges();
      const more = await this.readAvailable();
      if (this.lastProblem !== null) {
        this.log('info', 'log file readable again');
        this.lastProblem = null;
      }
      return more;
    } catch (err) {
      this.flushBatch();
      const e = err as NodeJS.ErrnoException;
      const problem = e.code ?? e.message;
      if (problem !== this.lastProblem) {
        this.lastProblem = problem;
        this.log('warn', 'cannot read log file; retrying every poll', { error: e.message, code: e.code ?? null });
      }
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const files = [...this.draining, ...(this.live ? [this.live] : [])];
    // A record open at a stop is handed over as read (after a crash it is read again, whole, instead):
    // a file that stays quiet would otherwise keep its last entry until the agent runs again.
    for (const f of files) f.folder?.flush();
    this.flushBatch();
    this.draining.length = 0;
    this.live = null;
    await Promise.allSettled(files.map((f) => f.handle.close()));
  }

  // ---------------------------------------------------------------------------------------------
  // Noticing what happened to the path

  private async statPath(): Promise<Stats | null> {
    const st = await statOrNull(this.path);
    if (st && !st.isFile()) {
      if (this.lastProblem !== 'not_a_file') {
        this.lastProblem = 'not_a_file';
        this.log('warn', 'log path is not a regular file; waiting');
      }
      return null;
    }
    return st;
  }

  private async detectChanges(): Promise<void> {
    const now = this.sink.now();
    const st = await this.statPath();
    const live = this.live;
    if (!live) {
      if (st) {
        this.live = await this.openFile(this.path);
        this.announce = true;
        this.log('info', 'log file appeared', { path: this.path });
      }
      return;
    }
    if (st && st.dev === live.dev && st.ino === live.ino) {
      await this.checkTruncation(live, st);
      return;
    }
    if (!st) {
      // Renamed or deleted, no successor yet: keep reading the old descriptor. A deleted file that stays
      // idle is let go, so its disk space is not held for ever.
      const fst = await live.handle.stat();
      if (live.leftPathAt === null) {
        live.leftPathAt = now;
        this.log('info', 'log file moved away; draining it until a new one appears');
      }
      if (fst.nlink === 0 && live.position >= fst.size && now - Math.max(live.leftPathAt, live.lastGrowthAt) >= this.opts.rotationMaxGraceMs) {
        await this.finish(live);
        this.live = null;
        this.announce = true;
      }
      return;
    }
    // A new file is at the path. Finish the old one (and any file rotated in between) first.
    const next = await this.openFile(this.path);
    live.leftPathAt = now;
    const middle = await this.openIntermediates(live, [next], now);
    this.draining.push(live, ...middle);
    this.live = next;
    this.log('info', 'log file rotated', {
      rotatedFilesToFinish: 1 + middle.length, middle: middle.map((f) => f.name),
    });
  }

  /** copytruncate (or `> app.log`) shrinks the file, or replaces its first bytes. */
  private async checkTruncation(live: TrackedFile, st: Stats): Promise<void> {
    if (live.emptySince !== null && live.prefix.length === 0) await this.recoverUnseenCopies(live, st);
    let truncated = st.size < live.position || st.size < live.lastSize;
    const changed = st.size !== live.lastSize || st.mtimeMs !== live.lastMtimeMs;
    if (!truncated && changed && st.size > 0) {
      const head = await readHead(live.handle, Math.min(st.size, FINGERPRINT_BYTES));
      if (head.length < live.prefix.length || !head.subarray(0, live.prefix.length).equals(live.prefix)) {
        truncated = true;
      } else if (head.length > live.prefix.length) {
        live.setPrefix(head);
      }
    }
    if (!truncated) {
      if (st.size > live.lastSize) live.lastGrowthAt = this.sink.now();
      live.lastSize = st.size;
      live.lastMtimeMs = st.mtimeMs;
      return;
    }
    await this.onTruncated(live, st);
  }

  /**
   * A file seen empty so far leaves no trace of a copytruncate (it is empty, or small again, after it):
   * the copy, a rotated sibling created since, is the only witness. Read it first.
   */
  private async recoverUnseenCopies(live: TrackedFile, st: Stats): Promise<void> {
    const dirStat = await statOrNull(dirname(this.path));
    if (!dirStat || dirStat.mtimeMs === this.dirMtimeMs) return;
    this.dirMtimeMs = dirStat.mtimeMs;
    const since = live.emptySince! - COARSE_CLOCK_MS;
    const copies: Candidate[] = [];
    for (const c of await this.siblings(true)) {
      if (c.st.size === 0 || createdAt(c.st) < since || this.isKnown(c.st, [live])) continue;
      // A copy of what is still in the file (logrotate `copy`, or caught before its truncate) is no loss.
      if (st.size >= c.st.size) {
        const [mine, theirs] = await Promise.all([
          readHead(live.handle, Math.min(c.st.size, FINGERPRINT_BYTES)), this.headOf(c.name, FINGERPRINT_BYTES),
        ]);
        if (theirs && mine.equals(theirs)) continue;
      }
      copies.push(c);
    }
    if (copies.length === 0) return;
    copies.sort((a, b) => createdAt(a.st) - createdAt(b.st));
    this.flushBatch();
    this.reportLoss('truncated', {
      offset: 0, lastSeenSize: 0, sizeNow: st.size, recoveredFrom: copies.map((c) => c.name).join(', '),
      recoverableBytes: copies.reduce((sum, c) => sum + c.st.size, 0), unreadBytes: 0,
    });
    const now = this.sink.now();
    for (const c of copies) {
      const file = await this.openFile(c.name);
      file.complete = true;
      file.leftPathAt = now;
      this.draining.push(file);
    }
    live.emptySince = now;
    this.announce = true;
  }

  private async onTruncated(live: TrackedFile, st: Stats): Promise<void> {
    const now = this.sink.now();
    this.flushBatch();
    const lastSeenSize = live.lastSize;
    const before = { dev: live.dev, ino: live.ino, fingerprint: live.fingerprint };
    // logrotate's copytruncate copies the file, then truncates it: the unread tail is in the copy.
    const copy = live.prefix.length > 0 ? await this.findCopy(before, live.offset, [live], live.prefix, live.lastMtimeMs) : null;
    // A multi-line record open at the truncation is read again, whole, from the copy; without a copy it is
    // handed over as far as it was read.
    if (copy) live.folder?.discard();
    else if (live.folder) {
      live.folder.flush();
      this.flushBatch();
    }
    const offset = live.offset;
    const unreadBytes = copy ? Math.max(0, lastSeenSize - copy.st.size) : Math.max(0, lastSeenSize - offset);
    this.reportLoss('truncated', {
      offset, lastSeenSize, sizeNow: st.size, recoveredFrom: copy?.name ?? null,
      recoverableBytes: copy ? copy.st.size - offset : 0, unreadBytes,
    });
    // `st` may predate the truncation (it was noticed by reading the first bytes): stat again.
    const current = await live.handle.stat();
    live.offset = 0;
    live.clearPartial();
    live.lastEofPos = -1;
    live.lastSize = current.size;
    live.lastMtimeMs = current.mtimeMs;
    live.lastGrowthAt = now;
    live.setPrefix(await readHead(live.handle, Math.min(current.size, FINGERPRINT_BYTES)));
    live.emptySince = current.size === 0 ? now : null;
    if (copy) await this.queueRecovered(copy, offset, [live], now);
    this.announce = true;
  }

  private async queueRecovered(copy: Candidate, offset: number, exclude: TrackedFile[], now: number): Promise<void> {
    const file = await this.openFile(copy.name);
    file.offset = offset;
    file.complete = true;
    file.leftPathAt = now;
    this.draining.push(file);
    // Several copytruncates between two polls leave several copies: the newer ones follow.
    this.draining.push(...(await this.openIntermediates(file, exclude, now)));
  }

  // ---------------------------------------------------------------------------------------------
  // Looking among siblings

  private async siblings(strict: boolean): Promise<Candidate[]> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: Candidate[] = [];
    for (const name of names) {
      if (name === base) continue;
      if (strict ? !isRotatedSibling(base, name) : COMPRESSED.test(name)) continue;
      const full = join(dir, name);
      if (this.otherPaths.has(full)) continue;
      const st = await statOrNull(full).catch(() => null);
      if (st && st.isFile()) out.push({ name: full, st });
    }
    return out;
  }

  private isKnown(st: Stats, exclude: readonly TrackedFile[]): boolean {
    const same = (f: { dev: number; ino: number }) => f.dev === st.dev && f.ino === st.ino;
    return exclude.some(same) || this.draining.some(same) || (this.live !== null && same(this.live)) || this.consumed.some(same);
  }

  /**
   * Files rotated after `old` and before the current file (several rotations between two polls, or
   * while stopped): rotated siblings created after `old`, oldest first.
   */
  private async openIntermediates(old: TrackedFile, exclude: TrackedFile[], now: number): Promise<TrackedFile[]> {
    const found = (await this.siblings(true)).filter(
      (c) => c.st.size > 0 && isLaterGeneration(c.st, old) && !this.isKnown(c.st, [old, ...exclude]),
    );
    found.sort((a, b) => a.st.birthtimeMs - b.st.birthtimeMs || a.st.mtimeMs - b.st.mtimeMs);
    const files: TrackedFile[] = [];
    for (const c of found) {
      try {
        const f = await this.openFile(c.name);
        f.leftPathAt = now;
        files.push(f);
      } catch (err) {
        // Gone (or unreadable) between listing and opening: its lines cannot be read any more.
        this.reportLoss('rotated_file_unreadable', { file: c.name, error: (err as Error).message });
      }
    }
    return files;
  }

  /** The checkpointed file among the siblings: same device + inode + fingerprint, else same fingerprint. */
  private async findByIdentity(id: FileIdentity, offset: number, atPath: Stats | null): Promise<Candidate | null> {
    const all = await this.siblings(false);
    const exact = all.find((c) => c.st.dev === id.dev && c.st.ino === id.ino && c.st.size >= offset);
    if (exact) {
      if (id.fingerprint === '') return exact;
      if ((await this.fingerprintOf(exact.name)) === id.fingerprint) return exact;
    }
    if (id.fingerprint === '') return null;
    if (atPath) all.push({ name: this.path, st: atPath });
    for (const c of all) {
      if (c === exact || c.st.size < Math.max(offset, FINGERPRINT_BYTES)) continue;
      if ((await this.fingerprintOf(c.name)) === id.fingerprint) return c;
    }
    return null;
  }

  /** A copy (other inode) of a file's content: same first bytes, at least `offset` long. */
  private async findCopy(
    id: FileIdentity, offset: number, exclude: TrackedFile[], prefix?: Buffer, notBeforeMtimeMs?: number,
  ): Promise<Candidate | null> {
    const matches: Candidate[] = [];
    for (const c of await this.siblings(false)) {
      if (c.st.size < offset || this.isKnown(c.st, exclude)) continue;
      if (c.st.dev === id.dev && c.st.ino === id.ino) continue;
      if (prefix) {
        if (c.st.size < prefix.length) continue;
        const head = await this.headOf(c.name, prefix.length);
        if (head && head.equals(prefix)) matches.push(c);
      } else if (id.fingerprint && (await this.fingerprintOf(c.name)) === id.fingerprint) {
        matches.push(c);
      }
    }
    if (matches.length === 0) return null;
    // With a short prefix several copies may match: prefer the oldest made since the file was last seen.
    matches.sort((a, b) => a.st.mtimeMs - b.st.mtimeMs);
    return matches.find((c) => notBeforeMtimeMs === undefined || c.st.mtimeMs >= notBeforeMtimeMs) ?? matches[matches.length - 1]!;
  }

  private async headOf(name: string, length: number): Promise<Buffer | null> {
    let handle: FileHandle | null = null;
    try {
      handle = await open(name, 'r');
      return await readHead(handle, length);
    } catch {
      return null;
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  private async fingerprintOf(name: string): Promise<string> {
    const head = await this.headOf(name, FINGERPRINT_BYTES);
    return head && head.length >= FINGERPRINT_BYTES ? sha1(head) : '';
  }

  private async openFile(name: string): Promise<TrackedFile> {
    const handle = await open(name, 'r');
    try {
      // The name may have been replaced between stat and open: trust what was opened.
      const fst = await handle.stat();
      const file = new TrackedFile(handle, name, fst.dev, fst.ino, fst, this.sink.now());
      file.setPrefix(await readHead(handle, Math.min(fst.size, FINGERPRINT_BYTES)));
      if (this.opts.multiline.enabled) {
        file.folder = new LineFolder(this.opts.multiline, { sourceFile: this.path, maxLineBytes: this.opts.maxLineBytes },
          (record, bytes) => this.push(file, record, bytes));
      }
      return file;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  private async readAvailable(): Promise<boolean> {
    const budget = { left: this.opts.passBudgetBytes };
    for (;;) {
      const head = this.draining[0] ?? this.live;
      if (!head) break;
      const outcome = await this.readFile(head, budget);
      if (outcome === 'blocked') break;
      if (outcome === 'budget') {
        this.flushAnnounce();
        return true;
      }
      const now = this.sink.now();
      if (head.position !== head.lastEofPos) {
        head.lastEofPos = head.position;
        head.lastGrowthAt = now;
      }
      const due = this.recordDueAt(head);
      if (due !== null && now >= due) {
        // At EOF and quiet for the multiline timeout: the record in hand is complete.
        head.folder!.flush();
        this.flushBatch();
      }
      if (head === this.live) {
        if (head.partialTotal > 0 && this.opts.flushPartialAfterMs > 0 && now - head.partialChangedAt >= this.opts.flushPartialAfterMs) {
          this.flushPartial(head, 'partial_line');
          head.folder?.flush(); // nothing came for longer than any multiline timeout
          this.flushBatch();
        }
        break;
      }
      const leftAt = head.leftPathAt ?? now;
      const idle = now - Math.max(leftAt, head.lastGrowthAt) >= this.opts.rotationIdleMs;
      if (!head.complete && !idle && now - leftAt < this.opts.rotationMaxGraceMs) break;
      await this.finish(head);
      this.draining.shift();
    }
    this.flushAnnounce();
    return false;
  }

  /**
   * When the multi-line record open in `file` is due to be handed over: its last line (or the partial
   * line after it) plus the timeout. Null when none is open.
   */
  private recordDueAt(file: TrackedFile): number | null {
    const since = file.folder?.pendingSince ?? null;
    if (since === null) return null;
    return Math.max(since, file.partialTotal > 0 ? file.partialChangedAt : 0) + this.opts.multiline.timeoutMs;
  }

  /** When a poll is due to hand over an open multi-line record (null: none open, or the file is failing). */
  nextDueAt(): number | null {
    if (this.closed || this.lastProblem !== null) return null;
    const head = this.draining[0] ?? this.live;
    return head ? this.recordDueAt(head) : null;
  }

  /** Hands over a finished file's last line (even without newline: nothing more will come) and closes it. */
  private async finish(file: TrackedFile): Promise<void> {
    if (file.partialTotal > 0) this.flushPartial(file, 'partial_line');
    file.folder?.flush(); // the rest of the record, if any, cannot be in another file
    this.flushBatch();
    this.consumed.push(file.identity());
    if (this.consumed.length > CONSUMED_MEMORY) this.consumed.shift();
    await file.handle.close().catch(() => undefined);
    this.announce = true;
    this.log('debug', 'finished rotated log file', { file: file.name, bytes: file.offset });
  }

  private async readFile(file: TrackedFile, budget: { left: number }): Promise<'eof' | 'blocked' | 'budget'> {
    for (;;) {
      if (!this.sink.canRead() || this.closed) {
        this.flushBatch();
        return 'blocked';
      }
      if (budget.left <= 0) {
        this.flushBatch();
        return 'budget';
      }
      const pos = file.position;
      const { bytesRead } = await file.handle.read(this.chunk, 0, this.chunk.length, pos);
      if (!this.sink.canRead() || this.closed) {
        // Paused (or stopped) while this read was in flight: what it returned is not used, and the
        // position stays, so PAUSE_TAILING means that nothing read after it is handed over.
        this.flushBatch();
        return 'blocked';
      }
      if (bytesRead === 0) break;
      if (file === this.live && pos > 0 && file.prefix.length > 0 && pos >= file.prefix.length && !(await headUnchanged(file))) {
        // Truncated and regrown past `pos` while this read was in flight: what it returned is the middle of
        // the new content, not the continuation. Nothing of it is used; reading restarts at 0.
        await this.onTruncated(file, await file.handle.stat());
        continue;
      }
      budget.left -= bytesRead;
      const data = this.chunk.subarray(0, bytesRead);
      if (pos < FINGERPRINT_BYTES && pos <= file.prefix.length) {
        const want = Math.min(FINGERPRINT_BYTES, pos + bytesRead);
        if (want > file.prefix.length) {
          file.setPrefix(Buffer.concat([file.prefix.subarray(0, pos), data.subarray(0, want - pos)]));
        }
      }
      this.consume(file, data, new Date(this.sink.now()));
      if (bytesRead < this.chunk.length) break;
    }
    this.flushBatch();
    return 'eof';
  }

  private consume(file: TrackedFile, data: Buffer, readAt: Date): void {
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(LF, start);
      if (nl === -1) {
        this.appendPartial(file, data.subarray(start));
        return;
      }
      const segment = data.subarray(start, nl);
      let line: Buffer;
      let lineBytes: number;
      if (file.partialTotal > 0) {
        lineBytes = file.partialTotal + segment.length + 1;
        const room = Math.max(0, this.lineCap - file.partialKept);
        line = Buffer.concat([...file.partial, segment.subarray(0, room)]);
        file.clearPartial();
      } else {
        lineBytes = segment.length + 1;
        line = segment.length > this.lineCap ? segment.subarray(0, this.lineCap) : segment;
      }
      this.line(file, line, lineBytes, readAt);
      start = nl + 1;
    }
  }

  private appendPartial(file: TrackedFile, bytes: Buffer): void {
    const room = this.lineCap - file.partialKept;
    if (room > 0) {
      const kept = Buffer.from(bytes.subarray(0, room)); // a copy: the read buffer is reused
      file.partial.push(kept);
      file.partialKept += kept.length;
    }
    file.partialTotal += bytes.length;
    file.partialChangedAt = this.sink.now();
  }

  private flushPartial(file: TrackedFile, flag: string): void {
    const line = Buffer.concat(file.partial);
    const bytes = file.partialTotal;
    file.clearPartial();
    this.line(file, line, bytes, new Date(this.sink.now()), flag);
  }

  /** One complete line: into the file's multi-line folder, or straight into the batch when folding is off. */
  private line(file: TrackedFile, line: Buffer, bytes: number, readAt: Date, flag?: string): void {
    if (file.folder) {
      file.folder.add(line, bytes, readAt, readAt.getTime(), flag);
      return;
    }
    const record = this.parse(line, readAt);
    if (flag) record.flags.push(flag);
    this.push(file, record, bytes);
  }

  private parse(line: Buffer, readAt: Date): LogRecord {
    return parseLogLine(line, { readAt, sourceFile: this.path, maxLineBytes: this.opts.maxLineBytes });
  }

  private push(file: TrackedFile, record: LogRecord, bytes: number): void {
    if (this.batch && this.batch.file !== file) this.flushBatch();
    this.batch ??= { file, records: [], bytes: 0 };
    this.batch.records.push(record);
    this.batch.bytes += bytes;
    file.offset += bytes;
    if (this.batch.records.length >= this.opts.maxBatchRecords || this.batch.bytes >= this.opts.maxBatchBytes) {
      this.flushBatch();
    }
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    this.announce = false;
    const { file } = batch;
    this.sink.emit({
      records: batch.records,
      checkpoint: { path: this.path, identity: file.identity(), offset: file.offset },
      bytes: batch.bytes,
    });
  }

  /** After a switch to another file with nothing read from it yet, its position still has to be stored. */
  private flushAnnounce(): void {
    this.flushBatch();
    if (!this.announce) return;
    this.announce = false;
    this.sink.emit({ records: [], checkpoint: this.checkpoint(), bytes: 0 });
  }

  private reportLoss(reason: string, detail: Record<string, unknown>): void {
    const full = { path: this.path, reason, ...detail };
    this.sink.event('lines_possibly_lost', full);
    this.log('warn', `log lines possibly lost (${reason})`, full);
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, context: Record<string, unknown> = {}): void {
    this.sink.log(level, message, { path: this.path, ...context });
  }
}
