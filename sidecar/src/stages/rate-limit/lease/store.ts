import type { Clock } from '../../../clock.js';
import type { RedisConnection } from '../../../redis/connection.js';
import type { LimitSpec, RateItem, RateStore, Verdict } from '../types.js';
import { Lease } from './book.js';
import { runLease } from './call.js';
import { HORIZON_PERIODS, LIFETIME_PERIODS, resolveLeaseOptions } from './options.js';
import type { LeaseOptions, ResolvedLeaseOptions } from './options.js';
import type { LeaseRecorder } from './recorder.js';
import type { LeaseOp, LeaseReply } from './script.js';
import { effectivePeriod, leaseSize } from './sizing.js';
import { decidableLocally, decideHeld, dropLeases, fromLease, ratePerMs, refusedLocally, sameRate, topBlock } from './state.js';
import type { KeyState } from './state.js';
import { KeyTable } from './table.js';

export type { LeaseOptions } from './options.js';

export interface LeasingStoreDeps extends LeaseOptions {
  readonly conn: RedisConnection;
  /** The exact path, used unchanged for requests whose keys are all cold. */
  readonly exact: RateStore;
  readonly clock: Clock;
  /** Live pods of the service, for the lease size cap. */
  readonly pods: () => number;
  readonly onNoScript?: () => void;
}

/** A request's Redis call, planned by LeasingStore.plan. */
interface Plan {
  readonly verdicts: (Verdict | undefined)[];
  /** Defined at every index of `idx`. */
  readonly ops: readonly (LeaseOp | undefined)[];
  readonly periods: readonly number[];
  readonly taken: readonly Lease[];
  readonly idx: readonly number[];
  readonly now: number;
}

/**
 * Quota leasing in front of the exact store. Cold keys go through the exact path unchanged, one
 * Redis round trip per request. A key whose requests on this pod would fill a lease of
 * `hotRequests` within the shortest period switches to leasing (counted): the pod reserves a block
 * of GCRA slots in one script call, answers requests from it locally as its slots vest, and
 * renews it — in the background once `renewAheadAt` of it is spent, else when it is spent or
 * expired, giving back in the same call what it did not use. See LEASE for why this never admits
 * more than the exact path would.
 *
 * A lease lasts the key's effective period on this pod (sizing.ts): long enough to carry
 * `requestsPerCall` of the pod's requests, between periodMs and maxPeriodMs, so a hot key costs
 * about one call per `requestsPerCall` requests however the traffic is spread over the pods.
 *
 * One Redis call per key at a time per pod: a request that needs Redis for a key whose call is out
 * waits for it and then decides from the new lease; requests the lease can still answer do not
 * wait. A request with several limits is still one round trip: its cold keys ride along in the
 * lease script as exact operations.
 *
 * Error bound (bench/rate-limit/RESULTS.md, "Leasing: how it works and its error bound"), with P
 * pods, r the limit's rate, Tᵢ pod i's effective period and nᵢ its lease (at the limit
 * nᵢ ≤ max(1, r·Tᵢ ÷ P), i.e. requestsPerCall ÷ k for a pod offered k times its fair share):
 * - never more than the limit cumulatively (C + r·t, as the exact path);
 * - a sliding window may see up to the slots the pods hold on top, each its lease and at most one
 *   renewal asked for when ≤ (1 − renewAheadAt) of the lease was left: ≤ 1.2·Σ nᵢ, at the limit
 *   about 1.2·r·T̄ and never more than 1.2·r·maxPeriodMs;
 * - a pod dying loses at most what it holds, ≤ 1.2·nᵢ;
 * - with Redis unavailable, slots already granted are still spent (exact), then onRedisError.
 */
export class LeasingStore implements RateStore {
  private readonly opts: ResolvedLeaseOptions;
  private readonly recorder: LeaseRecorder;
  private readonly keys: KeyTable;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly deps: LeasingStoreDeps) {
    this.opts = resolveLeaseOptions(deps);
    this.recorder = this.opts.recorder;
    this.keys = new KeyTable(this.opts, (s) => {
      void this.release(s);
    });
    this.sweepTimer = setInterval(() => this.sweep(), this.opts.sweepMs);
    this.sweepTimer.unref();
  }

  /**
   * Verdicts for one request's items. Decided here and now — no promise, no microtask — when every
   * item is a leasing key this pod answers from what it holds (the usual case for a busy key);
   * otherwise a promise of them, after the Redis call. Never throws: a failure is a rejection.
   */
  check(items: readonly RateItem[]): readonly Verdict[] | Promise<readonly Verdict[]> {
    try {
      const now = this.deps.clock.monotonic();
      const states: KeyState[] = [];
      let exact = true;
      for (const it of items) {
        const s = this.keys.observe(it, now);
        if (s.mode !== 'exact') exact = false;
        states.push(s);
      }
      if (exact) return this.checkExact(items, states);
      if (this.busy(states, now)) return this.checkAfterBusy(items, states, now);
      const plan = this.plan(items, states, now);
      if (Array.isArray(plan)) {
        this.renewAhead(items, states);
        return plan;
      }
      return this.finish(items, states, plan).then((verdicts) => {
        this.renewAhead(items, states);
        return verdicts;
      });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async checkExact(items: readonly RateItem[], states: readonly KeyState[]): Promise<readonly Verdict[]> {
    const verdicts = await this.deps.exact.check(items);
    verdicts.forEach((v, i) => {
      if (v.remaining !== undefined) states[i]!.free = v.remaining / items[i]!.spec.cost;
    });
    return verdicts;
  }

  /**
   * One call per key at a time: a key that needs Redis while this pod's call for it is out waits
   * for that call, then everything is decided anew (at the same instant the check was made, so
   * no key found answerable here needs Redis in decide()).
   */
  private async checkAfterBusy(items: readonly RateItem[], states: readonly KeyState[], now: number): Promise<readonly Verdict[]> {
    let t = now;
    for (let busy = this.busy(states, t); busy; busy = this.busy(states, t)) {
      await busy.inflight;
      t = this.deps.clock.monotonic();
    }
    const plan = this.plan(items, states, t);
    const verdicts = Array.isArray(plan) ? plan : await this.finish(items, states, plan);
    this.renewAhead(items, states);
    return verdicts;
  }

  /**
   * Decide from leases alone, for when Redis cannot be asked (its breaker is open, or the call
   * failed): only if every item is a leasing key this pod can answer from what it holds — a vested
   * slot to spend, or its own queued slot not vested yet. Spending slots Redis already granted is
   * exact, so these are ordinary lease decisions. Anything else: undefined, nothing spent, and the
   * request goes to its limits' onRedisError.
   */
  checkLocal(items: readonly RateItem[]): readonly Verdict[] | undefined {
    const now = this.deps.clock.monotonic();
    const states: KeyState[] = [];
    for (const it of items) {
      const s = this.keys.get(it.key);
      if (!s || s.mode !== 'lease' || !sameRate(s.spec, it.spec)) return undefined;
      states.push(s);
    }
    const verdicts: Verdict[] = [];
    const taken: Lease[] = [];
    let localDeny = false;
    for (const s of states) {
      const v = decideHeld(s, now, this.recorder, taken);
      if (!v) {
        for (const t of taken) t.refund();
        return undefined;
      }
      verdicts.push(v);
      if (v.outcome === 'limited' && s.spec.enforce) localDeny = true;
    }
    for (const s of states) {
      s.meter.add(now);
      s.lastSeen = now;
    }
    return localDeny ? refusedLocally(verdicts, taken) : verdicts;
  }

  /** A leasing key that needs Redis while this pod's call for it is out. */
  private busy(states: readonly KeyState[], now: number): KeyState | undefined {
    return states.find((s) => s.mode === 'lease' && s.inflight !== undefined && !decidableLocally(s, now, this.recorder));
  }

  /**
   * What this pod decides alone (leases in hand, keys still waiting), and what must go to Redis:
   * the verdicts when nothing must, else the plan of the call (`idx`: the items it carries).
   */
  private plan(items: readonly RateItem[], states: readonly KeyState[], now: number): Verdict[] | Plan {
    const verdicts = new Array<Verdict | undefined>(items.length);
    const ops = new Array<LeaseOp | undefined>(items.length);
    const periods = new Array<number>(items.length).fill(0);
    const taken: Lease[] = [];
    let localDeny = false;
    for (let i = 0; i < items.length; i++) {
      const s = states[i]!;
      const spec = items[i]!.spec;
      if (s.mode === 'exact') {
        ops[i] = { op: 'e' };
        continue;
      }
      const held = decideHeld(s, now, this.recorder, taken);
      if (held) {
        verdicts[i] = held;
        if (held.outcome === 'limited' && spec.enforce) localDeny = true;
      } else if (now < s.noAcquireBefore) {
        verdicts[i] = fromLease('limited', undefined, s, now, s.retryAt - now);
        if (spec.enforce) localDeny = true;
      } else {
        const period = this.periodFor(s, now);
        periods[i] = period;
        ops[i] = {
          op: 'a',
          want: this.size(s, now, period),
          horizonUs: HORIZON_PERIODS * period * 1000,
          release: topBlock(spec, s.lease, undefined, now)?.release,
        };
      }
    }
    if (localDeny) return refusedLocally(verdicts, taken);
    let idx: number[] | undefined;
    for (let i = 0; i < ops.length; i++) if (ops[i] !== undefined) (idx ??= []).push(i);
    if (idx === undefined) return verdicts as Verdict[];
    return { verdicts, ops, periods, taken, idx, now };
  }

  /** Make the plan's Redis call and turn its replies into verdicts. */
  private async finish(items: readonly RateItem[], states: readonly KeyState[], plan: Plan): Promise<Verdict[]> {
    const { verdicts, ops, periods, taken, idx, now } = plan;
    const acquiring = idx.filter((i) => ops[i]!.op === 'a').map((i) => states[i]!);
    const done = this.markInflight(acquiring);
    // The old lease is over once its renewal is sent: nothing more is spent from it.
    const olds = states.map((s, i) => (ops[i]?.op === 'a' ? s.lease : undefined));
    for (const s of acquiring) {
      if (s.lease) s.lease.closed = true;
      this.recorder.renewed(s.spec.name, 'on_request');
    }
    try {
      const { replies, redisTimeMs } = await this.call(
        idx.map((i) => items[i]!),
        idx.map((i) => ops[i]!),
      );
      const recvAt = this.deps.clock.monotonic();
      const admitted = idx.every((i, k) => !items[i]!.spec.enforce || replies[k]!.admitted);
      idx.forEach((i, k) => {
        verdicts[i] = this.apply(states[i]!, olds[i], ops[i]!, replies[k]!, admitted, now, recvAt, periods[i]!, redisTimeMs);
      });
      if (!admitted) for (const l of taken) l.refund();
      return verdicts as Verdict[];
    } catch (err) {
      for (const l of taken) l.refund();
      for (const s of acquiring) dropLeases(s, this.recorder);
      throw err;
    } finally {
      done();
    }
  }

  /** Install what Redis answered for one key on the request path and turn it into the request's verdict. */
  private apply(
    s: KeyState,
    old: Lease | undefined,
    op: LeaseOp,
    r: LeaseReply,
    admitted: boolean,
    sentAt: number,
    recvAt: number,
    periodMs: number,
    redisTimeMs: number,
  ): Verdict {
    const spec = s.spec;
    s.free = r.remaining / spec.cost;
    const base = { source: 'redis' as const, remaining: Math.max(0, r.remaining), resetMs: r.resetUs / 1000, redisTimeMs };
    if (op.op !== 'a') return { ...base, outcome: r.admitted ? 'allowed' : 'limited', retryAfterMs: r.retryUs / 1000 };
    if (old && op.release) this.settleRelease(spec, old.unspent, r.returnedUs);
    else if (old && old.unspent > 0) this.recorder.forfeited(spec.name, old.unspent);
    if (s.lease === old) s.lease = undefined;
    if (r.granted < 1) {
      this.queueFull(s, op, r, recvAt);
      return { ...base, outcome: 'limited', retryAfterMs: r.retryUs / 1000 };
    }
    const lease = this.lease(spec, r, sentAt, recvAt, periodMs, false);
    if (r.admitted && admitted) lease.spent = 1;
    s.lease = lease;
    return { ...base, outcome: r.admitted ? 'allowed' : 'limited', retryAfterMs: r.retryUs / 1000 };
  }

  /**
   * Renew ahead: keys of this request whose lease is mostly spent get their next lease now, in one
   * background call, so that the requests that spend the rest — and the ones after — do not wait
   * for a round trip. The current lease goes on being spent meanwhile; the new one is reserved after
   * it (it vests later), and requests move on to it once the current one is spent or expired. It is
   * an ordinary grant, so every bound holds; a pod holds at most its lease plus one renewal asked
   * for when ≤ (1 − renewAheadAt) of the lease was left.
   */
  private renewAhead(items: readonly RateItem[], states: readonly KeyState[]): void {
    if (!this.deps.conn.available) return;
    const now = this.deps.clock.monotonic();
    // On every leased request: nothing allocated unless a key is due.
    let idx: number[] | undefined;
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!;
      if (this.dueAhead(s, now) && !(idx?.some((j) => states[j] === s) ?? false)) (idx ??= []).push(i);
    }
    if (idx === undefined) return;
    const renewing = idx.map((i) => states[i]!);
    const specs = idx.map((i) => items[i]!.spec);
    const periods = renewing.map((s) => this.periodFor(s, now));
    const ops: LeaseOp[] = renewing.map((s, k) => ({
      op: 'a',
      want: this.size(s, now, periods[k]!),
      horizonUs: HORIZON_PERIODS * periods[k]! * 1000,
      after: s.lease!.segEnd,
    }));
    const done = this.markInflight(renewing);
    for (const s of renewing) this.recorder.renewed(s.spec.name, 'ahead');
    void this.call(
      idx.map((i) => items[i]!),
      ops,
    )
      .then(
        ({ replies }) => {
          const recvAt = this.deps.clock.monotonic();
          renewing.forEach((s, k) => this.installAhead(s, specs[k]!, ops[k]!, replies[k]!, now, recvAt, periods[k]!));
        },
        () => {
          // Nothing lost: the leases in use go on, and a request that needs more asks for it itself.
        },
      )
      .finally(done);
  }

  private dueAhead(s: KeyState, now: number): boolean {
    const l = s.lease;
    return (
      s.mode === 'lease' &&
      s.inflight === undefined &&
      s.next === undefined &&
      l !== undefined &&
      !l.closed &&
      !l.expired(now) &&
      // (The 1e-9: 0.8 × 100 must be 80, not 80.00000000000001.)
      now >= s.noAcquireBefore &&
      l.spent >= Math.ceil(l.granted * this.opts.renewAheadAt - 1e-9)
    );
  }

  private installAhead(s: KeyState, spec: LimitSpec, op: LeaseOp, r: LeaseReply, sentAt: number, recvAt: number, periodMs: number): void {
    if (!this.keys.holds(s) || s.mode !== 'lease' || !sameRate(spec, s.spec)) {
      // The key left this pod (evicted, cooled, or its limit changed) while the call was out: the
      // new lease goes straight back.
      if (r.granted >= 1) void this.giveBack(s.key, spec, this.lease(spec, r, sentAt, recvAt, periodMs, false), undefined);
      return;
    }
    s.free = r.remaining / spec.cost;
    if (r.granted < 1) {
      this.queueFull(s, op, r, recvAt);
      return;
    }
    const cur = s.lease;
    const follows = r.joined && cur !== undefined && op.op === 'a' && cur.segEnd === op.after;
    const lease = this.lease(spec, r, sentAt, recvAt, periodMs, follows);
    if (cur && !cur.closed) s.next = lease;
    else s.lease = lease;
  }

  /** Nothing vests within the horizon: refuse locally until something would, then ask again. */
  private queueFull(s: KeyState, op: LeaseOp, r: LeaseReply, recvAt: number): void {
    const horizonUs = op.op === 'a' ? op.horizonUs : 0;
    s.noAcquireBefore = recvAt + (r.firstUs - horizonUs) / 1000;
    s.retryAt = recvAt + r.retryUs / 1000;
  }

  private lease(spec: LimitSpec, r: LeaseReply, sentAt: number, recvAt: number, periodMs: number, follows: boolean): Lease {
    this.recorder.granted(spec.name, r.granted, periodMs);
    const stepMs = (spec.cost * spec.intervalUs) / 1000;
    return new Lease(
      r.granted,
      recvAt + r.firstUs / 1000,
      stepMs,
      sentAt + LIFETIME_PERIODS * periodMs,
      r.segEnd,
      recvAt + r.resetUs / 1000,
      follows,
    );
  }

  private markInflight(states: readonly KeyState[]): () => void {
    let settle = (): void => undefined;
    const inflight = new Promise<void>((r) => {
      settle = r;
    });
    for (const s of states) s.inflight = inflight;
    return () => {
      for (const s of states) if (s.inflight === inflight) s.inflight = undefined;
      settle();
    };
  }

  /** The key's effective period on this pod: see effectivePeriod. */
  private periodFor(s: KeyState, now: number): number {
    const o = this.opts;
    return effectivePeriod({
      demandPerMs: s.meter.perMsEager(now, o.periodMs),
      minMs: o.periodMs,
      maxMs: o.maxPeriodMs,
      requestsPerCall: o.requestsPerCall,
    });
  }

  /** Requests per pod per lease: see leaseSize. */
  private size(s: KeyState, now: number, periodMs: number): number {
    return leaseSize({
      demandPerMs: s.meter.perMsEager(now, this.opts.periodMs),
      ratePerMs: ratePerMs(s.spec),
      periodMs,
      free: s.free,
      pods: this.deps.pods(),
      maxUnits: this.opts.maxLeaseRequests,
    });
  }

  /** Count what a release returned, and what of the leases' unspent requests it could not. */
  private settleRelease(spec: LimitSpec, unspent: number, returnedUs: number): void {
    const returned = Math.min(unspent, returnedUs / (spec.cost * spec.intervalUs));
    if (returned > 0) this.recorder.returned(spec.name, returned);
    if (unspent - returned > 0) this.recorder.forfeited(spec.name, unspent - returned);
  }

  /** Keys whose demand fell back turn exact again and give their leases back (see KeyTable). */
  sweep(): void {
    this.keys.sweep(this.deps.clock.monotonic());
  }

  /** Give the key's unused slots back (off the request path). */
  private release(s: KeyState): Promise<void> {
    const { lease, next } = s;
    s.lease = undefined;
    s.next = undefined;
    return this.giveBack(s.key, s.spec, lease, next);
  }

  /** Close these leases and return what can go back (see topBlock); the rest, or everything if the call fails, is forfeited. */
  private async giveBack(key: string, spec: LimitSpec, lease: Lease | undefined, next: Lease | undefined): Promise<void> {
    const now = this.deps.clock.monotonic();
    let unspent = 0;
    for (const l of [lease, next])
      if (l) {
        l.closed = true;
        unspent += Math.max(0, l.unspent);
      }
    const top = topBlock(spec, lease, next, now);
    if (!top) {
      if (unspent > 0) this.recorder.forfeited(spec.name, unspent);
      return;
    }
    try {
      const { replies } = await this.call([{ key, tag: '', spec }], [{ op: 'r', release: top.release }]);
      this.settleRelease(spec, unspent, replies[0]!.returnedUs);
    } catch {
      this.recorder.forfeited(spec.name, unspent);
    }
  }

  /** Leases held now (tests, debugging): key, mode, the lease being spent, and the renewal obtained ahead. */
  snapshot(): { key: string; mode: 'exact' | 'lease'; granted: number; spent: number; next: number }[] {
    return [...this.keys.values()].map((s) => ({
      key: s.key,
      mode: s.mode,
      granted: s.lease?.granted ?? 0,
      spent: s.lease?.spent ?? 0,
      next: s.next?.granted ?? 0,
    }));
  }

  /** Resolves once none of this store's lease calls is out (renewals ahead land in the background). */
  async settled(): Promise<void> {
    for (let out = this.outstanding(); out.length > 0; out = this.outstanding()) await Promise.all(out);
  }

  private outstanding(): Promise<void>[] {
    return [...this.keys.values()].flatMap((s) => (s.inflight ? [s.inflight] : []));
  }

  /** Stop sweeping and give back every lease, so a pod leaving gracefully strands no capacity. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    // Renewals still out would land after the give-back: let them land first.
    await this.settled();
    await Promise.all([...this.keys.values()].map((s) => this.release(s)));
  }

  private call(items: readonly RateItem[], ops: readonly LeaseOp[]): Promise<{ replies: LeaseReply[]; redisTimeMs: number }> {
    return runLease(this.deps.conn, items, ops, this.deps.onNoScript);
  }
}
