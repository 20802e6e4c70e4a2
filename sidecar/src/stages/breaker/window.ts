/**
 * Request and failure counts over the last `windowMs`, kept in a ring of fixed buckets so adding
 * an outcome is O(1) and allocation-free. Expired buckets are subtracted lazily when time moves.
 */
export class RollingWindow {
  private readonly totals: Uint32Array;
  private readonly fails: Uint32Array;
  private readonly bucketMs: number;
  /** Absolute index (time / bucketMs) of the newest bucket; -1 before the first outcome. */
  private head = -1;
  requests = 0;
  failures = 0;

  constructor(
    readonly windowMs: number,
    private readonly buckets = 10,
  ) {
    this.bucketMs = Math.max(1, windowMs / buckets);
    this.totals = new Uint32Array(buckets);
    this.fails = new Uint32Array(buckets);
  }

  add(nowMs: number, failed: boolean): void {
    this.advance(nowMs);
    const slot = this.head % this.buckets;
    this.totals[slot]!++;
    this.requests++;
    if (failed) {
      this.fails[slot]!++;
      this.failures++;
    }
  }

  /** Drop the buckets that fell out of the window ending at `nowMs`. */
  advance(nowMs: number): void {
    const idx = Math.floor(nowMs / this.bucketMs);
    if (this.head < 0) {
      this.head = idx;
      return;
    }
    if (idx <= this.head) return; // monotonic time: never backwards; same bucket: nothing expires
    const steps = Math.min(idx - this.head, this.buckets);
    for (let i = 1; i <= steps; i++) {
      const slot = (this.head + i) % this.buckets;
      this.requests -= this.totals[slot]!;
      this.failures -= this.fails[slot]!;
      this.totals[slot] = 0;
      this.fails[slot] = 0;
    }
    this.head = idx;
  }

  reset(): void {
    this.totals.fill(0);
    this.fails.fill(0);
    this.requests = 0;
    this.failures = 0;
    this.head = -1;
  }
}
