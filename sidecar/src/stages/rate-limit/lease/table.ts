import type { RateItem } from '../types.js';
import { RateMeter } from './book.js';
import type { ResolvedLeaseOptions } from './options.js';
import { isHot } from './sizing.js';
import { dropLeases, ratePerMs, sameRate } from './state.js';
import type { KeyState } from './state.js';

/**
 * The keys one pod tracks: a rate meter each, and the mode it decides them in. Keys turn to leasing
 * when hot (counted) and back when their demand falls below half of that; the table is bounded,
 * and a key leaving it (evicted, or back to exact) hands its leases to `release`.
 */
export class KeyTable {
  private readonly keys = new Map<string, KeyState>();
  private leased = 0;

  constructor(
    private readonly opts: ResolvedLeaseOptions,
    private readonly release: (s: KeyState) => void,
  ) {}

  get(key: string): KeyState | undefined {
    return this.keys.get(key);
  }

  /** True while `s` is the table's state for its key (it was not evicted meanwhile). */
  holds(s: KeyState): boolean {
    return this.keys.get(s.key) === s;
  }

  values(): IterableIterator<KeyState> {
    return this.keys.values();
  }

  /** Count the request for its key, and switch the key to leasing once it is hot. */
  observe(it: RateItem, now: number): KeyState {
    let s = this.keys.get(it.key);
    if (!s) {
      if (this.keys.size >= this.opts.maxKeys) this.evictOldest();
      s = {
        key: it.key,
        spec: it.spec,
        mode: 'exact',
        meter: new RateMeter(now),
        lease: undefined,
        next: undefined,
        inflight: undefined,
        free: it.spec.requests + it.spec.burst,
        noAcquireBefore: -Infinity,
        retryAt: 0,
        lastSeen: now,
      };
      this.keys.set(it.key, s);
    } else if (s.spec !== it.spec && !sameRate(s.spec, it.spec)) {
      // The policy changed this limit: a lease cut for the old rate must not be spent at the new one.
      dropLeases(s, this.opts.recorder);
    }
    s.spec = it.spec;
    s.lastSeen = now;
    s.meter.add(now);
    // Hotness is judged over the shortest period and on the cautious meter (see isHot).
    if (s.mode === 'exact' && isHot(s.meter.perMs(now), ratePerMs(it.spec), this.opts.periodMs, this.opts.hotRequests)) {
      s.mode = 'lease';
      this.opts.recorder.switched(it.spec.name, 'lease');
      this.opts.recorder.leasedKeys(++this.leased);
    }
    return s;
  }

  /** Leasing keys whose demand fell back below half the hot threshold return to exact decisions; idle exact keys are forgotten. */
  sweep(now: number): void {
    for (const s of this.keys.values()) {
      if (s.inflight) continue;
      if (s.mode === 'lease') {
        if (!isHot(s.meter.perMs(now), ratePerMs(s.spec), this.opts.periodMs, this.opts.hotRequests / 2)) this.toExact(s);
      } else if (now - s.lastSeen > 2000) {
        this.keys.delete(s.key);
      }
    }
  }

  private toExact(s: KeyState): void {
    s.mode = 'exact';
    this.opts.recorder.switched(s.spec.name, 'exact');
    this.opts.recorder.leasedKeys(--this.leased);
    this.release(s);
  }

  /** Drop the oldest key, preferring one on the exact path (a hot key's lease is worth keeping). */
  private evictOldest(): void {
    let victim: KeyState | undefined;
    let looked = 0;
    for (const s of this.keys.values()) {
      victim ??= s;
      if (s.mode === 'exact' && !s.inflight) {
        victim = s;
        break;
      }
      if (++looked >= 8) break;
    }
    if (!victim) return;
    this.keys.delete(victim.key);
    if (victim.mode === 'lease') this.opts.recorder.leasedKeys(--this.leased);
    this.release(victim);
  }
}
