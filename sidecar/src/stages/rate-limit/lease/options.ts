import type { LeaseRecorder } from './recorder.js';
import { noLeaseRecorder } from './recorder.js';

export interface LeaseOptions {
  /**
   * The shortest lease period: the time one lease is sized to last, i.e. the time between two Redis
   * calls for one hot key on one pod, when this pod's demand on the key is high. Default 100 ms.
   */
  readonly periodMs?: number;
  /**
   * The longest lease period, used when this pod's demand on the key is low (see effectivePeriod).
   * Caps the window error at the limit to `rate × maxPeriodMs`. Default 10 × periodMs.
   */
  readonly maxPeriodMs?: number;
  /**
   * Requests of this pod one Redis call for a hot key should carry: the effective period is
   * `requestsPerCall ÷ demand` between periodMs and maxPeriodMs. A granted lease executes 4 Redis
   * commands, so 160 is ≈ 0.025 commands per request. Default 160.
   */
  readonly requestsPerCall?: number;
  /**
   * Ask for the next lease in the background once this share of the current one is spent, so a hot
   * key's requests do not wait for the round trip. Default 0.8; 1 = once it is all spent.
   */
  readonly renewAheadAt?: number;
  /** A key switches to leasing once a lease over periodMs would carry this many requests, back below half. Default 2. */
  readonly hotRequests?: number;
  /** Largest lease, in requests. Default 10 000. */
  readonly maxLeaseRequests?: number;
  /** Keys tracked per pod (rate meters and leases); past it the oldest is dropped. Default 10 000. */
  readonly maxKeys?: number;
  /** How often cold keys are looked for (their leases given back). Default 500 ms. */
  readonly sweepMs?: number;
  readonly recorder?: LeaseRecorder;
}

export type ResolvedLeaseOptions = { readonly [K in keyof LeaseOptions]-?: NonNullable<LeaseOptions[K]> };

/** Slots are granted only if they vest within this many effective periods (the pod's place in the queue). */
export const HORIZON_PERIODS = 2;
/** A lease expires this many effective periods after it was asked for: the horizon, one period to spend, one of slack. */
export const LIFETIME_PERIODS = 4;

/** Defaults filled in, and bad values refused with a message naming the option. */
export function resolveLeaseOptions(o: LeaseOptions): ResolvedLeaseOptions {
  const periodMs = positive('periodMs', o.periodMs ?? 100);
  const r: ResolvedLeaseOptions = {
    periodMs,
    maxPeriodMs: positive('maxPeriodMs', o.maxPeriodMs ?? 10 * periodMs),
    requestsPerCall: positive('requestsPerCall', o.requestsPerCall ?? 160),
    renewAheadAt: positive('renewAheadAt', o.renewAheadAt ?? 0.8),
    hotRequests: positive('hotRequests', o.hotRequests ?? 2),
    maxLeaseRequests: positive('maxLeaseRequests', o.maxLeaseRequests ?? 10_000),
    maxKeys: positive('maxKeys', o.maxKeys ?? 10_000),
    sweepMs: positive('sweepMs', o.sweepMs ?? 500),
    recorder: o.recorder ?? noLeaseRecorder,
  };
  if (r.maxPeriodMs < r.periodMs) throw new RangeError(`lease maxPeriodMs (${r.maxPeriodMs}) must be at least periodMs (${r.periodMs})`);
  if (r.renewAheadAt > 1)
    throw new RangeError(`lease renewAheadAt is the share of a lease spent before renewing, in (0, 1]; got ${r.renewAheadAt}`);
  return r;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`lease ${name} must be a positive number; got ${v}`);
  return v;
}
