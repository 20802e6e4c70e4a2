import type { BreakerPolicy } from '../../../../policies/src/types.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { CircuitBreaker, STATE_VALUE, type BreakerSnapshot, type Transition } from './circuit-breaker.js';

export interface BreakerRegistryDeps {
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Uniform in [0, 1): jitter of open periods. */
  readonly random: () => number;
  readonly log?: Logger;
  /** Spread of open periods, ± fraction (default 0.2). */
  readonly jitter?: number;
}

type GaugeChild = ReturnType<Metrics['upstreamInflight']['labels']>;
type CounterChild = ReturnType<Metrics['breakerRejected']['labels']>;

/**
 * Everything the proxy keeps about one app across policy versions: its breaker (created the
 * first time a policy has one, kept through reloads so a reload never closes an open breaker)
 * and the in-flight count the concurrency cap is enforced on.
 */
export class UpstreamGuard {
  private cb: CircuitBreaker | undefined;
  private enabled = false;
  inflight = 0;
  maxConcurrent = Number.POSITIVE_INFINITY;
  readonly inflightGauge: GaugeChild;
  readonly rejectedOpen: CounterChild;
  readonly rejectedOverflow: CounterChild;

  constructor(
    readonly name: string,
    private readonly deps: BreakerRegistryDeps,
  ) {
    const m = deps.metrics;
    this.inflightGauge = m.upstreamInflight.labels({ upstream: name });
    this.rejectedOpen = m.breakerRejected.labels({ upstream: name, reason: 'open' });
    this.rejectedOverflow = m.breakerRejected.labels({ upstream: name, reason: 'overflow' });
    // Export the series from the start: alerts on `state == 2` and dashboards need them to exist.
    this.inflightGauge.set(0);
    m.breakerState.set({ upstream: name }, 0);
    this.rejectedOpen.inc(0);
    this.rejectedOverflow.inc(0);
  }

  /** The breaker in force, or undefined when the policy has none. */
  get breaker(): CircuitBreaker | undefined {
    return this.enabled ? this.cb : undefined;
  }

  /** Apply a policy version. Thresholds change in place; state and backoff survive. */
  configure(policy: BreakerPolicy | undefined, maxConcurrent: number): void {
    this.maxConcurrent = maxConcurrent;
    if (policy === undefined) {
      // Removing the breaker must not leave an "open" gauge nobody can close.
      this.cb?.reset('disabled');
      this.enabled = false;
      return;
    }
    if (this.cb === undefined) {
      this.cb = new CircuitBreaker(policy, {
        clock: this.deps.clock,
        random: this.deps.random,
        jitter: this.deps.jitter,
        onTransition: (t) => this.onTransition(t),
      });
    } else {
      this.cb.reconfigure(policy);
    }
    this.enabled = true;
  }

  enter(): void {
    this.inflight++;
    this.inflightGauge.inc();
  }
  leave(): void {
    this.inflight--;
    this.inflightGauge.dec();
  }

  snapshot(): UpstreamView {
    const b = this.breaker;
    return {
      upstream: this.name,
      inflight: this.inflight,
      maxConcurrentRequests: Number.isFinite(this.maxConcurrent) ? this.maxConcurrent : null,
      breaker: b === undefined ? null : { ...b.snapshot(), config: configView(b.config) },
    };
  }

  private onTransition(t: Transition): void {
    const { metrics, log } = this.deps;
    metrics.breakerState.set({ upstream: this.name }, STATE_VALUE[t.to]);
    metrics.breakerTransitions.inc({ upstream: this.name, from: t.from, to: t.to, reason: t.reason });
    const line = { upstream: this.name, from: t.from, to: t.to, reason: t.reason, open_for_ms: t.openForMs };
    if (t.to === 'open') log?.warn(line, 'circuit breaker opened');
    else log?.info(line, t.to === 'closed' ? 'circuit breaker closed' : 'circuit breaker half-open');
  }
}

export interface UpstreamView {
  readonly upstream: string;
  readonly inflight: number;
  readonly maxConcurrentRequests: number | null;
  readonly breaker: (BreakerSnapshot & { readonly config: Record<string, unknown> }) | null;
}

function configView(p: BreakerPolicy): Record<string, unknown> {
  return {
    consecutiveFailures: p.consecutiveFailures,
    failureRatio: p.failureRatio ?? null,
    windowMs: p.windowMs,
    minimumRequests: p.minimumRequests,
    openForMs: p.openForMs,
    maxOpenForMs: p.maxOpenForMs,
    halfOpenRequests: p.halfOpenRequests,
    failureStatuses: [...p.failureStatuses].sort((a, b) => a - b),
  };
}

/**
 * Long-lived, created once by the proxy: one guard per upstream, surviving every policy reload.
 * `view()` is the admin server's `/breaker` JSON.
 */
export class BreakerRegistry {
  private readonly guards = new Map<string, UpstreamGuard>();

  constructor(private readonly deps: BreakerRegistryDeps) {}

  /** The guard of `upstream` (a bounded label such as the app's host:port), created on first use. */
  guard(upstream: string): UpstreamGuard {
    let g = this.guards.get(upstream);
    if (g === undefined) {
      g = new UpstreamGuard(upstream, this.deps);
      this.guards.set(upstream, g);
    }
    return g;
  }

  view(): { readonly upstreams: readonly UpstreamView[] } {
    return { upstreams: [...this.guards.values()].map((g) => g.snapshot()) };
  }
}
