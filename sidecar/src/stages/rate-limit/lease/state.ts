import type { LimitSpec, Verdict } from '../types.js';
import type { Lease, RateMeter } from './book.js';
import type { LeaseRecorder } from './recorder.js';
import type { Release } from './script.js';

/** What one pod knows about one key. */
export interface KeyState {
  readonly key: string;
  spec: LimitSpec;
  mode: 'exact' | 'lease';
  readonly meter: RateMeter;
  /** The lease being spent. */
  lease: Lease | undefined;
  /**
   * Its renewal, obtained ahead of time: reserved after `lease`, so its slots vest after `lease`'s
   * and it is spent once `lease` is spent or expired. At most one.
   */
  next: Lease | undefined;
  /** Set while this pod's Redis call for the key is out: a request that needs Redis for the key waits for it. */
  inflight: Promise<void> | undefined;
  /** Requests the key had left at the last Redis decision. */
  free: number;
  /** After a refusal beyond the horizon: no new acquisition before this (local ms)... */
  noAcquireBefore: number;
  /** ...and this pod's denials until then say Retry-After up to this. */
  retryAt: number;
  lastSeen: number;
}

/**
 * The lease to spend from now. Moves on to the renewal once the current lease can no longer serve
 * (spent, expired or closed); what an expired lease left is then forfeited (the renewal sits on top
 * of it, so it cannot go back).
 */
export function spendable(s: KeyState, now: number, recorder: LeaseRecorder): Lease | undefined {
  const l = s.lease;
  if (s.next && (!l || l.closed || l.expired(now) || l.unspent <= 0)) {
    if (l && l.unspent > 0) recorder.forfeited(s.spec.name, l.unspent);
    s.lease = s.next;
    s.next = undefined;
  }
  return s.lease;
}

/** True when the key can be decided from what this pod holds, without Redis. */
export function decidableLocally(s: KeyState, now: number, recorder: LeaseRecorder): boolean {
  const l = spendable(s, now, recorder);
  return (l !== undefined && (l.available(now) >= 1 || l.waiting(now))) || now < s.noAcquireBefore;
}

/**
 * What a release may give back for these leases (the current one and its renewal): only the pod's
 * unspent slots at the top of the key, i.e. the newest lease's, plus the older one's when the newest
 * follows it directly. Undefined when nothing could go back (nothing unspent, or all of it passed).
 */
export function topBlock(
  spec: LimitSpec,
  lease: Lease | undefined,
  next: Lease | undefined,
  now: number,
): { release: Release; units: number } | undefined {
  const top = next ?? lease;
  if (!top) return undefined;
  const units = top.unspent + (next?.follows && lease ? Math.max(0, lease.unspent) : 0);
  if (units <= 0 || now >= top.resetAt) return undefined;
  return { release: { segEnd: top.segEnd, unusedUs: units * spec.cost * spec.intervalUs }, units };
}

/** Drop the key's leases without a word to Redis: their unspent requests are forfeited. */
export function dropLeases(s: KeyState, recorder: LeaseRecorder): void {
  for (const l of [s.lease, s.next]) {
    if (!l) continue;
    l.closed = true;
    if (l.unspent > 0) recorder.forfeited(s.spec.name, l.unspent);
  }
  s.lease = undefined;
  s.next = undefined;
}

/**
 * One leasing key decided from what this pod holds: allowed (a vested slot, taken and pushed on
 * `taken`), limited (its next own slot has not vested yet), or undefined when only Redis can say.
 */
export function decideHeld(s: KeyState, now: number, recorder: LeaseRecorder, taken: Lease[]): Verdict | undefined {
  const l = spendable(s, now, recorder);
  if (l?.take(now)) {
    taken.push(l);
    return fromLease('allowed', l, s, now, 0);
  }
  if (l?.waiting(now)) return fromLease('limited', l, s, now, l.nextVestAt() - now);
  return undefined;
}

/** An enforced limit refused the request without Redis: nothing is spent, and the limits not refused are `skipped`. */
export function refusedLocally(verdicts: readonly (Verdict | undefined)[], taken: readonly Lease[]): Verdict[] {
  for (const l of taken) l.refund();
  // Array.from, not map: `verdicts` may have holes (limits not looked at).
  return Array.from(verdicts, (v) => (v?.outcome === 'limited' ? v : SKIPPED));
}

export const SKIPPED: Verdict = { outcome: 'skipped', source: 'lease', remaining: undefined, resetMs: undefined, retryAfterMs: 0 };

export function fromLease(outcome: 'allowed' | 'limited', l: Lease | undefined, s: KeyState, now: number, retryMs: number): Verdict {
  const own = l ? l.available(now) : 0;
  return {
    outcome,
    source: 'lease',
    remaining: Math.floor((own + Math.max(0, s.free)) * s.spec.cost),
    resetMs: l ? Math.max(0, l.resetAt - now) : undefined,
    retryAfterMs: Math.max(0, retryMs),
  };
}

/** The limit's sustained rate in requests (of its cost) per ms. */
export function ratePerMs(spec: LimitSpec): number {
  return 1000 / (spec.cost * spec.intervalUs);
}

export function sameRate(a: LimitSpec, b: LimitSpec): boolean {
  return a.intervalUs === b.intervalUs && a.toleranceUs === b.toleranceUs && a.cost === b.cost;
}
