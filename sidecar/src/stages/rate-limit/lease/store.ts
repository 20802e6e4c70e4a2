import type { Clock } from '../../../clock.js';
import type { RedisConnection } from '../../../redis/connection.js';
import type { LimitSpec, RateItem, RateStore, Verdict } from '../types.js';
import { Lease, RateMeter, isHot, leaseSize } from './book.js';
import type { LeaseRecorder } from './recorder.js';
import { noLeaseRecorder } from './recorder.js';
import { runLease } from './call.js';
import type { LeaseOp, LeaseReply, Release } from './script.js';

export interface LeaseOptions {
  /**
   * The time one lease is sized to last, i.e. the target time between two Redis calls for one hot
   * key on one pod. Slots are granted only if they vest within 2 periods, and a lease expires after
   * 4 (vested slots not spent by then are forfeited). Default 100 ms.
   */
  readonly periodMs?: number;
  /** A key switches to leasing once a lease would carry this many requests, back below half. Default 2. */
  readonly hotRequests?: number;
  /** Largest lease, in requests. Default 10 000. */
  readonly maxLeaseRequests?: number;
  /** Keys tracked per pod (rate meters and leases); past it the oldest is dropped. Default 10 000. */
  readonly maxKeys?: number;
  /** How often cold keys are looked for (their leases given back). Default 500 ms. */
  readonly sweepMs?: number;
  readonly recorder?: LeaseRecorder;
}

export interface LeasingStoreDeps extends LeaseOptions {
  readonly conn: RedisConnection;
  /** The exact path, used unchanged for requests whose keys are all cold. */
  readonly exact: RateStore;
  readonly clock: Clock;
  /** Live pods of the service, for the lease size cap. */
  readonly pods: () => number;
  readonly onNoScript?: () => void;
}

interface KeyState {
  readonly key: string;
  spec: LimitSpec;
  mode: 'exact' | 'lease';
  readonly meter: RateMeter;
  lease: Lease | undefined;
  /** Set while this pod's Redis call for the key is out: other requests for the key wait for it. */
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
 * Quota leasing in front of the exact store. Cold keys go through the exact path unchanged, one
 * Redis round trip per request. A key whose requests on this pod would fill a lease of
 * `hotRequests` within one period switches to leasing (counted): the pod reserves a block of GCRA
 * slots in one script call, answers requests from it locally as its slots vest, and renews it when
 * it is spent or expired, giving back in the same call what it did not use. See LEASE for why this
 * never admits more than the exact path would.
 *
 * One Redis call per key at a time per pod: requests arriving while the key's call is out wait for
 * it and then decide from the new lease. A request with several limits is still one round trip:
 * its cold keys ride along in the lease script as exact operations.
 *
 * Error bound (bench/rate-limit/RESULTS.md, "Leasing: how it works and its error bound"): never
 * more than the limit cumulatively; a sliding window may see up to the leases held on top (P × n,
 * at the limit one period's refill); a pod dying with a lease loses at most that lease.
 */
export class LeasingStore implements RateStore {
  private readonly keys = new Map<string, KeyState>();
  private readonly periodMs: number;
  private readonly hotRequests: number;
  private readonly maxLease: number;
  private readonly maxKeys: number;
  private readonly recorder: LeaseRecorder;
  private readonly sweepTimer: NodeJS.Timeout;
  private leased = 0;

  constructor(private readonly deps: LeasingStoreDeps) {
    this.periodMs = deps.periodMs ?? 100;
    this.hotRequests = deps.hotRequests ?? 2;
    this.maxLease = deps.maxLeaseRequests ?? 10_000;
    this.maxKeys = deps.maxKeys ?? 10_000;
    this.recorder = deps.recorder ?? noLeaseRecorder;
    this.sweepTimer = setInterval(() => this.sweep(), deps.sweepMs ?? 500);
    this.sweepTimer.unref();
  }

  async check(items: readonly RateItem[]): Promise<readonly Verdict[]> {
    const now = this.deps.clock.monotonic();
    const states = items.map((it) => this.observe(it, now));
    if (states.every((s) => s.mode === 'exact')) {
      const verdicts = await this.deps.exact.check(items);
      verdicts.forEach((v, i) => { if (v.remaining !== undefined) states[i]!.free = v.remaining / items[i]!.spec.cost; });
      return verdicts;
    }
    // One call per key at a time: wait for this pod's call on any of these keys, then decide anew.
    for (let busy = states.find(hasInflight); busy; busy = states.find(hasInflight)) await busy.inflight;
    return this.decide(items, states);
  }

  private async decide(items: readonly RateItem[], states: readonly KeyState[]): Promise<Verdict[]> {
    const now = this.deps.clock.monotonic();
    const verdicts = new Array<Verdict | undefined>(items.length);
    const ops = new Array<LeaseOp | undefined>(items.length);
    const taken: Lease[] = [];
    let localDeny = false;
    for (let i = 0; i < items.length; i++) {
      const s = states[i]!;
      const spec = items[i]!.spec;
      if (s.mode === 'exact') { ops[i] = { op: 'e' }; continue; }
      const l = s.lease;
      if (l?.take(now)) {
        taken.push(l);
        verdicts[i] = fromLease('allowed', l, s, now, 0);
      } else if (l?.waiting(now)) {
        verdicts[i] = fromLease('limited', l, s, now, l.nextVestAt() - now);
        if (spec.enforce) localDeny = true;
      } else if (now < s.noAcquireBefore) {
        verdicts[i] = fromLease('limited', undefined, s, now, s.retryAt - now);
        if (spec.enforce) localDeny = true;
      } else {
        ops[i] = { op: 'a', want: this.size(s, now), horizonUs: 2 * this.periodMs * 1000, release: this.leftover(s, now) };
      }
    }
    if (localDeny) {
      // Refused here without Redis: nothing is spent, and the limits not looked at are `skipped`.
      for (const l of taken) l.refund();
      return items.map((_, i) => { const v = verdicts[i]; return v?.outcome === 'limited' ? v : SKIPPED; });
    }
    const idx = ops.flatMap((op, i) => (op ? [i] : []));
    if (idx.length === 0) return verdicts as Verdict[];

    const acquiring = idx.filter((i) => ops[i]!.op === 'a').map((i) => states[i]!);
    let settle = (): void => undefined;
    const inflight = new Promise<void>((r) => { settle = r; });
    for (const s of acquiring) {
      s.inflight = inflight;
      // The old lease is over once its renewal is sent: nothing more is spent from it.
      if (s.lease) s.lease.closed = true;
    }
    try {
      const { replies, redisTimeMs } = await this.call(idx.map((i) => items[i]!), idx.map((i) => ops[i]!));
      const recvAt = this.deps.clock.monotonic();
      const admitted = idx.every((i, k) => !items[i]!.spec.enforce || replies[k]!.admitted);
      idx.forEach((i, k) => {
        verdicts[i] = this.apply(states[i]!, ops[i]!, replies[k]!, admitted, now, recvAt, redisTimeMs);
      });
      if (!admitted) for (const l of taken) l.refund();
      return verdicts as Verdict[];
    } catch (err) {
      for (const l of taken) l.refund();
      for (const s of acquiring) this.forfeit(s, s.lease);
      throw err;
    } finally {
      for (const s of acquiring) s.inflight = undefined;
      settle();
    }
  }

  /** Install what Redis answered for one key and turn it into the request's verdict. */
  private apply(s: KeyState, op: LeaseOp, r: LeaseReply, admitted: boolean, sentAt: number, recvAt: number, redisTimeMs: number): Verdict {
    const spec = s.spec;
    s.free = r.remaining / spec.cost;
    const base = { source: 'redis' as const, remaining: Math.max(0, r.remaining), resetMs: r.resetUs / 1000, redisTimeMs };
    if (op.op !== 'a') return { ...base, outcome: r.admitted ? 'allowed' : 'limited', retryAfterMs: r.retryUs / 1000 };
    const old = s.lease;
    if (old && op.release) this.settleRelease(spec, old, r.returnedUs);
    else if (old && old.unspent > 0) this.recorder.forfeited(spec.name, old.unspent);
    s.lease = undefined;
    if (r.granted < 1) {
      // Nothing vests within the horizon: ask again once something would.
      s.noAcquireBefore = recvAt + (r.firstUs - 2 * this.periodMs * 1000) / 1000;
      s.retryAt = recvAt + r.retryUs / 1000;
      return { ...base, outcome: 'limited', retryAfterMs: r.retryUs / 1000 };
    }
    const stepMs = (spec.cost * spec.intervalUs) / 1000;
    const lease = new Lease(r.granted, recvAt + r.firstUs / 1000, stepMs, sentAt + 4 * this.periodMs, r.segEnd, recvAt + r.resetUs / 1000);
    if (r.admitted && admitted) lease.spent = 1;
    s.lease = lease;
    this.recorder.granted(spec.name, r.granted);
    return { ...base, outcome: r.admitted ? 'allowed' : 'limited', retryAfterMs: r.retryUs / 1000 };
  }

  /** Requests per pod per lease: see leaseSize. */
  private size(s: KeyState, now: number): number {
    const spec = s.spec;
    return leaseSize({
      demandPerMs: s.meter.perMs(now),
      ratePerMs: ratePerMs(spec),
      periodMs: this.periodMs,
      free: s.free,
      pods: this.deps.pods(),
      maxUnits: this.maxLease,
    });
  }

  /** The unused part of the key's previous lease, if any of its slots may still be in the future. */
  private leftover(s: KeyState, now: number): Release | undefined {
    const l = s.lease;
    if (!l || l.unspent <= 0 || now >= l.resetAt) return undefined;
    return { segEnd: l.segEnd, unusedUs: l.unspent * s.spec.cost * s.spec.intervalUs };
  }

  private settleRelease(spec: LimitSpec, l: Lease, returnedUs: number): void {
    const returned = Math.min(l.unspent, returnedUs / (spec.cost * spec.intervalUs));
    if (returned > 0) this.recorder.returned(spec.name, returned);
    if (l.unspent - returned > 0) this.recorder.forfeited(spec.name, l.unspent - returned);
  }

  private forfeit(s: KeyState, l: Lease | undefined): void {
    if (l && l.unspent > 0) this.recorder.forfeited(s.spec.name, l.unspent);
    if (s.lease === l) s.lease = undefined;
  }

  /** Count the request for its key, and switch the key to leasing once it is hot. */
  private observe(it: RateItem, now: number): KeyState {
    let s = this.keys.get(it.key);
    if (!s) {
      if (this.keys.size >= this.maxKeys) this.evictOldest();
      s = {
        key: it.key, spec: it.spec, mode: 'exact', meter: new RateMeter(now), lease: undefined, inflight: undefined,
        free: it.spec.requests + it.spec.burst, noAcquireBefore: -Infinity, retryAt: 0, lastSeen: now,
      };
      this.keys.set(it.key, s);
    } else if (s.spec !== it.spec && !sameRate(s.spec, it.spec)) {
      // The policy changed this limit: a lease cut for the old rate must not be spent at the new one.
      if (s.lease) { s.lease.closed = true; this.forfeit(s, s.lease); }
    }
    s.spec = it.spec;
    s.lastSeen = now;
    s.meter.add(now);
    if (s.mode === 'exact' && isHot(s.meter.perMs(now), ratePerMs(it.spec), this.periodMs, this.hotRequests)) {
      s.mode = 'lease';
      this.recorder.switched(it.spec.name, 'lease');
      this.recorder.leasedKeys(++this.leased);
    }
    return s;
  }

  /** Leasing keys whose demand fell back below half the hot threshold return to exact decisions. */
  sweep(): void {
    const now = this.deps.clock.monotonic();
    for (const s of this.keys.values()) {
      if (s.inflight) continue;
      if (s.mode === 'lease') {
        if (!isHot(s.meter.perMs(now), ratePerMs(s.spec), this.periodMs, this.hotRequests / 2)) this.toExact(s, now);
      } else if (now - s.lastSeen > 2000) {
        this.keys.delete(s.key);
      }
    }
  }

  private toExact(s: KeyState, now: number): void {
    s.mode = 'exact';
    this.recorder.switched(s.spec.name, 'exact');
    this.recorder.leasedKeys(--this.leased);
    void this.release(s, now);
  }

  /** Drop the oldest key, preferring one on the exact path (a hot key's lease is worth keeping). */
  private evictOldest(): void {
    let victim: KeyState | undefined;
    let looked = 0;
    for (const s of this.keys.values()) {
      victim ??= s;
      if (s.mode === 'exact' && !s.inflight) { victim = s; break; }
      if (++looked >= 8) break;
    }
    if (!victim) return;
    const s = victim;
    this.keys.delete(s.key);
    if (s.mode === 'lease') this.recorder.leasedKeys(--this.leased);
    void this.release(s, this.deps.clock.monotonic());
  }

  /** Give the key's unused slots back (off the request path). Failures only forfeit them. */
  private async release(s: KeyState, now: number): Promise<void> {
    const l = s.lease;
    if (!l) return;
    l.closed = true;
    s.lease = undefined;
    const rel = l.unspent > 0 && now < l.resetAt ? { segEnd: l.segEnd, unusedUs: l.unspent * s.spec.cost * s.spec.intervalUs } : undefined;
    if (!rel) { if (l.unspent > 0) this.recorder.forfeited(s.spec.name, l.unspent); return; }
    try {
      const { replies } = await this.call([{ key: s.key, tag: '', spec: s.spec }], [{ op: 'r', release: rel }]);
      this.settleRelease(s.spec, l, replies[0]!.returnedUs);
    } catch {
      this.recorder.forfeited(s.spec.name, l.unspent);
    }
  }

  /** Leases held now (tests, debugging): key, granted, spent. */
  snapshot(): { key: string; mode: 'exact' | 'lease'; granted: number; spent: number }[] {
    return [...this.keys.values()].map((s) => ({ key: s.key, mode: s.mode, granted: s.lease?.granted ?? 0, spent: s.lease?.spent ?? 0 }));
  }

  /** Stop sweeping and give back every lease, so a pod leaving gracefully strands no capacity. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    const now = this.deps.clock.monotonic();
    await Promise.all([...this.keys.values()].map((s) => this.release(s, now)));
  }

  private call(items: readonly RateItem[], ops: readonly LeaseOp[]): Promise<{ replies: LeaseReply[]; redisTimeMs: number }> {
    return runLease(this.deps.conn, items, ops, this.deps.onNoScript);
  }
}

const hasInflight = (s: KeyState): boolean => s.inflight !== undefined;

const SKIPPED: Verdict = { outcome: 'skipped', source: 'lease', remaining: undefined, resetMs: undefined, retryAfterMs: 0 };

function fromLease(outcome: 'allowed' | 'limited', l: Lease | undefined, s: KeyState, now: number, retryMs: number): Verdict {
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
function ratePerMs(spec: LimitSpec): number {
  return 1000 / (spec.cost * spec.intervalUs);
}

function sameRate(a: LimitSpec, b: LimitSpec): boolean {
  return a.intervalUs === b.intervalUs && a.toleranceUs === b.toleranceUs && a.cost === b.cost;
}
