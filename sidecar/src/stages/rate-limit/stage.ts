import type { RateLimitPolicy } from '../../../../policies/src/types.js';
import type { Clock } from '../../clock.js';
import { RateLimitedError, RateLimitUnavailableError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { passThrough } from '../../pipeline/stage.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { DenyCache } from './deny-cache.js';
import { RL_HEADERS, deniedHeaders, policyItem, sfString, stateItem } from './headers.js';
import { KeyHasher, keyMaterial, keyPrefix, limitTag } from './keys.js';
import { decided, limitSpec } from './types.js';
import type { DecisionSource, LimitDecider, LimitSpec, RateItem, Verdict } from './types.js';

export interface RateLimitDeps {
  /** Long-lived: the proxy's RateLimiter, created once and shared by every policy version. */
  readonly limiter: LimitDecider;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly identity: { readonly namespace: string; readonly service: string };
  /** `CompiledPolicy.clientAddress.trustedHops`. */
  readonly trustedHops: number;
  /** Answer repeated denials from memory (default true; false only to measure its effect). */
  readonly denyCache?: boolean;
  readonly denyCacheMaxEntries?: number;
}

/** `result` label values: bounded. */
type Result = 'allowed' | 'limited' | 'shadow_limited' | 'unavailable' | 'shadow_unavailable';

interface CompiledLimit {
  readonly policy: RateLimitPolicy;
  readonly spec: LimitSpec;
  readonly tag: string;
  readonly prefix: string;
  readonly policyItem: string;
  /** The name as an sf-string, for the RateLimit field. */
  readonly quoted: string;
  /** Decision counters of this limit, by result × source, resolved on first use. */
  readonly counters: ({ inc(): void } | undefined)[];
  /** Key material → this limit's Redis key. */
  readonly keys: KeyHasher;
}

/**
 * The rate-limit stage: every limit whose matcher accepts the request is decided together (one
 * Redis round trip), the request is rejected with 429 if an enforced limit is exhausted, or 503 if
 * an enforced limit with `onRedisError: deny` cannot be decided; shadow limits only count.
 * Built once per policy version: limits, key prefixes and header items are compiled here.
 */
export function rateLimit(limits: readonly RateLimitPolicy[], deps: RateLimitDeps): Stage {
  if (limits.length === 0) return passThrough;
  const compiled: CompiledLimit[] = limits.map((policy) => {
    const spec = limitSpec(policy);
    const tag = limitTag(deps.identity.namespace, deps.identity.service, policy.name);
    const prefix = keyPrefix(tag);
    return {
      policy,
      spec,
      tag,
      prefix,
      policyItem: policyItem(spec),
      quoted: sfString(spec.name),
      counters: [],
      keys: new KeyHasher(prefix),
    };
  });
  const cache = deps.denyCache === false ? undefined : new DenyCache(deps.denyCacheMaxEntries);
  const count = (c: CompiledLimit, result: Result, source: DecisionSource): void => {
    const slot = RESULT_INDEX[result] * 4 + SOURCE_INDEX[source];
    let counter = c.counters[slot];
    if (counter === undefined) {
      counter = deps.metrics.rateLimitDecisions.labels(c.spec.name, result, source);
      c.counters[slot] = counter;
    }
    counter.inc();
  };
  // The usual policy has one limit matching a request: that case builds no intermediate arrays.
  const single = compiled.length === 1 ? compiled[0] : undefined;
  const onlySingle: readonly CompiledLimit[] = compiled.slice(0, 1);

  /** The request's verdicts applied: throws the refusal, or sets the RateLimit fields and notes. */
  const judge = (
    ex: Exchange,
    matched: readonly CompiledLimit[],
    items: readonly RateItem[],
    policyValue: string,
    sentAt: number,
    verdicts: readonly Verdict[],
  ): void => {
    let denied = -1;
    let unavailable = -1;
    let tightest = -1;
    let shadowHit = false;
    let source: DecisionSource = 'redis';
    for (let i = 0; i < items.length; i++) {
      const v = verdicts[i]!;
      const c = matched[i]!;
      const spec = c.spec;
      if (v.outcome === 'skipped') continue;
      if (v.source !== 'redis') source = v.source;
      if (v.outcome === 'allowed') {
        count(c, 'allowed', v.source);
        if (spec.enforce && v.remaining !== undefined && (tightest < 0 || v.remaining < verdicts[tightest]!.remaining!)) tightest = i;
      } else if (!spec.enforce) {
        shadowHit = true;
        count(c, v.outcome === 'limited' ? 'shadow_limited' : 'shadow_unavailable', v.source);
      } else if (v.outcome === 'limited') {
        count(c, 'limited', v.source);
        if (denied < 0 || v.retryAfterMs > verdicts[denied]!.retryAfterMs) denied = i;
      } else {
        count(c, 'unavailable', v.source);
        if (unavailable < 0) unavailable = i;
      }
    }

    if (denied >= 0) {
      const v = verdicts[denied]!;
      const name = matched[denied]!.spec.name;
      if (cache && v.source === 'redis') cache.add(items[denied]!.key, sentAt + v.retryAfterMs, deps.clock.monotonic());
      note(ex, 'limited', v.source, name);
      throw new RateLimitedError(name, deniedHeaders(policyValue, name, v.retryAfterMs));
    }
    if (unavailable >= 0) {
      const name = matched[unavailable]!.spec.name;
      note(ex, 'unavailable', 'fallback', name);
      throw new RateLimitUnavailableError(name);
    }
    if (policyValue !== '') {
      ex.addResponseHeader(RL_HEADERS.policy, policyValue);
      if (tightest >= 0) {
        const v = verdicts[tightest]!;
        ex.addResponseHeader(RL_HEADERS.state, stateItem(matched[tightest]!.quoted, v.remaining!, v.resetMs ?? 0));
      }
    }
    note(ex, shadowHit ? 'shadow_limited' : 'allowed', source);
  };

  // Not an async function: with the lease in hand the verdicts come back at once, and the request
  // goes on to the next stage without a promise or a microtask of this stage's own.
  return (next: Handler): Handler =>
    (ex: Exchange) => {
      try {
        let matched: readonly CompiledLimit[];
        if (single !== undefined) {
          if (!single.policy.match.matches(ex.method, ex.path)) return next(ex);
          matched = onlySingle;
        } else {
          matched = compiled.filter((c) => c.policy.match.matches(ex.method, ex.path));
          if (matched.length === 0) return next(ex);
        }
        const items: RateItem[] = matched.map((c) => ({
          key: c.keys.hash(keyMaterial(c.policy.key, ex, deps.trustedHops)),
          tag: c.tag,
          spec: c.spec,
        }));
        ex.limitKeys = items;
        const policyValue = matched.length === 1 ? (matched[0]!.spec.enforce ? matched[0]!.policyItem : '') : enforcedPolicies(matched);

        const sentAt = deps.clock.monotonic();
        if (cache) {
          for (let i = 0; i < items.length; i++) {
            if (!matched[i]!.spec.enforce) continue;
            const left = cache.remaining(items[i]!.key, sentAt);
            if (left > 0) {
              const name = matched[i]!.spec.name;
              count(matched[i]!, 'limited', 'cache');
              note(ex, 'limited', 'cache', name);
              throw new RateLimitedError(name, deniedHeaders(policyValue, name, left));
            }
          }
        }

        const got = deps.limiter.decide(items);
        if (decided(got)) {
          judge(ex, matched, items, policyValue, sentAt, got);
          return next(ex);
        }
        return got.then((verdicts) => {
          judge(ex, matched, items, policyValue, sentAt, verdicts);
          return next(ex);
        });
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
}

const RESULT_INDEX: Readonly<Record<Result, number>> = { allowed: 0, limited: 1, shadow_limited: 2, unavailable: 3, shadow_unavailable: 4 };
const SOURCE_INDEX: Readonly<Record<DecisionSource, number>> = { redis: 0, cache: 1, fallback: 2, lease: 3 };

function enforcedPolicies(matched: readonly CompiledLimit[]): string {
  let s = '';
  for (const c of matched) {
    if (!c.spec.enforce) continue;
    s = s === '' ? c.policyItem : `${s}, ${c.policyItem}`;
  }
  return s;
}

function note(ex: Exchange, result: Result, source: DecisionSource, limit?: string): void {
  ex.note('ratelimit', result);
  ex.note('ratelimit_source', source);
  if (limit !== undefined) ex.note('ratelimit_limit', limit);
}
