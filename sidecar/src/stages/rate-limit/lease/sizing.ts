/**
 * How long and how large one pod's lease on one key is. Pure functions of what the pod knows: its
 * own demand on the key (RateMeter), the limit's rate, what the key had left at the last Redis
 * decision, and the number of live pods.
 */

export interface PeriodInput {
  /** This pod's demand on the key, requests per ms: every request it decided, refused ones included. */
  readonly demandPerMs: number;
  /** Shortest period (`periodMs`, `--rate-limit-lease-period`). */
  readonly minMs: number;
  /** Longest period (`maxPeriodMs`, `--rate-limit-lease-max-period`). */
  readonly maxMs: number;
  /** Requests of this pod one Redis call should carry (`requestsPerCall`). */
  readonly requestsPerCall: number;
}

/**
 * The key's effective lease period on this pod: the time one lease is sized to last, i.e. the time
 * between two of this pod's Redis calls for the key, `clamp(requestsPerCall ÷ demand, min, max)`.
 *
 * Why adapt: a hot key costs each pod about one call per period whatever its traffic, so with a
 * fixed period the calls per request are `pods ÷ (period × offered rate)`: fine for a key offered
 * 10,000/s, 0.05 calls (0.2 commands executed) per request for 8 pods sharing 2,000/s at 100 ms.
 * Sizing the period to the pod's own demand makes every call carry `requestsPerCall` of the pod's
 * requests — a call per `requestsPerCall` requests, whatever the number of pods or the rate.
 *
 * Why it costs no accuracy far from the limit: the lease then covers the pod's own demand for one
 * period (`leaseSize`), slots the key had free anyway; a longer period only means fewer, larger
 * leases of the same free capacity. Near the limit the pod's lease is its share of the refill over
 * one period, `r·T ÷ P`, and with `T = requestsPerCall ÷ demand` that is `requestsPerCall × (r/P) ÷
 * demand`: a pod offered k times its fair share `r/P` holds at most `requestsPerCall ÷ k` slots
 * (16 at 10× with the default 160). That is the window error bound (RESULTS.md), capped by
 * `r × max`. Counting refused requests in the demand is what keeps a refusal-heavy pod from
 * holding much: its period is short in proportion.
 */
export function effectivePeriod(p: PeriodInput): number {
  if (!(p.demandPerMs > 0)) return p.maxMs;
  return Math.min(p.maxMs, Math.max(p.minMs, p.requestsPerCall / p.demandPerMs));
}

export interface SizeInput {
  /** This pod's demand on the key, requests per ms. */
  readonly demandPerMs: number;
  /** The limit's sustained rate, requests (of the limit's cost) per ms. */
  readonly ratePerMs: number;
  /** How long one lease should last: the key's effective period on this pod (`effectivePeriod`). */
  readonly periodMs: number;
  /** Requests the key had left at the last decision (≤ 0 once it is at its limit). */
  readonly free: number;
  /** Live pods of the service (each may hold one lease per key, and one renewal). */
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

/**
 * A key is worth leasing once a lease over the *shortest* period would carry at least `hotUnits`
 * requests. Judged on the shortest period, not the effective one: a key with little traffic on this
 * pod stays exact rather than getting a long lease (the effective period only stretches leases for
 * keys that are hot already).
 */
export function isHot(demandPerMs: number, ratePerMs: number, periodMs: number, hotUnits: number): boolean {
  return Math.min(demandPerMs, ratePerMs) * periodMs >= hotUnits;
}
