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

/** Above this, capacities follow the need (plus an eighth) in 64 KiB steps instead of doubling. */
const DOUBLE_UP_TO = 256 * 1024;

const roundUp = (n: number) => Math.ceil(n / KEEP_BYTES) * KEEP_BYTES;

/**
 * The capacity for a need of n bytes. Powers of two up to 256 KiB; beyond, n plus an eighth, rounded up
 * to 64 KiB. Doubling there made a batch just over 1 MiB (the writer's bound plus the last message)
 * take 2 MiB in each of the three buffers: 6.3 MB of array buffers in a busy agent (1,000 lines/s,
 * bench/agent-footprint --phases busy, Node 22), where the batches themselves are 1.1 MB. The eighth
 * of headroom lets batches of about the same size reuse the buffer instead of growing it each time.
 */
function capacityFor(n: number): number {
  if (n <= KEEP_BYTES) return KEEP_BYTES;
  if (n <= DOUBLE_UP_TO) {
    let cap = KEEP_BYTES;
    while (cap < n) cap *= 2;
    return cap;
  }
  return roundUp(n + n / 8);
}

/**
 * The next capacity of a buffer filled piece by piece: at least the need, and at least 1.5 times the
 * current capacity beyond 256 KiB (doubling below), so filling a 1 MiB batch from empty reallocates
 * a handful of times, not once per message.
 */
function growTo(capacity: number, need: number): number {
  if (capacity < DOUBLE_UP_TO) return capacityFor(Math.max(need, capacity * 2));
  return roundUp(Math.max(need + need / 8, capacity * 1.5));
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
    const next = Buffer.allocUnsafeSlow(growTo(cap, need));
    if (this.buf && this.used) this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}
