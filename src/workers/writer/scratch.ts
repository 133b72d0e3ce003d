// Reusable byte buffers for the writer's batches.
//
// A batch passes through three buffers: the encoded log lines, the spool frame written to disk, and the
// frame read back for the COPY. Allocating them per batch makes external (off-heap) garbage that V8
// collects only after about 64 MB of it has piled up, because the small wrappers are promoted and the
// JS heap itself stays quiet: measured while catching up a 100 MB log, array buffers climbed to 58 MB
// and RSS to 120 MB before a full GC freed them. Reused buffers keep that at the size of a batch.
// They grow to the largest batch seen and are let go once batches are small again, so an agent that
// caught up a backlog does not keep backlog-sized buffers for the rest of its life.

/** Below this, a buffer is never worth giving back. */
const KEEP_BYTES = 64 * 1024;

function capacityFor(n: number): number {
  let cap = KEEP_BYTES;
  while (cap < n) cap *= 2;
  return cap;
}

/** A buffer reused for one thing at a time (a frame being written, a record being read). */
export class Scratch {
  private buf: Buffer | null = null;

  /** A buffer of exactly n bytes backed by the reused memory; its content is undefined. Valid until the next take(). */
  take(n: number): Buffer {
    const cap = this.buf?.length ?? 0;
    // Grow to the next power of two; shrink when the need fell well below the capacity.
    if (n > cap || (cap > KEEP_BYTES && n < cap / 4)) this.buf = Buffer.allocUnsafeSlow(capacityFor(n));
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

  /** Empties the buffer; gives the memory back when it held far less than its capacity this time. */
  reset(): void {
    if (this.buf && this.buf.length > KEEP_BYTES && this.used < this.buf.length / 4) this.buf = null;
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
