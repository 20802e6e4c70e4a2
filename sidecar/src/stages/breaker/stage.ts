import { setTimeout as wait } from 'node:timers/promises';
import type { CompiledPolicy } from '../../../../policies/src/types.js';
import { BreakerOpenError, OverloadedError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { REJECTED } from './circuit-breaker.js';
import { outcomeOfError, outcomeOfStatus, retryable } from './outcome.js';
import type { BreakerRegistry } from './registry.js';

/** Bounded retry of requests the app provably never saw (connection refused). */
export interface RetryOptions {
  /** Extra attempts after the first; 0 turns retries off. */
  readonly attempts: number;
  /** Pause before each retry so a restarting app gets a moment (default 25 ms). */
  readonly backoffMs?: number;
}

export interface BreakerDeps {
  /** Long-lived: created once by the proxy, shared by every policy version. */
  readonly registry: BreakerRegistry;
  /** Bounded label of the app this pipeline forwards to, e.g. the --upstream host:port. */
  readonly upstream: string;
  /** Off unless given (no policy field yet). */
  readonly retry?: RetryOptions;
  /** How a retry waits; tests inject an instant one. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const NO_STATUSES: ReadonlySet<number> = new Set();

/**
 * Protects the app: refuses at once while the breaker is open (503 BREAKER_OPEN with
 * Retry-After) or when `upstream.maxConcurrentRequests` requests are already in flight (503
 * OVERLOADED), and feeds every upstream outcome back to the breaker. Sits right around forward so
 * it sees exactly what the app did, and after auth and rate limits so rejected traffic never
 * counts as load on the app. Building the stage applies the policy to the long-lived guard.
 */
export function breaker(policy: CompiledPolicy, deps: BreakerDeps): Stage {
  const guard = deps.registry.guard(deps.upstream);
  guard.configure(policy.breaker, policy.upstream.maxConcurrentRequests);
  const cb = guard.breaker;
  const failureStatuses = policy.breaker?.failureStatuses ?? NO_STATUSES;
  const retries = deps.retry?.attempts ?? 0;
  const backoffMs = deps.retry?.backoffMs ?? 25;
  const sleep = deps.sleep ?? ((ms: number) => wait(ms));

  /** A ticket for the breaker, or a thrown rejection. Synchronous with `enter()`: the cap is exact. */
  function admit(ex: Exchange): number {
    let ticket = 0;
    if (cb !== undefined) {
      ticket = cb.acquire();
      ex.note('breaker', cb.state);
      if (ticket === REJECTED) {
        guard.rejectedOpen.inc();
        throw new BreakerOpenError(cb.retryAfterMs() / 1000);
      }
    }
    if (guard.inflight >= guard.maxConcurrent) {
      cb?.record(ticket, 'ignored'); // hand back a half-open probe slot
      guard.rejectedOverflow.inc();
      throw new OverloadedError(guard.maxConcurrent);
    }
    return ticket;
  }

  /**
   * A WebSocket tunnel lives for minutes: it is refused unless the breaker is closed (it must not
   * hold a probe slot), and it does not take a request slot under the cap. Only a failure to
   * reach the app counts against it.
   */
  async function tunnel(ex: Exchange, next: Handler): Promise<void> {
    let ticket = 0;
    if (cb !== undefined) {
      ex.note('breaker', cb.state);
      if (cb.state !== 'closed') {
        guard.rejectedOpen.inc();
        throw new BreakerOpenError(cb.retryAfterMs() / 1000);
      }
      ticket = cb.acquire();
    }
    try {
      await next(ex);
    } catch (err) {
      cb?.record(ticket, outcomeOfError(err));
      throw err;
    }
  }

  /**
   * After a failed attempt: feed the breaker, and retry while allowed (the same steps as the first
   * attempt, in a loop), else rethrow the failure.
   */
  async function afterFailure(ex: Exchange, next: Handler, ticket: number, failure: unknown): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      cb?.record(ticket, outcomeOfError(failure));
      if (attempt >= retries || !retryable(failure, ex)) throw failure;
      if (backoffMs > 0) await sleep(backoffMs);
      if (ex.sink.closed) throw failure;
      // If the breaker opened or the cap filled meanwhile, the client learns what actually
      // happened to its request: the app refused it.
      const again = readmit();
      if (again === REJECTED) throw failure;
      ticket = again;
      ex.note('retries', attempt + 1);
      guard.enter();
      try {
        await next(ex);
      } catch (err) {
        failure = err;
        continue;
      } finally {
        guard.leave();
      }
      cb?.record(ticket, outcomeOfStatus(ex.status, failureStatuses));
      return;
    }
  }

  // The first attempt without an async function of its own (its frame and promise are most of
  // what a stage allocates per request); a failure goes on in afterFailure.
  return (next: Handler): Handler =>
    (ex: Exchange) => {
      if (ex.upgrade !== undefined) return tunnel(ex, next);
      let ticket: number;
      try {
        ticket = admit(ex);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      guard.enter();
      let attempt: Promise<void>;
      try {
        attempt = next(ex);
      } catch (err) {
        guard.leave();
        return afterFailure(ex, next, ticket, err);
      }
      return attempt.then(
        () => {
          guard.leave();
          cb?.record(ticket, outcomeOfStatus(ex.status, failureStatuses));
        },
        (err: unknown) => {
          guard.leave();
          return afterFailure(ex, next, ticket, err);
        },
      );
    };

  function readmit(): number {
    const ticket = cb === undefined ? 0 : cb.acquire();
    if (ticket === REJECTED) return REJECTED;
    if (guard.inflight >= guard.maxConcurrent) {
      cb?.record(ticket, 'ignored');
      return REJECTED;
    }
    return ticket;
  }
}
