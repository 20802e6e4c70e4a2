import type { RateLimitPolicy } from '../../../../policies/src/types.js';

/**
 * A limit as the deciding code needs it, derived once per policy version. GCRA works in time:
 * each request of cost c pushes the key's "theoretical arrival time" (TAT) forward by c × interval;
 * a request is allowed while TAT − now stays within the tolerance (capacity × interval), so a full
 * key admits exactly `requests + burst` at once and then one request per interval.
 */
export interface LimitSpec {
  readonly name: string;
  readonly requests: number;
  readonly perMs: number;
  readonly burst: number;
  readonly cost: number;
  readonly enforce: boolean;
  readonly onRedisError: RateLimitPolicy['onRedisError'];
  /** perMs / requests, in microseconds (may be fractional). */
  readonly intervalUs: number;
  /** (requests + burst) × interval, in microseconds. */
  readonly toleranceUs: number;
}

export function limitSpec(p: RateLimitPolicy): LimitSpec {
  const intervalUs = (p.perMs * 1000) / p.requests;
  return Object.freeze({
    name: p.name,
    requests: p.requests,
    perMs: p.perMs,
    burst: p.burst,
    cost: p.cost,
    enforce: p.mode === 'enforce',
    onRedisError: p.onRedisError,
    intervalUs,
    toleranceUs: (p.requests + p.burst) * intervalUs,
  });
}

/** One limit to decide for one request. */
export interface RateItem {
  /** `sidegate:rl:{<namespace>/<service>/<limit>}:<hash of key parts>`. */
  readonly key: string;
  /** What is inside the braces: items with equal tags share a Cluster slot. */
  readonly tag: string;
  readonly spec: LimitSpec;
}

/**
 * `skipped`: not decided, because another limit of the same request was refused first without
 * asking Redis (quota leasing refuses locally); nothing was spent and nothing is counted for it.
 */
export type Outcome = 'allowed' | 'limited' | 'unavailable' | 'skipped';

/** Where a decision came from: the `source` metric label. `lease`: answered locally from a quota lease. */
export type DecisionSource = 'redis' | 'cache' | 'fallback' | 'lease';

export interface Verdict {
  readonly outcome: Outcome;
  readonly source: DecisionSource;
  /** Cost-1 requests still allowed now; undefined when nothing counted (onRedisError allow/deny). */
  readonly remaining: number | undefined;
  /** Milliseconds until the key is back to full; undefined when unknown. */
  readonly resetMs: number | undefined;
  /** Milliseconds until this request's cost would be allowed; 0 when allowed. */
  readonly retryAfterMs: number;
  /** Redis' clock at the decision (ms since the epoch), for decisions Redis made. */
  readonly redisTimeMs?: number;
}

/** Decides a request's limits together. Implemented over Redis; a lease-based store can wrap it. */
export interface RateStore {
  /** The verdicts, or a promise of them when Redis must be asked. Never throws (rejects instead). */
  check(items: readonly RateItem[]): readonly Verdict[] | Promise<readonly Verdict[]>;
  /**
   * Decide without Redis from what this pod already holds (quota leases), when Redis cannot be
   * asked; undefined when some item cannot be, and then nothing was spent.
   */
  checkLocal?(items: readonly RateItem[]): readonly Verdict[] | undefined;
  /** Hand back what the store holds (quota leases) when the pod leaves. */
  close?(): Promise<void>;
}

/** What the stage asks for decisions: the proxy's RateLimiter, or a stand-in (`sidegate explain`). */
export interface LimitDecider {
  /** The verdicts, or a promise of them when they wait on Redis. Never throws; never rejects. */
  decide(items: readonly RateItem[]): readonly Verdict[] | Promise<readonly Verdict[]>;
}

/** Whether decide()/check() answered at once (verdicts) rather than with a promise of them. */
export function decided(v: readonly Verdict[] | Promise<readonly Verdict[]>): v is readonly Verdict[] {
  return Array.isArray(v);
}
