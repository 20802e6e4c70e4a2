import { H } from '../../protocol/headers.js';
import type { LimitSpec } from './types.js';

/**
 * Response fields of the IETF httpapi-ratelimit-headers draft (-08 onwards, Structured Fields):
 *
 *   RateLimit-Policy: "per-user";q=100;w=60;sidegate-burst=20, "global";q=1000;w=1
 *   RateLimit: "per-user";r=17;t=4
 *
 * q/w is the sustained quota per window; a burst above it is a vendor parameter (the draft asks
 * for a prefix), so `r` can exceed `q` right after idle time. RateLimit names the one limit with
 * the least remaining (the draft: "the lower remaining"); on a 429 it is the limit that denied, and
 * its `t` equals Retry-After, as the draft asks.
 */
export const RL_HEADERS = {
  policy: H.rateLimitPolicy,
  state: H.rateLimit,
  retryAfter: H.retryAfter,
} as const;

/** The policy item of one limit; computed once per policy version. */
export function policyItem(spec: LimitSpec): string {
  let w = spec.perMs / 1000;
  let q = spec.requests;
  if (!Number.isInteger(w)) {
    // The draft's window is whole seconds: restate e.g. 5 per 500 ms as 10 per 1 s.
    const whole = Math.max(1, Math.ceil(w));
    q = Math.floor((spec.requests * whole * 1000) / spec.perMs);
    w = whole;
  }
  return `${sfString(spec.name)};q=${q};w=${w}${spec.burst > 0 ? `;sidegate-burst=${spec.burst}` : ''}`;
}

/** `quoted` is the limit's name as an sf-string (see `sfString`), computed once per policy version. */
export function stateItem(quoted: string, remaining: number, resetMs: number): string {
  return `${quoted};r=${Math.max(0, Math.floor(remaining))};t=${seconds(resetMs)}`;
}

/** Whole seconds, rounded up: a client that waits this long is never early. */
export function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/** RFC 8941 sf-string: printable ASCII with `"` and `\` escaped. */
export function sfString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Headers of a 429: Retry-After, the policies that applied, and the denying limit's state. */
export function deniedHeaders(policyValue: string, name: string, retryAfterMs: number): Record<string, string> {
  const retry = Math.max(1, seconds(retryAfterMs));
  return {
    [RL_HEADERS.retryAfter]: String(retry),
    [RL_HEADERS.policy]: policyValue,
    [RL_HEADERS.state]: `${sfString(name)};r=0;t=${retry}`,
  };
}
