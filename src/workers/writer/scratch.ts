// Reusable byte buffers for the writer's batches.
//
// A batch passes through three buffers: the encoded log lines, the spool frame written to disk, and the
// frame read back for the COPY. Allocating them per batch makes external (off-heap) garbage that V8
// collects only after about 64 MB of it has piled up, because the small wrappers are promoted and the
// JS heap itself stays quiet: measured while catching up a 100 MB log, array buffers climbed to 58 MB
// and RSS to 120 MB before a full GC freed them. Reused buffers keep that at the size of a batch.
// They grow to the largest batch seen and are let go once batches have stayed small for a while, so an
// agent that caught up a backlog does not keep backlog-sized buffers for the rest of its life. "A while"
// matters: a busy agent alternates full batches with small ones sealed by the timer, and giving the
// buffer back after each small one cost 25 MB of allocations in 35 s at 1,000 lines/s (measured).

/** Below this, a buffer is never worth giving back. */
const KEEP_BYTES = 64 * 1024;
/** This many uses in a row needing under a quarter of the capacity, and the memory is given back. */
const SMALL_USES_BEFORE_SHRINK = 16;

/** Counts uses far below the capacity; says when the buffer should be let go. */
class ShrinkPolicy {
  private smallUses = 0;

  shouldShrink(used: number, capacity: number): boolean {
    if (capacity <= KEEP_BYTES || used >= capacity / 4) {
      this.smallUses = 0;
      return false;
    }
    if (++this.smallUses < SMALL_USES_BEFORE_SHRINK) return false;
    this.smallUses = 0;
    return true;
  }
}

function capacityFor(n: number): number {
  let cap = KEEP_BYTES;
  while (cap < n) cap *= 2;
  return cap;
}

/** A buffer reused for one thing at a time (a frame being written, a record being read). */
export class Scratch {
  private buf: Buffer | null = null;
  private readonly policy = new ShrinkPolicy();

  /** A buffer of exactly n bytes backed by the reused memory; its content is undefined. Valid until the next take(). */
  take(n: number): Buffer {
    const cap = this.buf?.length ?? 0;
    // Grow to the next power of two; shrink once needs have stayed well below the capacity.
    if (n > cap || this.policy.shouldShrink(n, cap)) this.buf = Buffer.allocUnsafeSlow(capacityFor(n));
    return this.buf!.subarray(0, n);
  }

  get capacity(): number {
    return this.buf?.length ?? 0;
  }
}

/** Bytes appended one piece after another (COPY text as it is encoded), then taken as one view and reset. */
export class ByteBuffer {
  private buf: Buffer | null = null;
  private used = 0;
  private readonly policy = new ShrinkPolicy();

  get length(): number {
    return this.used;
  }

  get capacity(): number {
    return this.buf?.length ?? 0;
  }

  /** Appends the UTF-8 encoding of text. */
  appendText(text: string): number {
    const n = Buffer.byteLength(text, 'utf8');
    this.reserve(n);
    this.buf!.write(text, this.used, 'utf8');
    this.used += n;
    return n;
  }

  /** The bytes appended since the last reset, without a copy: valid until the next append or reset. */
  view(): Buffer {
    return this.buf ? this.buf.subarray(0, this.used) : Buffer.alloc(0);
  }

  /** Empties the buffer; gives the memory back once it has held far less than its capacity many times in a row. */
  reset(): void {
    if (this.buf && this.policy.shouldShrink(this.used, this.buf.length)) this.buf = null;
    this.used = 0;
  }

  private reserve(n: number): void {
    const need = this.used + n;
    const cap = this.buf?.length ?? 0;
    if (need <= cap) return;
    const next = Buffer.allocUnsafeSlow(capacityFor(need));
    if (this.buf && this.used) this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}
