import type { BreakerPolicy } from '../../../../policies/src/types.js';
import type { Clock } from '../../clock.js';
import { RollingWindow } from './window.js';

/**
 * The breaker's state machine (resilience4j / Envoy outlier detection / Linkerd failure accrual):
 *
 *   closed ──(N consecutive failures, or failure ratio ≥ R over the window with ≥ M requests)──▶ open
 *   open ──(backoff elapsed: checked lazily on the next request)──▶ half_open
 *   half_open ──(halfOpenRequests probes all succeed)──▶ closed   (backoff back to openFor)
 *   half_open ──(any probe fails)──▶ open                           (backoff doubles, up to maxOpenFor)
 *
 * A plain class driven by outcomes and an injected clock: no timers, no I/O, so tests move time
 * by hand. Every admitted request carries a ticket (the state's epoch); an outcome recorded with a
 * ticket from an earlier state is stale and ignored, so a slow request admitted while closed can
 * neither count as a half-open probe nor reopen a breaker that has since recovered.
 */

export type BreakerState = 'closed' | 'half_open' | 'open';

/** Values of `sidegate_circuit_breaker_state`. */
export const STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 };

/** `ignored`: says nothing about the app's health (client went away, request refused by us). */
export type Outcome = 'success' | 'failure' | 'ignored';

/** `reason` label values of the transitions counter: a fixed set. */
export type TransitionReason =
  'consecutive_failures' | 'failure_ratio' | 'backoff_elapsed' | 'probes_succeeded' | 'probe_failed' | 'disabled';

export interface Transition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: TransitionReason;
  /** Only when `to` is open: how long this open period lasts. */
  readonly openForMs: number | undefined;
}

export interface CircuitBreakerOptions {
  readonly clock: Clock;
  /** Uniform in [0, 1): jitter of the open period. Injected so tests are deterministic. */
  readonly random: () => number;
  /** The open period is spread by ± this fraction (default 0.2) so pods do not probe in step. */
  readonly jitter?: number;
  readonly onTransition?: (t: Transition) => void;
}

/** What `acquire()` returns when the request must not reach the app. */
export const REJECTED = -1;

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Wall-clock time of the last transition (ISO 8601). */
  readonly since: string;
  /** While open: milliseconds until the next probe may go through. */
  readonly retryInMs: number;
  readonly consecutiveFailures: number;
  readonly window: { readonly requests: number; readonly failures: number };
  /** How many times in a row it has opened without closing (the backoff exponent). */
  readonly opens: number;
  readonly openForMs: number;
  readonly halfOpen: { readonly admitted: number; readonly succeeded: number; readonly limit: number };
}

const MAX_LEVEL = 40; // 2**40 × 1 ms is far beyond any maxOpenFor; keeps the arithmetic finite

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private epoch = 0;
  private consecutive = 0;
  private window: RollingWindow;
  /** Opens since the last close: the exponent of the backoff. */
  private level = 0;
  private openedAt = 0;
  private openUntil = 0;
  private openForMs = 0;
  private probesAdmitted = 0;
  private probesSucceeded = 0;
  private changedAt: number;
  private readonly jitter: number;

  constructor(
    private policy: BreakerPolicy,
    private readonly opts: CircuitBreakerOptions,
  ) {
    this.window = new RollingWindow(policy.windowMs);
    this.jitter = opts.jitter ?? 0.2;
    this.changedAt = opts.clock.now();
  }

  get state(): BreakerState {
    return this.current;
  }
  get config(): BreakerPolicy {
    return this.policy;
  }

  /**
   * Admit or refuse one request: a ticket (≥ 0) to hand back to `record()`, or REJECTED. Closed
   * costs one comparison; open one clock read. Moving open → half_open happens here, lazily.
   */
  acquire(): number {
    if (this.current === 'closed') return this.epoch;
    if (this.current === 'open') {
      if (this.opts.clock.monotonic() < this.openUntil) return REJECTED;
      this.transition('half_open', 'backoff_elapsed');
    }
    if (this.probesAdmitted >= this.policy.halfOpenRequests) return REJECTED;
    this.probesAdmitted++;
    return this.epoch;
  }

  /** The ticket's request ended with `outcome`. */
  record(ticket: number, outcome: Outcome): void {
    if (ticket !== this.epoch) return; // admitted under an earlier state
    if (this.current === 'closed') this.closedOutcome(outcome);
    else if (this.current === 'half_open') this.probeOutcome(outcome);
  }

  /** Milliseconds until a refused request could be admitted (0 when it could be now). */
  retryAfterMs(): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, this.openUntil - this.opts.clock.monotonic());
  }

  /**
   * New thresholds from a policy reload; the state, counts and backoff are kept. A shorter
   * maxOpenFor shortens the current open period; a new window length starts an empty window.
   */
  reconfigure(policy: BreakerPolicy): void {
    if (policy.windowMs !== this.policy.windowMs) this.window = new RollingWindow(policy.windowMs);
    this.policy = policy;
    if (this.current === 'open') {
      this.openForMs = Math.min(this.openForMs, policy.maxOpenForMs);
      this.openUntil = this.openedAt + this.openForMs;
    }
  }

  /** Back to closed at once (the breaker was removed from the policy). */
  reset(reason: TransitionReason = 'disabled'): void {
    if (this.current !== 'closed') this.transition('closed', reason);
  }

  snapshot(): BreakerSnapshot {
    this.window.advance(this.opts.clock.monotonic());
    return {
      state: this.current,
      since: new Date(this.changedAt).toISOString(),
      retryInMs: Math.ceil(this.retryAfterMs()),
      consecutiveFailures: this.consecutive,
      window: { requests: this.window.requests, failures: this.window.failures },
      opens: this.level,
      openForMs: this.current === 'open' ? this.openForMs : 0,
      halfOpen: { admitted: this.probesAdmitted, succeeded: this.probesSucceeded, limit: this.policy.halfOpenRequests },
    };
  }

  private closedOutcome(outcome: Outcome): void {
    if (outcome === 'ignored') return;
    const failed = outcome === 'failure';
    const p = this.policy;
    if (p.failureRatio !== undefined) this.window.add(this.opts.clock.monotonic(), failed);
    if (!failed) {
      this.consecutive = 0;
      return;
    }
    this.consecutive++;
    if (p.consecutiveFailures > 0 && this.consecutive >= p.consecutiveFailures) {
      this.transition('open', 'consecutive_failures');
    } else if (
      p.failureRatio !== undefined &&
      this.window.requests >= p.minimumRequests &&
      this.window.failures >= p.failureRatio * this.window.requests
    ) {
      this.transition('open', 'failure_ratio');
    }
  }

  private probeOutcome(outcome: Outcome): void {
    if (outcome === 'ignored') {
      this.probesAdmitted--;
      return;
    } // free the slot for another probe
    if (outcome === 'failure') {
      this.transition('open', 'probe_failed');
      return;
    }
    if (++this.probesSucceeded >= this.policy.halfOpenRequests) this.transition('closed', 'probes_succeeded');
  }

  /** openFor × 2^(opens so far), spread by ± jitter, never above maxOpenFor. */
  private nextOpenPeriod(): number {
    const { openForMs, maxOpenForMs } = this.policy;
    const base = Math.min(maxOpenForMs, openForMs * 2 ** this.level);
    const spread = base * (1 + this.jitter * (2 * this.opts.random() - 1));
    return Math.min(maxOpenForMs, Math.max(1, Math.round(spread)));
  }

  private transition(to: BreakerState, reason: TransitionReason): void {
    const from = this.current;
    this.current = to;
    this.epoch++;
    this.changedAt = this.opts.clock.now();
    let openForMs: number | undefined;
    if (to === 'open') {
      openForMs = this.openForMs = this.nextOpenPeriod();
      this.openedAt = this.opts.clock.monotonic();
      this.openUntil = this.openedAt + openForMs;
      if (this.level < MAX_LEVEL) this.level++;
    } else if (to === 'half_open') {
      this.probesAdmitted = 0;
      this.probesSucceeded = 0;
    } else {
      this.consecutive = 0;
      this.window.reset();
      this.level = 0;
      this.openForMs = 0;
    }
    this.opts.onTransition?.({ from, to, reason, openForMs });
  }
}
