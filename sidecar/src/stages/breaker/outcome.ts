import { UpstreamResetError, UpstreamTimeoutError, UpstreamUnavailableError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import { resendable } from '../../protocol/methods.js';
import { CLIENT_CLOSED } from '../../upstream/errors.js';
import type { Outcome } from './circuit-breaker.js';

/**
 * What a relayed response says about the app's health. 499 (the client went away) says nothing:
 * counting it would let impatient clients open the breaker on a healthy app.
 */
export function outcomeOfStatus(status: number, failureStatuses: ReadonlySet<number>): Outcome {
  if (status === CLIENT_CLOSED || status === 0) return 'ignored';
  return failureStatuses.has(status) ? 'failure' : 'success';
}

/**
 * What a failed forward says: refused, timed out and reset connections are the app's failures;
 * anything else (a bug of ours) is not evidence against the app.
 */
export function outcomeOfError(err: unknown): Outcome {
  return err instanceof UpstreamUnavailableError || err instanceof UpstreamTimeoutError || err instanceof UpstreamResetError
    ? 'failure'
    : 'ignored';
}

/**
 * A failed attempt may be sent again only when the app provably saw nothing of it (the
 * connection was refused) and the request is `resendable` (idempotent, no body, nothing answered).
 */
export function retryable(err: unknown, ex: Exchange): boolean {
  return err instanceof UpstreamUnavailableError && resendable(ex);
}
