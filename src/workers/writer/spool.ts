// The spool: an append-only, checksummed write-ahead log of sealed batches, under `<state-dir>/spool`.
//
// Every sealed batch is appended here (and fsynced) BEFORE it is sent to PostgreSQL; it is read back
// from here for the COPY, and its segment is deleted once every batch in it is committed. So the
// newest spooled record always holds the newest durable position of every log file, whether or not
// PostgreSQL was reachable — which is what the agent resumes from when PostgreSQL is down at boot.
//
// On disk (all integers little-endian):
//
//   <20-digit seq of the segment's first record>.seg    segment files, replayed in name order
//     "OBSPOOL1"                                         8-byte segment header (format version)
//     record*                                            each: u32 magic "OBSR" · u32 payload length ·
//                                                        u32 CRC-32C(payload) · payload
//     payload = header JSON (one line: seq, createdAt, files, rows, logBytes, lens) "\n"
//               + the COPY text of vps_metrics, health_checks, log_entries, agent_events (lens bytes each)
//   seq                                                  highest batch seq reserved (decimal text)
//   corrupt/<segment>-<offset>.bad                       bytes set aside at recovery (newest 8 kept)
//
// fsync policy: a record is written with one positional write and fdatasync'd before append()
// returns, i.e. before the batch goes to PostgreSQL and before the tailer may release its lines.
// A new segment file and the `seq` file (written to a temp file, fsynced, renamed) are followed by an
// fsync of the directory. Deletions are not fsynced: a deleted segment that reappears after a power
// loss holds only committed batches, which the batch sequence turns into no-ops.
//
// Recovery at open: each segment is scanned; at the first frame that is torn (past the end of the
// file), has a bad magic, a bad length, a CRC mismatch, an unreadable header or a seq not above the
// previous one, the rest of that segment is copied to corrupt/ and the segment truncated there. This
// is counted and reported (never fatal). A torn tail is what a crash in the middle of an append leaves.

import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, readFileSync,
  renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FileCheckpoint } from '../../supervisor/messages.js';
import { crc32c } from './crc32c.js';
import { Scratch } from './scratch.js';

export const SEGMENT_MAGIC = Buffer.from('OBSPOOL1', 'latin1');
export const RECORD_MAGIC = 0x5253424f; // "OBSR" read as little-endian u32
const FRAME_PREFIX = 12;
/** Sanity limit on one record; anything larger in a length field is corruption. */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const KEEP_CORRUPT_FILES = 8;
/** Seq numbers are reserved in blocks so the `seq` file is rewritten rarely. */
const SEQ_RESERVE_BLOCK = 1000;

export interface SpoolSections {
  metrics: string;
  health: string;
  logs: string;
  events: string;
}

export interface SpoolRows {
  metrics: number;
  health: number;
  logs: number;
  events: number;
}

export interface SpoolHeader {
  seq: number;
  createdAt: string;
  /** Position of every log file after this batch. */
  files: FileCheckpoint[];
  rows: SpoolRows;
  /** Bytes of log file consumed by the lines in this batch (the tailer's flow control). */
  logBytes: number;
}

export interface SpoolRecord {
  header: SpoolHeader;
  sections: SpoolSections;
  /** Size of the record on disk (frame included). */
  frameBytes: number;
}

/** COPY text of one table as encoded bytes: slices of the record read from disk (no copy, no decoding). */
export interface SpoolBytes {
  metrics: Buffer;
  health: Buffer;
  logs: Buffer;
  events: Buffer;
}

/** A record as the writer stores it: the sections stay bytes, straight from disk to the COPY. */
export interface SpoolRawRecord {
  header: SpoolHeader;
  sections: SpoolBytes;
  frameBytes: number;
}

/** What append() takes per section: text, or text already encoded in pieces (the writer's buffers). */
export type SectionInput = string | Buffer | readonly Buffer[];
export type SpoolSectionsInput = Record<keyof SpoolSections, SectionInput>;

export interface CorruptionReport {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
  /** Where the bytes were set aside (null when they could not be copied). */
  setAsideAs: string | null;
}

export interface RecoveryReport {
  segments: number;
  records: number;
  bytes: number;
  corrupt: CorruptionReport[];
  newest: { seq: number; files: FileCheckpoint[] } | null;
  reservedSeq: number;
}

export type AppendResult = { ok: true; frameBytes: number } | { ok: false; reason: 'full' | 'error'; error?: Error };

export interface SpoolOptions {
  /** Bound on the bytes of all segments (one oversized record is tolerated when nothing else is pending). */
  maxBytes: number;
  /** A new segment is started when the current one reaches this size (default maxBytes / 8, at most 16 MB). */
  segmentBytes?: number;
  /** Corruption found while reading (after open): reported as it happens. */
  onCorrupt?: (report: CorruptionReport) => void;
}

interface Segment {
  name: string;
  path: string;
  size: number;
  records: number;
}

interface Peeked {
  segIndex: number;
  offset: number;
  record: SpoolRawRecord;
}

function segmentName(seq: number): string {
  return String(seq).padStart(20, '0') + '.seg';
}

function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch { /* some filesystems refuse fsync on a directory; the data files are synced regardless */ } finally {
    if (fd !== null) closeSync(fd);
  }
}

function readFully(fd: number, length: number, position: number, into?: Scratch): Buffer {
  const buf = into ? into.take(length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) return buf.subarray(0, done);
    done += n;
  }
  return buf;
}

function writeFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

function sectionBytes(section: SectionInput): number {
  if (typeof section === 'string') return Buffer.byteLength(section, 'utf8');
  if (Buffer.isBuffer(section)) return section.length;
  let n = 0;
  for (const piece of section as readonly Buffer[]) n += piece.length;
  return n;
}

function writeSection(frame: Buffer, at: number, section: SectionInput): number {
  if (typeof section === 'string') return frame.write(section, at, 'utf8');
  if (Buffer.isBuffer(section)) return section.copy(frame, at);
  let n = 0;
  for (const piece of section as readonly Buffer[]) n += piece.copy(frame, at + n);
  return n;
}

/**
 * Encodes one record (frame + payload). Pure; exported for tests. The sections are written straight
 * into the one frame buffer: a batch is in memory once as its pieces and once as the frame, never more.
 */
export function encodeRecord(header: SpoolHeader, sections: SpoolSectionsInput, into?: Scratch): Buffer {
  const order = [sections.metrics, sections.health, sections.logs, sections.events];
  const lens = order.map(sectionBytes);
  const head = Buffer.from(JSON.stringify({ ...header, lens }) + '\n', 'utf8');
  const payloadLength = head.length + lens.reduce((n, l) => n + l, 0);
  const frame = into ? into.take(FRAME_PREFIX + payloadLength) : Buffer.allocUnsafe(FRAME_PREFIX + payloadLength);
  let at = FRAME_PREFIX;
  at += head.copy(frame, at);
  for (const section of order) at += writeSection(frame, at, section);
  frame.writeUInt32LE(RECORD_MAGIC, 0);
  frame.writeUInt32LE(payloadLength, 4);
  frame.writeUInt32LE(crc32c(frame.subarray(FRAME_PREFIX)), 8);
  return frame;
}

type FrameRead = { ok: true; record: SpoolRawRecord } | { ok: false; reason: string };

/**
 * Reads and verifies the record at `offset`. Never throws for bad data (only for I/O errors).
 * With `into`, the record's sections are views of that reused buffer, valid until its next use.
 */
function readRecord(fd: number, offset: number, fileSize: number, into?: Scratch): FrameRead {
  if (offset + FRAME_PREFIX > fileSize) return { ok: false, reason: 'torn frame header' };
  const prefix = readFully(fd, FRAME_PREFIX, offset);
  if (prefix.length < FRAME_PREFIX) return { ok: false, reason: 'torn frame header' };
  if (prefix.readUInt32LE(0) !== RECORD_MAGIC) return { ok: false, reason: 'bad record magic' };
  const length = prefix.readUInt32LE(4);
  if (length > MAX_RECORD_BYTES) return { ok: false, reason: `implausible record length ${length}` };
  if (offset + FRAME_PREFIX + length > fileSize) return { ok: false, reason: 'torn record (shorter than its length)' };
  const payload = readFully(fd, length, offset + FRAME_PREFIX, into);
  if (payload.length < length) return { ok: false, reason: 'torn record (shorter than its length)' };
  if (crc32c(payload) !== prefix.readUInt32LE(8)) return { ok: false, reason: 'checksum mismatch' };
  const nl = payload.indexOf(10);
  if (nl < 0) return { ok: false, reason: 'record header missing' };
  let parsed: SpoolHeader & { lens: number[] };
  try {
    parsed = JSON.parse(payload.toString('utf8', 0, nl)) as SpoolHeader & { lens: number[] };
  } catch {
    return { ok: false, reason: 'record header unreadable' };
  }
  const lens = parsed.lens;
  if (!Number.isSafeInteger(parsed.seq) || parsed.seq <= 0 || !Array.isArray(lens) || lens.length !== 4 ||
      nl + 1 + lens.reduce((a, b) => a + b, 0) !== length) {
    return { ok: false, reason: 'record header inconsistent' };
  }
  let at = nl + 1;
  const take = (n: number) => { const b = payload.subarray(at, at + n); at += n; return b; };
  const sections: SpoolBytes = { metrics: take(lens[0]!), health: take(lens[1]!), logs: take(lens[2]!), events: take(lens[3]!) };
  const { lens: _lens, ...header } = parsed;
  return { ok: true, record: { header, sections, frameBytes: FRAME_PREFIX + length } };
}

/** The sections of a raw record as text. */
export function decodeRecord(raw: SpoolRawRecord): SpoolRecord {
  const s = raw.sections;
  return { header: raw.header, frameBytes: raw.frameBytes,
    sections: { metrics: s.metrics.toString('utf8'), health: s.health.toString('utf8'), logs: s.logs.toString('utf8'), events: s.events.toString('utf8') } };
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly corruptDir: string;
  private readonly seqFile: string;
  private readonly onCorrupt: (report: CorruptionReport) => void;
  private segments: Segment[] = [];
  private appendFd: number | null = null;
  private readFd: { segIndex: number; fd: number } | null = null;
  /** Read cursor: the next record to send is at segments[cursorSeg], byte cursorOffset. */
  private cursorSeg = 0;
  private cursorOffset = SEGMENT_MAGIC.length;
  private peeked: Peeked | null = null;
  private pending = 0;
  private total = 0;
  private reserved = 0;
  private newestRecord: { seq: number; files: FileCheckpoint[] } | null = null;
  private closed = false;
  /** The frame being appended: written and synced before append() returns, so reused at the next one. */
  private readonly frameScratch = new Scratch();
  /**
   * The record being read. peekRaw() hands out views of it; they stay valid until that record is
   * acknowledged, because the next read happens only after ack() (peek returns the cached record).
   */
  private readonly readScratch = new Scratch();

  private constructor(dir: string, options: SpoolOptions) {
    this.dir = dir;
    this.maxBytes = options.maxBytes;
    this.segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(16 * 1024 * 1024, Math.floor(options.maxBytes / 8)));
    this.corruptDir = join(dir, 'corrupt');
    this.seqFile = join(dir, 'seq');
    this.onCorrupt = options.onCorrupt ?? (() => {});
  }

  /** Opens (creating if needed) and recovers the spool in `dir`. Corruption is set aside and reported, never thrown. */
  static open(dir: string, options: SpoolOptions): { spool: Spool; recovery: RecoveryReport } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const spool = new Spool(dir, options);
    const recovery = spool.recover();
    return { spool, recovery };
  }

  private recover(): RecoveryReport {
    const corrupt: CorruptionReport[] = [];
    try {
      const n = Number(readFileSync(this.seqFile, 'utf8').trim());
      if (Number.isSafeInteger(n) && n > 0) this.reserved = n;
    } catch { /* first start, or the file was lost: the writer also floors seq by the clock */ }
    let lastSeq = 0;
    const names = readdirSync(this.dir).filter((f) => /^\d{20}\.seg$/.test(f)).sort();
    for (const name of names) {
      const path = join(this.dir, name);
      const fd = openSync(path, 'r+');
      let records = 0;
      let offset = SEGMENT_MAGIC.length;
      try {
        const size = statSync(path).size;
        const magic = readFully(fd, SEGMENT_MAGIC.length, 0);
        if (!magic.equals(SEGMENT_MAGIC)) {
          corrupt.push(this.setAside(fd, name, 0, size, size < SEGMENT_MAGIC.length ? 'torn segment header' : 'bad segment header'));
        } else {
          while (offset < size) {
            const r = readRecord(fd, offset, size, this.readScratch);
            if (r.ok && r.record.header.seq <= lastSeq) {
              corrupt.push(this.setAside(fd, name, offset, size, `seq ${r.record.header.seq} not above ${lastSeq}`));
              break;
            }
            if (!r.ok) { corrupt.push(this.setAside(fd, name, offset, size, r.reason)); break; }
            lastSeq = r.record.header.seq;
            this.newestRecord = { seq: lastSeq, files: r.record.header.files };
            records++;
            offset += r.record.frameBytes;
          }
        }
      } finally {
        closeSync(fd);
      }
      if (records === 0) { unlinkSync(path); continue; }
      this.segments.push({ name, path, size: offset, records });
      this.total += offset;
      this.pending += records;
    }
    if (corrupt.length) fsyncDir(this.dir);
    this.pruneCorrupt();
    return { segments: this.segments.length, records: this.pending, bytes: this.total, corrupt,
      newest: this.newestRecord, reservedSeq: this.reserved };
  }

  /** Copies [offset, size) of a segment into corrupt/ and truncates the segment at offset. */
  private setAside(fd: number, name: string, offset: number, size: number, reason: string): CorruptionReport {
    const bytes = size - offset;
    let setAsideAs: string | null = null;
    try {
      mkdirSync(this.corruptDir, { recursive: true, mode: 0o700 });
      const target = join(this.corruptDir, `${name}-${offset}.bad`);
      const out = openSync(target, 'w', 0o600);
      try {
        for (let at = offset; at < size; at += 1 << 20) {
          const chunk = readFully(fd, Math.min(1 << 20, size - at), at);
          writeFully(out, chunk, at - offset);
        }
        fsyncSync(out);
      } finally { closeSync(out); }
      setAsideAs = target;
    } catch { /* no room to keep a copy: the bytes are dropped, and still counted */ }
    ftruncateSync(fd, offset);
    fsyncSync(fd);
    return { segment: name, offset, bytes, reason, setAsideAs };
  }

  private pruneCorrupt(): void {
    let names: string[];
    try { names = readdirSync(this.corruptDir).filter((f) => f.endsWith('.bad')); } catch { return; }
    if (names.length <= KEEP_CORRUPT_FILES) return;
    const byAge = names.map((f) => ({ f, t: statSync(join(this.corruptDir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
    for (const { f } of byAge.slice(0, names.length - KEEP_CORRUPT_FILES)) {
      try { unlinkSync(join(this.corruptDir, f)); } catch { /* already gone */ }
    }
  }

  /** Bytes of all segments on disk. */
  get bytes(): number { return this.total; }
  /** Records appended but not yet acknowledged (committed). */
  get pendingRecords(): number { return this.pending; }
  /** Highest seq ever reserved (persisted), 0 when unknown. */
  get reservedSeq(): number { return this.reserved; }
  /** Seq and file positions of the newest record on disk (consumed or not). */
  get newest(): { seq: number; files: FileCheckpoint[] } | null { return this.newestRecord; }

  /**
   * Appends one batch and fdatasyncs it. Returns {ok:false, reason:'full'} when it does not fit in
   * maxBytes or the disk is full (ENOSPC/EDQUOT); the spool is unchanged then.
   */
  append(header: SpoolHeader, sections: SpoolSectionsInput): AppendResult {
    if (this.closed) return { ok: false, reason: 'error', error: new Error('spool is closed') };
    const frame = encodeRecord(header, sections, this.frameScratch);
    if (this.newestRecord && header.seq <= this.newestRecord.seq) {
      return { ok: false, reason: 'error', error: new Error(`seq ${header.seq} is not above the newest spooled seq ${this.newestRecord.seq}`) };
    }
    this.reclaim();
    const active = this.segments[this.segments.length - 1];
    const rotate = !active || active.size >= this.segmentBytes;
    const growth = frame.length + (rotate ? SEGMENT_MAGIC.length : 0);
    // One record is always allowed when nothing is pending, so an oversized batch cannot wedge the spool.
    if (this.pending > 0 && this.total + growth > this.maxBytes) return { ok: false, reason: 'full' };
    try {
      if (header.seq > this.reserved) this.reserveThrough(header.seq + SEQ_RESERVE_BLOCK);
    } catch (err) {
      return { ok: false, reason: isNoSpace(err) ? 'full' : 'error', error: err as Error };
    }
    let segment = active;
    let created = false;
    try {
      if (rotate) {
        const name = segmentName(header.seq);
        const path = join(this.dir, name);
        if (this.appendFd !== null) { closeSync(this.appendFd); this.appendFd = null; }
        this.appendFd = openSync(path, 'w', 0o600);
        created = true;
        segment = { name, path, size: 0, records: 0 };
        writeFully(this.appendFd, SEGMENT_MAGIC, 0);
        segment.size = SEGMENT_MAGIC.length;
      } else if (this.appendFd === null) {
        this.appendFd = openSync(segment!.path, 'r+');
      }
      writeFully(this.appendFd!, frame, segment!.size);
      fdatasyncSync(this.appendFd!);
      if (created) fsyncDir(this.dir);
    } catch (err) {
      // Undo a partial write so the file ends at a record boundary again.
      try {
        if (created) {
          if (this.appendFd !== null) { closeSync(this.appendFd); this.appendFd = null; }
          unlinkSync(segment!.path);
        } else if (this.appendFd !== null) {
          ftruncateSync(this.appendFd, segment!.size);
        }
      } catch { /* recovery at the next open handles a torn tail */ }
      return { ok: false, reason: isNoSpace(err) ? 'full' : 'error', error: err as Error };
    }
    if (created) {
      this.segments.push(segment!);
      this.total += SEGMENT_MAGIC.length;
    }
    segment!.size += frame.length;
    segment!.records++;
    this.total += frame.length;
    this.pending++;
    this.newestRecord = { seq: header.seq, files: header.files };
    this.reclaim();
    return { ok: true, frameBytes: frame.length };
  }

  /** Persists "seqs up to n are reserved" (temp file, fsync, rename, fsync dir). */
  private reserveThrough(n: number): void {
    const tmp = this.seqFile + '.tmp';
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFully(fd, Buffer.from(String(n) + '\n'), 0);
      fsyncSync(fd);
    } finally { closeSync(fd); }
    renameSync(tmp, this.seqFile);
    fsyncDir(this.dir);
    this.reserved = n;
  }

  /** The oldest record not yet acknowledged, or null. Corruption found here is set aside and reported. */
  peek(): SpoolRecord | null {
    const raw = this.peekRaw();
    return raw && decodeRecord(raw);
  }

  /** peek(), with the sections left as the bytes read from disk (what the writer sends to COPY). */
  peekRaw(): SpoolRawRecord | null {
    if (this.closed) return null;
    if (this.peeked) return this.peeked.record;
    while (this.cursorSeg < this.segments.length) {
      const seg = this.segments[this.cursorSeg]!;
      if (this.cursorOffset >= seg.size) {
        if (this.cursorSeg === this.segments.length - 1) return null;
        this.cursorSeg++;
        this.cursorOffset = SEGMENT_MAGIC.length;
        continue;
      }
      const fd = this.readFdFor(this.cursorSeg);
      const r = readRecord(fd, this.cursorOffset, seg.size, this.readScratch);
      if (r.ok) {
        this.peeked = { segIndex: this.cursorSeg, offset: this.cursorOffset, record: r.record };
        return r.record;
      }
      // The file changed under us after recovery (disk error, an outside writer): set the rest aside.
      const lost = this.countRecordsFrom(this.cursorSeg, this.cursorOffset);
      const wfd = openSync(seg.path, 'r+');
      let report: CorruptionReport;
      try { report = this.setAside(wfd, seg.name, this.cursorOffset, seg.size, r.reason); } finally { closeSync(wfd); }
      this.total -= seg.size - this.cursorOffset;
      seg.size = this.cursorOffset;
      seg.records -= lost;
      this.pending -= lost;
      this.onCorrupt(report);
    }
    return null;
  }

  /** Number of records in a segment from `offset` to its end (used only when setting bytes aside). */
  private countRecordsFrom(segIndex: number, offset: number): number {
    const seg = this.segments[segIndex]!;
    let before = 0;
    const fd = this.readFdFor(segIndex);
    for (let at = SEGMENT_MAGIC.length; at < offset;) {
      const r = readRecord(fd, at, seg.size, this.readScratch);
      if (!r.ok) break;
      before++;
      at += r.record.frameBytes;
    }
    return Math.max(0, seg.records - before);
  }

  private readFdFor(segIndex: number): number {
    if (this.readFd && this.readFd.segIndex === segIndex) return this.readFd.fd;
    if (this.readFd) closeSync(this.readFd.fd);
    this.readFd = { segIndex, fd: openSync(this.segments[segIndex]!.path, 'r') };
    return this.readFd.fd;
  }

  /** Marks the record returned by peek() / peekRaw() as committed; deletes segments whose records are all committed. */
  ack(): void {
    const p = this.peeked;
    if (!p) throw new Error('ack() without peek()');
    this.peeked = null;
    this.cursorOffset = p.offset + p.record.frameBytes;
    this.pending--;
    this.reclaim();
  }

  /** Acknowledges every leading record with seq ≤ committedSeq (already in PostgreSQL). Returns how many. */
  skipCommitted(committedSeq: number): number {
    let n = 0;
    for (let r = this.peekRaw(); r && r.header.seq <= committedSeq; r = this.peekRaw()) { this.ack(); n++; }
    return n;
  }

  /** Deletes consumed segments, except the newest one (it holds the newest checkpoint). */
  private reclaim(): void {
    // Move the cursor off a finished segment when a later one exists.
    while (this.cursorSeg < this.segments.length - 1 && this.cursorOffset >= this.segments[this.cursorSeg]!.size && !this.peeked) {
      this.cursorSeg++;
      this.cursorOffset = SEGMENT_MAGIC.length;
    }
    const removable = Math.min(this.cursorSeg, this.segments.length - 1);
    if (removable <= 0) return;
    if (this.readFd && this.readFd.segIndex < removable) {
      closeSync(this.readFd.fd);
      this.readFd = null;
    }
    for (const seg of this.segments.slice(0, removable)) {
      try { unlinkSync(seg.path); } catch { /* already gone */ }
      this.total -= seg.size;
    }
    this.segments = this.segments.slice(removable);
    this.cursorSeg -= removable;
    if (this.readFd) this.readFd.segIndex -= removable;
    if (this.peeked) this.peeked.segIndex -= removable;
  }

  /** Closes file descriptors. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.appendFd !== null) { try { closeSync(this.appendFd); } catch { /* ignore */ } this.appendFd = null; }
    if (this.readFd) { try { closeSync(this.readFd.fd); } catch { /* ignore */ } this.readFd = null; }
  }
}

function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

/** Test helper: the segment files of a spool directory, oldest first. */
export function listSegments(dir: string): string[] {
  try { return readdirSync(dir).filter((f) => /^\d{20}\.seg$/.test(f)).sort().map((f) => join(dir, f)); } catch { return []; }
}

