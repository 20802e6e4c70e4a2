import type { Clock } from '../../clock.js';
import type { RateItem, Verdict } from './types.js';

/**
 * The `onRedisError: local` fallback: the same GCRA in memory, on this pod's monotonic clock, with
 * this pod's share of the limit — the rate divided by the live pods. The time tolerance stays the
 * limit's own, so the pods together admit about what the shared limit would (burst included);
 * it never drops below one request's cost, so a share smaller than one request still admits.
 * Keys are bounded: past `maxKeys` the oldest is forgotten (which can only admit more, never less).
 */
export class LocalLimiter {
  private readonly tats = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = 10_000,
  ) {}

  check(item: RateItem, pods: number): Verdict {
    const now = this.clock.monotonic();
    const spec = item.spec;
    const interval = (spec.intervalUs / 1000) * Math.max(1, pods);
    const tolerance = Math.max(spec.toleranceUs / 1000, spec.cost * interval);
    let tat = this.tats.get(item.key) ?? now;
    if (tat < now) tat = now;
    const next = tat + spec.cost * interval;
    const diff = next - now;
    if (diff <= tolerance + 1e-3) {
      this.remember(item.key, next);
      return {
        outcome: 'allowed',
        source: 'fallback',
        remaining: Math.floor((tolerance - diff + 1e-3) / interval),
        resetMs: diff,
        retryAfterMs: 0,
      };
    }
    return {
      outcome: 'limited',
      source: 'fallback',
      remaining: Math.max(0, Math.floor((tolerance - (tat - now)) / interval)),
      resetMs: tat - now,
      retryAfterMs: diff - tolerance,
    };
  }

  /** Forget everything: called when shared decisions resume, so the next outage starts fresh. */
  clear(): void {
    this.tats.clear();
  }

  get size(): number {
    return this.tats.size;
  }

  private remember(key: string, tat: number): void {
    // Re-insert so Map order is least-recently-written first.
    this.tats.delete(key);
    if (this.tats.size >= this.maxKeys) {
      const oldest = this.tats.keys().next();
      if (!oldest.done) this.tats.delete(oldest.value);
    }
    this.tats.set(key, tat);
  }
}
