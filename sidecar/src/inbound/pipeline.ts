import type { Logger } from 'pino';
import type { CompiledPolicy } from '../../../policies/src/types.js';
import type { Clock } from '../clock.js';
import { breaker, type BreakerDeps } from '../stages/breaker/index.js';
import type { AuthRuntime, Identify } from '../stages/authenticate/index.js';
import { maintenance } from '../stages/maintenance/index.js';
import { rateLimit, type LimitDecider, type RateLimiter } from '../stages/rate-limit/index.js';
import { NotReadyError } from '../errors.js';
import { respond } from '../stages/respond/index.js';
import { route } from '../stages/route/index.js';
import { telemetry } from '../stages/telemetry/index.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { compose, type Handler, type Stage } from '../pipeline/stage.js';

/** Long-lived things the stages use; they outlive policy versions. */
export interface PipelineServices {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logHeaders: boolean;
  readonly tracing: Tracing | undefined;
  /** Long-lived rate-limit state (Redis connection, fallback, heartbeats). */
  readonly limiter: RateLimiter;
  readonly identity: { readonly namespace: string; readonly service: string };
  /** Long-lived breaker state and the upstream label: survives policy versions. */
  readonly breaker: BreakerDeps;
  /** The innermost handler: relays to the app. */
  readonly forward: Handler;
}

/** What the deciding stages need beyond the policy: built by the proxy, or by `sidegate explain`. */
export interface DecisionServices {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly limiter: LimitDecider;
  readonly identity: { readonly namespace: string; readonly service: string };
}

/** Per policy version, from AuthRuntime: the authenticate stage and the maintenance allow-list's check. */
export interface AuthStages {
  readonly authenticate: Stage;
  readonly identify: Identify | undefined;
}

/**
 * The auth stages for one policy version, from the long-lived AuthRuntime (its keys outlive
 * versions): `authenticate`, once the policy's keys are loaded (up to `waitMs`), and the check
 * the maintenance allow-list identifies callers with (only when the policy has both).
 */
export async function authStages(runtime: AuthRuntime, policy: CompiledPolicy, waitMs?: number): Promise<AuthStages> {
  const authenticate = await runtime.prepare(policy.auth, waitMs);
  const allow = policy.maintenance?.allow;
  const identify = allow === undefined || policy.auth === undefined ? undefined : runtime.identify(policy.auth, allow);
  return { authenticate, identify };
}

/**
 * The stages that decide what happens to a request (which route, whether maintenance, which auth
 * rule and identity, which limits with which keys), in their order. The sidecar's pipeline and
 * `sidegate explain` are both built from this one list, so an explanation is the sidecar's own
 * decision, not a model of it.
 */
export function decisionStages(policy: CompiledPolicy, s: DecisionServices, auth: AuthStages): Stage[] {
  return [
    // Name the route first: it is a metric label, a rate-limit key part and picks the timeout.
    route(policy),
    // Before authentication: a service in maintenance spends nothing on the requests it refuses
    // (no key work, no auth failures counted, no Redis), and allow-listed testers go on as usual.
    maintenance(policy.maintenance, { metrics: s.metrics, identify: auth.identify }),
    // Before rate limits: limits can key on the verified subject, and floods of bad tokens are
    // refused before they cost Redis work. Built per policy version by AuthRuntime (keys outlive it).
    auth.authenticate,
    // Before the breaker: traffic over its limit never counts as load on the app.
    rateLimit(policy.rateLimits, {
      limiter: s.limiter,
      metrics: s.metrics,
      logger: s.log,
      clock: s.clock,
      identity: s.identity,
      trustedHops: policy.clientAddress.trustedHops,
    }),
  ];
}

/**
 * The request pipeline for one policy version, built once when the policy loads (never per
 * request). Order matters; each line says why its stage sits where it does.
 */
export function buildPipeline(policy: CompiledPolicy, s: PipelineServices, auth: AuthStages): Handler {
  const stages: Stage[] = [
    // Outermost: every exchange, rejections included, gets its metrics and log line (with
    // --log-headers, every header a provider reads a token from is redacted, whatever its name).
    telemetry(policy.logging, s, tokenHeaders(policy)),
    // The single boundary where a thrown SidecarError becomes a response.
    respond,
    // Route, maintenance, authenticate, rate limits: see decisionStages.
    ...decisionStages(policy, s, auth),
    // Right around forward: it sees every upstream outcome, and only traffic that passed auth and
    // limits counts as load on the app.
    breaker(policy, policy.upstream.retry.attempts > 0 ? { ...s.breaker, retry: policy.upstream.retry } : s.breaker),
  ];
  return compose(stages, s.forward);
}

/** Header names the policy's providers read tokens from. */
function tokenHeaders(policy: CompiledPolicy): ReadonlySet<string> {
  return new Set((policy.auth?.providers ?? []).flatMap((p) => p.from.filter((f) => f.kind === 'header').map((f) => f.name)));
}

/**
 * Before any policy exists (its file is not there yet): still measured and logged, every request
 * answered 503 not ready. Nothing is forwarded unprotected.
 */
export function buildWaiting(s: PipelineServices): Handler {
  return compose([telemetry({ successSampleRate: 1, exclude: undefined }, s), respond], () => {
    throw new NotReadyError('no policy loaded yet (the policy file does not exist)');
  });
}
