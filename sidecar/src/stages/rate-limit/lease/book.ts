/**
 * One lease as this pod holds it, on this pod's monotonic clock. Redis reported when the first slot
 * vests as a delay from its own "now"; that instant is converted as `received + delay`. Redis
 * decided somewhere between sending and receiving, so the converted instant is never earlier than
 * the real one: local conversion can only make a slot vest late, never early.
 *
 * A pod holds at most two per key: the one being spent and its renewal asked for ahead, which
 * vests after it (KeyState). Sizes and effective periods come from sizing.ts; the error bound they
 * give is summed up in store.ts.
 */
export class Lease {
  spent = 0;
  closed = false;

  constructor(
    /** Requests granted. */
    readonly granted: number,
    /** Local ms at which slot 1 vests; slot m vests (m − 1) × stepMs later. */
    readonly vestAt: number,
    readonly stepMs: number,
    /** After this, vested but unspent slots are forfeited and the lease is renewed. */
    readonly expiresAt: number,
    /** The key's TAT right after the grant: the release condition (see LEASE). */
    readonly segEnd: string,
    /** Local ms at which the key is full again, as of the grant (for the RateLimit header). */
    readonly resetAt: number,
    /**
     * Granted right where the lease it follows ended (a renewal ahead that nobody reserved before):
     * the unspent slots of both form one block at the top of the key, given back together.
     */
    readonly follows = false,
  ) {}

  /** Slots vested by `now`. */
  vested(now: number): number {
    if (now < this.vestAt) return 0;
    // The 1e-9 keeps a slot that vests exactly now from being lost to floating-point division.
    return Math.min(this.granted, Math.floor((now - this.vestAt) / this.stepMs + 1e-9) + 1);
  }

  expired(now: number): boolean {
    return now >= this.expiresAt;
  }

  /** Requests that may be admitted from this lease right now. */
  available(now: number): number {
    if (this.closed || this.expired(now)) return 0;
    return Math.max(0, this.vested(now) - this.spent);
  }

  /** True while some granted slots have not vested yet (the pod is queued behind other pods). */
  waiting(now: number): boolean {
    return !this.closed && !this.expired(now) && this.spent < this.granted && this.vested(now) <= this.spent;
  }

  /** When the next unspent slot vests. */
  nextVestAt(): number {
    return this.vestAt + this.spent * this.stepMs;
  }

  get unspent(): number {
    return this.granted - this.spent;
  }

  /** Spend one request if a slot has vested. */
  take(now: number): boolean {
    if (this.available(now) < 1) return false;
    this.spent++;
    return true;
  }

  /** Undo a take (the request was denied by another limit, or the decision fell back as a whole). */
  refund(): void {
    if (this.spent > 0) this.spent--;
  }
}

/**
 * Requests seen by this pod for one key, over a sliding second: the estimate that decides whether a
 * key is hot and how large its leases are. O(1) per request, two numbers per key.
 */
export class RateMeter {
  private start: number;
  private cur = 0;
  private prev = 0;
  /** Still in the first bucket: no previous one to weigh, so rate = count ÷ elapsed (≥ one bucket). */
  private first = true;

  constructor(
    now: number,
    private readonly bucketMs = 1000,
  ) {
    this.start = now;
  }

  add(now: number, n = 1): void {
    this.roll(now);
    this.cur += n;
  }

  /** Requests per ms over the last bucket (the previous bucket weighted by how much of it is still in range). */
  perMs(now: number): number {
    this.roll(now);
    const elapsed = now - this.start;
    // Over a whole bucket at least: a handful of requests at one instant (a page load) is not a
    // high rate, and must not flip a key to leasing and back.
    if (this.first) return this.cur / Math.max(elapsed, this.bucketMs);
    return this.weighted(elapsed);
  }

  /**
   * The same, but in the first bucket over the time actually seen (at least `floorMs`, at most a
   * bucket): the estimate to size leases by, where erring high is the safe side — a high demand
   * means a short effective period and small leases at the limit — while `perMs`, erring low,
   * decides hotness. Never below `perMs`.
   */
  perMsEager(now: number, floorMs: number): number {
    this.roll(now);
    const elapsed = now - this.start;
    if (this.first) return this.cur / Math.max(elapsed, Math.min(floorMs, this.bucketMs));
    return this.weighted(elapsed);
  }

  private weighted(elapsed: number): number {
    const f = Math.min(1, elapsed / this.bucketMs);
    return (this.prev * (1 - f) + this.cur) / this.bucketMs;
  }

  private roll(now: number): void {
    const elapsed = now - this.start;
    if (elapsed < this.bucketMs) return;
    this.first = false;
    if (elapsed < 2 * this.bucketMs) {
      this.prev = this.cur;
      this.start += this.bucketMs;
    } else {
      this.prev = 0;
      this.start = now;
    }
    this.cur = 0;
  }
}
