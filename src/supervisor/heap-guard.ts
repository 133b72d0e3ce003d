// Keeps each of the agent's V8 heaps near its live size.
//
// V8 starts a full collection when the old generation reaches a limit that begins at half the heap's
// maximum and afterwards grows by at least 8 MB over what survived. For an agent whose live heap is
// 6-7 MB that means garbage promoted out of the small young generation piles up for minutes before
// anything collects it. Measured with `bench/agent-footprint --phases busy` (1,000 lines/s, Node 22):
// the old space climbed 6.5 → 12 MB in 60 s and RSS with it, while a full collection every 5 s held it
// at 6.5 MB. V8's own flags for this (--optimize-for-size, --initial-old-space-size,
// --heap-growing-percent) did not hold it on Node 22 (same bench, one run each).
//
// So the guard looks at the heap once a second, and after every batch of log lines the writer seals,
// and runs a full collection when it has grown by more than `stepBytes` since the last one (or since
// the lowest it was seen, when V8 collected by itself). A full collection of a heap this size takes
// 3-8 ms. With a 1 MB step, busy RSS max 64.1 → 59.4 MB on Node 24 and 60.9 → 57.9 on 22, catch-up
// of 100 MB 70.8 → 62.9 / 66.0 → 61.7 (with the 512 KiB batches of writer.ts); busy CPU 3.6 → 4.2 %
// (one 90 s run each; a 2 MB step held busy at 60.8 / 59.6 for 3.6 / 3.7 %). It needs `gc`, which
// `--expose-gc` (AGENT_NODE_FLAGS) provides; without it the guard does nothing and V8's own limits apply.
// It runs in every isolate that does the agent's work (the main thread, and the collectors' thread
// when `placement: isolated`).

export interface HeapGuardOptions {
  /** Growth of the used heap over the last known live size that triggers a full collection. */
  stepBytes?: number;
  everyMs?: number;
  /** The collector; defaults to the global `gc` of --expose-gc. */
  gc?: (() => void) | null;
  heapUsed?: () => number;
}

export const HEAP_GUARD_DEFAULTS = { stepBytes: 1024 * 1024, everyMs: 1000 };

export class HeapGuard {
  /** Full collections the guard has run. */
  collections = 0;
  /** The lowest used heap seen since the last collection the guard ran (then: right after it). */
  private floor = Infinity;
  private timer: NodeJS.Timeout | null = null;
  private readonly stepBytes: number;
  private readonly everyMs: number;
  private readonly gc: (() => void) | null;
  private readonly heapUsed: () => number;

  constructor(options: HeapGuardOptions = {}) {
    this.stepBytes = options.stepBytes ?? HEAP_GUARD_DEFAULTS.stepBytes;
    this.everyMs = options.everyMs ?? HEAP_GUARD_DEFAULTS.everyMs;
    const global = (globalThis as { gc?: () => void }).gc;
    this.gc = options.gc !== undefined ? options.gc : typeof global === 'function' ? global : null;
    // process.memoryUsage() rather than node:v8's getHeapStatistics(): node:v8 is not otherwise loaded
    // by the agent and brings its heap-snapshot and serializer modules along.
    this.heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
  }

  /** False when there is no collector to call (the process runs without --expose-gc). */
  get active(): boolean {
    return this.gc !== null;
  }

  start(): this {
    if (this.gc && !this.timer) {
      this.timer = setInterval(() => this.check(), this.everyMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the heap; true when it ran a collection. */
  check(): boolean {
    if (!this.gc) return false;
    const used = this.heapUsed();
    if (used < this.floor) this.floor = used;
    if (used - this.floor <= this.stepBytes) return false;
    this.gc();
    this.collections++;
    // What survived is the live size now; if the live heap really grew, the next step starts from there.
    this.floor = this.heapUsed();
    return true;
  }
}
