import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { RedisConnection } from '../../redis/connection.js';
import type { Logger } from '../../telemetry/logger.js';
import { PodHeartbeat } from '../../redis/heartbeat.js';
import { LocalLimiter } from './local.js';
import { RedisRateStore } from './redis-store.js';
import { LeasingStore } from './lease/store.js';
import type { LeaseOptions } from './lease/store.js';
import { decided, type RateItem, type RateStore, type Verdict } from './types.js';

export interface RateLimiterOptions {
  /** The shared connection; undefined when no Redis is configured (every limit then decides by onRedisError). */
  readonly redis: RedisConnection | undefined;
  readonly identity: { readonly namespace: string; readonly service: string };
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Pods assumed for `onRedisError: local` when no heartbeat count is known. Default 1. */
  readonly fallbackReplicas?: number;
  /** This pod's heartbeat member id. Default `<hostname>/<pid>/<random>`. */
  readonly podId?: string;
  /** Heartbeat timing, or false to not count live pods (fallbackReplicas is used). */
  readonly heartbeat?: { readonly intervalMs?: number; readonly ttlMs?: number } | false;
  /** Keys remembered by the local fallback. */
  readonly localMaxKeys?: number;
  /** Replace the Redis store (tests). */
  readonly store?: RateStore;
  /** Quota leasing for hot keys (see lease/store.ts); undefined: every decision is exact. */
  readonly lease?: LeaseOptions;
}

const DEGRADED_LOG_EVERY_MS = 10_000;

/**
 * The long-lived half of rate limiting: created once by the proxy and kept across policy reloads
 * (the stage is rebuilt per policy version and holds only its compiled limits and deny cache).
 * Decides through Redis while it is usable; otherwise a request whose limits this pod holds quota
 * leases for is decided from them, and anything else falls back to each limit's onRedisError:
 * allow, deny (`unavailable`), or local (this pod's share, with the pod count from heartbeats).
 */
export class RateLimiter {
  private readonly store: RateStore | undefined;
  private readonly local: LocalLimiter;
  private readonly heartbeat: PodHeartbeat | undefined;
  private readonly fallbackReplicas: number;
  private readonly unsubscribe: (() => void) | undefined;
  private degradedSinceLog = 0;
  private lastDegradedLog = -Infinity;

  constructor(private readonly opts: RateLimiterOptions) {
    this.fallbackReplicas = Math.max(1, opts.fallbackReplicas ?? 1);
    this.local = new LocalLimiter(opts.clock, opts.localMaxKeys);
    const redis = opts.redis;
    const onNoScript = (): void => {
      opts.metrics.redisErrors.inc({ op: 'ratelimit', kind: 'noscript' });
    };
    const exact = redis ? new RedisRateStore(redis, onNoScript) : undefined;
    this.store =
      opts.store ??
      (redis && exact && opts.lease
        ? new LeasingStore({ ...opts.lease, conn: redis, exact, clock: opts.clock, pods: () => this.livePods(), onNoScript })
        : exact);
    if (!redis) {
      opts.metrics.rateLimitFallback.set(1);
      opts.logger.warn({}, 'no Redis configured: rate limits decide by their onRedisError mode on this pod alone');
      return;
    }
    opts.metrics.rateLimitFallback.set(redis.available ? 0 : 1);
    this.unsubscribe = redis.onAvailabilityChange((up) => {
      opts.metrics.rateLimitFallback.set(up ? 0 : 1);
      if (up) {
        this.flushDegradedLog();
        this.local.clear();
      }
    });
    if (opts.heartbeat !== false) {
      const group = `${opts.identity.namespace}/${opts.identity.service}`;
      const member = opts.podId ?? `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
      this.heartbeat = new PodHeartbeat(redis, { group, member, ...opts.heartbeat });
      this.heartbeat.start();
    }
  }

  /** Live pods of this service as last counted, else the configured replica count. */
  livePods(): number {
    return this.heartbeat?.livePods() ?? this.fallbackReplicas;
  }

  /** True while decisions are not shared (Redis absent or its breaker open). */
  get degraded(): boolean {
    return !this.opts.redis || !this.opts.redis.available;
  }

  /**
   * Decide every item of one request: at once when the store can (leases in hand), else a promise.
   * Never throws or rejects; never waits past the Redis budget.
   */
  decide(items: readonly RateItem[]): readonly Verdict[] | Promise<readonly Verdict[]> {
    if (this.store && (this.opts.redis?.available ?? true)) {
      // A failed call is counted (op, kind) by the connection; this request gets the fallback.
      let got: readonly Verdict[] | Promise<readonly Verdict[]>;
      try {
        got = this.store.check(items);
      } catch {
        return this.withoutRedis(items);
      }
      return decided(got) ? got : got.then(undefined, () => this.withoutRedis(items));
    }
    return this.withoutRedis(items);
  }

  private withoutRedis(items: readonly RateItem[]): readonly Verdict[] {
    // Redis cannot be asked, but slots it already granted to this pod are still good: a hot key
    // with a lease in hand is decided from it (exact, source "lease") until the lease runs out.
    const held = this.store?.checkLocal?.(items);
    if (held) return held;
    this.noteDegraded(items.length);
    const pods = this.livePods();
    return items.map((it) => this.fallback(it, pods));
  }

  private fallback(it: RateItem, pods: number): Verdict {
    switch (it.spec.onRedisError) {
      case 'allow':
        return { outcome: 'allowed', source: 'fallback', remaining: undefined, resetMs: undefined, retryAfterMs: 0 };
      case 'deny':
        return { outcome: 'unavailable', source: 'fallback', remaining: undefined, resetMs: undefined, retryAfterMs: 1000 };
      case 'local':
        return this.local.check(it, pods);
    }
  }

  /** Degraded decisions are counted per request (metrics) and logged in summaries, not per request. */
  private noteDegraded(n: number): void {
    this.degradedSinceLog += n;
    const now = this.opts.clock.monotonic();
    if (now - this.lastDegradedLog >= DEGRADED_LOG_EVERY_MS) {
      this.lastDegradedLog = now;
      this.flushDegradedLog();
    }
  }

  private flushDegradedLog(): void {
    if (this.degradedSinceLog === 0) return;
    this.opts.logger.warn(
      { decisions: this.degradedSinceLog, livePods: this.livePods() },
      'rate limits decided without Redis (onRedisError)',
    );
    this.degradedSinceLog = 0;
  }

  /** Give back leases, stop the heartbeat and leave the live-pod count. The Redis connection is the proxy's to close. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.flushDegradedLog();
    // Leases first, while the heartbeat still counts this pod: their unused capacity goes back.
    await this.store?.close?.();
    await this.heartbeat?.stop();
  }
}
