/**
 * One lease as this pod holds it, on this pod's monotonic clock. Redis reported when the first slot
 * vests as a delay from its own "now"; that instant is converted as `received + delay`. Redis
 * decided somewhere between sending and receiving, so the converted instant is never earlier than
 * the real one: local conversion can only make a slot vest late, never early.
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
  ) {}

  /** Slots vested by `now`. */
  vested(now: number): number {
    if (now < this.vestAt) return 0;
    // The 1e-9 keeps a slot that vests exactly now from being lost to floating-point division.
    return Math.min(this.granted, Math.floor((now - this.vestAt) / this.stepMs + 1e-9) + 1);
  }

  expired(now: number): boolean { return now >= this.expiresAt; }

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
  nextVestAt(): number { return this.vestAt + this.spent * this.stepMs; }

  get unspent(): number { return this.granted - this.spent; }

  /** Spend one request if a slot has vested. */
  take(now: number): boolean {
    if (this.available(now) < 1) return false;
    this.spent++;
    return true;
  }

  /** Undo a take (the request was denied by another limit). */
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

  constructor(now: number, private readonly bucketMs = 1000) { this.start = now; }

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

export interface SizeInput {
  /** This pod's demand on the key, requests per ms. */
  readonly demandPerMs: number;
  /** The limit's sustained rate, requests (of the limit's cost) per ms. */
  readonly ratePerMs: number;
  /** How long one lease should last: the target time between two Redis calls for the key. */
  readonly periodMs: number;
  /** Requests the key had left at the last decision (≤ 0 once it is at its limit). */
  readonly free: number;
  /** Live pods of the service (each may hold one lease per key). */
  readonly pods: number;
  readonly maxUnits: number;
}

/**
 * Requests one pod should lease: what it would admit in one period — its demand, but never more
 * than the limit's rate — capped by its share of what the key can still give during that period,
 * `(free + rate × period) / pods`. Far from the limit `free` dominates and leases may be large;
 * at the limit `free` is 0 and the cap falls to the pod's share of the refill, and to one request
 * when that share is below one (a key whose refill per period is smaller than the number of pods).
 * Smaller leases near the limit keep the slots any one pod holds — which it may fail to spend while
 * other pods are refused, or take with it when it dies — to a fair share of the refill.
 */
export function leaseSize(s: SizeInput): number {
  const want = Math.ceil(Math.min(s.demandPerMs, s.ratePerMs) * s.periodMs);
  const cap = Math.floor((Math.max(0, s.free) + s.ratePerMs * s.periodMs) / Math.max(1, s.pods));
  return Math.max(1, Math.min(want, cap, s.maxUnits));
}

/** A key is worth leasing once a lease would carry at least `hotUnits` requests. */
export function isHot(demandPerMs: number, ratePerMs: number, periodMs: number, hotUnits: number): boolean {
  return Math.min(demandPerMs, ratePerMs) * periodMs >= hotUnits;
}
