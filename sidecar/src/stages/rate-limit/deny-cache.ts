/**
 * Keys known to be over their limit, until their retry-after passes. GCRA makes this exact: other
 * pods can only push a key's TAT further out, so a key denied now stays denied at least until the
 * retry-after Redis computed. The expiry is measured from when the call was sent (before Redis
 * decided), so the cache can end early but never late. Bounded: past `maxEntries` the oldest
 * entry is dropped (O(1); forgetting a denial only costs one more Redis call).
 */
export class DenyCache {
  private readonly until = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Milliseconds the key stays denied, or 0 when it is not cached (or no longer). */
  remaining(key: string, now: number): number {
    const u = this.until.get(key);
    if (u === undefined) return 0;
    if (u <= now) {
      this.until.delete(key);
      return 0;
    }
    return u - now;
  }

  add(key: string, until: number, now: number): void {
    if (until <= now) return;
    if (this.until.size >= this.maxEntries && !this.until.has(key)) {
      const oldest = this.until.keys().next();
      if (!oldest.done) this.until.delete(oldest.value);
    }
    this.until.set(key, until);
  }

  get size(): number {
    return this.until.size;
  }
}
