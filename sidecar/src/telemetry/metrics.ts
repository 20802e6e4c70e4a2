import { registerProcessMetrics } from './process-metrics.js';
import { Counter, Gauge, Histogram, Registry, type CounterSeries, type HistogramSeries } from './prometheus.js';

/**
 * Every metric sidegate exports, declared in one place. Labels are bounded: route names come from
 * the policy, status codes and reasons from fixed sets; never tokens, keys or raw paths.
 * `docs/metrics.md` lists the same names, types and labels; a test keeps them in step.
 */

/** Sub-millisecond buckets: a sidecar adds fractions of a millisecond, and alerts watch p95/p99. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FAST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/** What the revocation gauges show, read at each scrape (set by the proxy). */
export interface RevocationState {
  readonly counts: Readonly<Record<string, number>>;
  readonly problems: number;
  /** Seconds; a copy that is not used is absent. */
  readonly fileAge: number | undefined;
  readonly redisAge: number | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  /** The revocation gauges' source; unset: they stay empty. */
  revocationState: (() => RevocationState) | undefined;

  // --- data path
  readonly requests = new Counter({
    name: 'sidegate_http_requests_total',
    help: 'Requests answered, by route, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'sidegate_http_request_duration_seconds',
    help: 'Time from request start to response end, as seen by the sidecar.',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'sidegate_upstream_request_duration_seconds',
    help: 'Time from sending the request to the app to the end of its response.',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'sidegate_upstream_errors_total',
    help: 'Failed calls to the app, by kind (refused, timeout, reset).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'sidegate_errors_total',
    help: 'Responses sidegate produced itself, by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly inflight = new Gauge({
    name: 'sidegate_inflight_requests',
    help: 'Requests being handled now.',
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'sidegate_open_connections',
    help: 'Client connections open now, by protocol.',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: 'sidegate_client_errors_total',
    help: 'Connections or streams refused before a request was formed (bad framing, header overflow, timeouts).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'sidegate_ready',
    help: '1 when the sidecar reports ready, 0 while starting or draining.',
    registers: [this.registry],
  });
  readonly http1FastPath = new Gauge({
    name: 'sidegate_http1_fast_path',
    help: '1 when llhttp reads HTTP/1.1 sockets in C++ (the start-up self-check passed); 0 when they are read through public stream events.',
    registers: [this.registry],
  });
  readonly http1Parser = new Gauge({
    name: 'sidegate_http1_parser',
    help: "The HTTP/1.1 parser in use reads 1: llhttp (Node's built-in binding) or http-parser-js (the public fallback: the start-up self-check failed on this Node.js, or --http1-parser public).",
    labelNames: ['parser'] as const,
    registers: [this.registry],
  });
  readonly draining = new Gauge({ name: 'sidegate_draining', help: '1 once a shutdown signal was received.', registers: [this.registry] });

  // --- policy
  readonly policyReloads = new Counter({
    name: 'sidegate_policy_reloads_total',
    help: 'Policy reloads applied.',
    registers: [this.registry],
  });
  readonly policyReloadFailures = new Counter({
    name: 'sidegate_policy_reload_failures_total',
    help: 'Policy reloads rejected (the last good policy stays in force).',
    registers: [this.registry],
  });
  readonly maintenanceActive = new Gauge({
    name: 'sidegate_maintenance_active',
    help: '1 while the policy in force has maintenance mode on (requests answered 503 SIDEGATE_ERR_MAINTENANCE), else 0.',
    registers: [this.registry],
  });
  readonly maintenanceRequests = new Counter({
    name: 'sidegate_maintenance_requests_total',
    help: 'Requests that arrived during maintenance mode, by result (refused: answered 503; excepted: matched maintenance.except; allowed: an allow-listed identity).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policyInfo = new Gauge({
    name: 'sidegate_policy_info',
    help: 'The policy in force (value 1), by name and content version.',
    labelNames: ['name', 'version'] as const,
    registers: [this.registry],
  });

  // --- authentication
  readonly authAttempts = new Counter({
    name: 'sidegate_auth_attempts_total',
    help: 'Token checks by provider, result and reason.',
    labelNames: ['provider', 'result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly revocationEntries = new Gauge({
    name: 'sidegate_revocation_entries',
    help: 'Entries in force in the durable revocation list this sidecar holds (the mounted sidegate-revocations ConfigMap), by kind (jti, issuer, subject, ip).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => this.collectRevocations(),
  });
  readonly revocationProblems = new Gauge({
    name: 'sidegate_revocation_list_problems',
    help: 'Problems in the revocation list file last read: bad entries left out (or 1 for a file that is not a list at all, the last good one kept).',
    registers: [this.registry],
  });
  readonly revocationCopyAge = new Gauge({
    name: 'sidegate_revocation_copy_age_seconds',
    help: 'Age of each copy of the revocation list this sidecar decides from: copy="file", seconds since the mounted list was last read; copy="redis", seconds since Redis was last seen holding it (re-seeded after a loss). +Inf: never.',
    labelNames: ['copy'] as const,
    registers: [this.registry],
  });
  private collectRevocations(): void {
    const st = this.revocationState?.();
    if (st === undefined) return;
    for (const [kind, n] of Object.entries(st.counts)) this.revocationEntries.set({ kind }, n);
    this.revocationProblems.set(st.problems);
    if (st.fileAge !== undefined) this.revocationCopyAge.set({ copy: 'file' }, st.fileAge);
    if (st.redisAge !== undefined) this.revocationCopyAge.set({ copy: 'redis' }, st.redisAge);
  }
  readonly securityViolations = new Counter({
    name: 'sidegate_security_violations_total',
    help: 'Requests refused as attacks, by kind (cross_tenant, banned_ip, revoked).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly jwksFetches = new Counter({
    name: 'sidegate_jwks_fetches_total',
    help: 'Key set fetches by provider and result.',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  readonly jwksAge = new Gauge({
    name: 'sidegate_jwks_age_seconds',
    help: 'Age of the key set in use, by provider.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly tokenCache = new Counter({
    name: 'sidegate_token_cache_total',
    help: 'Verified-token cache lookups by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // --- rate limits and Redis
  readonly rateLimitDecisions = new Counter({
    name: 'sidegate_ratelimit_decisions_total',
    help: 'Rate-limit decisions by limit, result (allowed, limited, shadow_limited, unavailable, shadow_unavailable) and source (redis, cache, fallback, lease).',
    labelNames: ['limit', 'result', 'source'] as const,
    registers: [this.registry],
  });
  readonly rateLimitFallback = new Gauge({
    name: 'sidegate_ratelimit_fallback_active',
    help: '1 while Redis is unusable and limits decide by their onRedisError mode.',
    registers: [this.registry],
  });
  readonly rateLimitLeaseSize = new Histogram({
    name: 'sidegate_ratelimit_lease_size',
    help: 'Requests granted per quota lease (hot keys), by limit.',
    labelNames: ['limit'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [this.registry],
  });
  readonly rateLimitLeasePeriod = new Histogram({
    name: 'sidegate_ratelimit_lease_period_seconds',
    help: "Effective period of each quota lease granted (how long it is sized to last: longer when this pod's demand on the key is low), by limit.",
    labelNames: ['limit'] as const,
    buckets: [0.1, 0.2, 0.5, 1, 2, 5, 10, 60],
    registers: [this.registry],
  });
  readonly rateLimitLeaseRenewals = new Counter({
    name: 'sidegate_ratelimit_lease_renewals_total',
    help: 'Quota leases asked for, by limit and when (ahead: in the background before the lease in use ran out; on_request: a request waited for it).',
    labelNames: ['limit', 'when'] as const,
    registers: [this.registry],
  });
  readonly rateLimitLeaseReturned = new Counter({
    name: 'sidegate_ratelimit_lease_returned_total',
    help: 'Unused leased requests given back to the shared key when a lease ended, by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly rateLimitLeaseForfeited = new Counter({
    name: 'sidegate_ratelimit_lease_forfeited_total',
    help: 'Unused leased requests that could not be given back (already passed, or other pods reserved after them), by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly rateLimitLeaseSwitches = new Counter({
    name: 'sidegate_ratelimit_lease_switches_total',
    help: 'Keys switching between exact decisions and quota leasing, by limit and direction (lease, exact).',
    labelNames: ['limit', 'to'] as const,
    registers: [this.registry],
  });
  readonly rateLimitLeasedKeys = new Gauge({
    name: 'sidegate_ratelimit_leased_keys',
    help: 'Rate-limit keys this pod decides from quota leases now.',
    registers: [this.registry],
  });
  readonly redisErrors = new Counter({
    name: 'sidegate_redis_errors_total',
    help: 'Redis calls that failed or ran past their budget, by operation (ratelimit, heartbeat, auth_revocation, revocation_seed) and kind (timeout, connection, reply, noscript).',
    labelNames: ['op', 'kind'] as const,
    registers: [this.registry],
  });
  readonly redisDuration = new Histogram({
    name: 'sidegate_redis_duration_seconds',
    help: 'Redis call latency, by operation.',
    labelNames: ['op'] as const,
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  // --- breaker and concurrency
  readonly breakerState = new Gauge({
    name: 'sidegate_circuit_breaker_state',
    help: 'Breaker toward the app: 0 closed, 1 half-open, 2 open.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'sidegate_circuit_breaker_transitions_total',
    help: 'Breaker state changes by from, to and reason.',
    labelNames: ['upstream', 'from', 'to', 'reason'] as const,
    registers: [this.registry],
  });
  readonly breakerRejected = new Counter({
    name: 'sidegate_circuit_breaker_rejected_total',
    help: 'Requests refused without reaching the app, by reason (open, overflow).',
    labelNames: ['upstream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamInflight = new Gauge({
    name: 'sidegate_upstream_inflight_requests',
    help: 'Requests in flight to the app now.',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });

  // --- tracing
  readonly spansExported = new Counter({
    name: 'sidegate_trace_spans_exported_total',
    help: 'Spans delivered to the trace collector.',
    registers: [this.registry],
  });
  readonly spansDropped = new Counter({
    name: 'sidegate_trace_spans_dropped_total',
    help: 'Spans dropped instead of delaying requests, by reason (queue_full, export_failed, export_timeout, encode_failed).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private stopLagSampling: (() => void) | undefined;

  /**
   * `eventLoopResolutionMs`: how often nodejs_eventloop_lag_* samples the loop (process-metrics.ts).
   * prom-client's 10 ms default is a timer firing 100 times a second, which woke an idle sidecar as
   * often (5–9.5 ms of CPU a second here) and, on a node full of pods, every sidecar sharing its
   * cores; 100 ms still sees every stall that long and a share of shorter ones.
   */
  constructor(opts: { processMetrics?: boolean; eventLoopResolutionMs?: number } = {}) {
    if (opts.processMetrics === false) return;
    this.stopLagSampling = registerProcessMetrics(this.registry, { eventLoopResolutionMs: opts.eventLoopResolutionMs ?? 100 });
  }

  /** Stops the event-loop sampling timer and the GC observer (at shutdown). */
  close(): void {
    this.stopLagSampling?.();
    this.stopLagSampling = undefined;
  }

  // The per-request series, found once per label set and kept: label values are bounded (route
  // names from the policy, methods folded into a fixed set, status codes), so the maps are too.
  private readonly routeSeries = new Map<string, RouteSeries>();

  /** Exchanges in the pipeline now (the sidegate_inflight_requests gauge's value): drain waits for 0. */
  get inflightNow(): number {
    return this.inflight.labels().value;
  }

  /** One answered request: the counter and the duration histograms. */
  recordRequest(route: string, method: string, status: number, seconds: number, upstreamSeconds: number): void {
    let r = this.routeSeries.get(route);
    if (r === undefined) {
      r = { duration: this.requestDuration.labels(route), upstream: this.upstreamDuration.labels(route), counts: new Map() };
      this.routeSeries.set(route, r);
    }
    const m = METHOD_INDEX.get(method) ?? 0;
    const key = status * 16 + m;
    let c = r.counts.get(key);
    if (c === undefined) {
      c = this.requests.labels(route, METHOD_LABELS[m]!, String(status));
      r.counts.set(key, c);
    }
    c.inc();
    r.duration.observe(seconds);
    if (upstreamSeconds >= 0) r.upstream.observe(upstreamSeconds);
  }
}

interface RouteSeries {
  readonly duration: HistogramSeries;
  readonly upstream: HistogramSeries;
  /** By status × 16 + method index. */
  readonly counts: Map<number, CounterSeries>;
}

/** Method label values; index 0 is everything else. */
const METHOD_LABELS = ['OTHER', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'];
const METHOD_INDEX = new Map(METHOD_LABELS.map((m, i) => [m, i]));

/** Methods are client-chosen strings: anything unusual becomes OTHER to keep the label bounded. */
export function methodLabel(method: string): string {
  return METHOD_INDEX.has(method) ? method : 'OTHER';
}
