import type { CompiledPolicy, RequestMatcher } from '../../../../policies/src/types.js';
import { clientIp } from '../../client-address.js';
import { BadRequestError } from '../../errors.js';
import type { Exchange } from '../../exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { overrideMethods, rewriteTargets } from '../../protocol/method-override.js';
import { requestTarget } from '../../protocol/target.js';

/**
 * The first stage that reads the request: refuse a request line the front's validator refused
 * (`protocol/target.ts`: the path is already normalised when valid), read the client address once
 * through the policy's trusted hops (bans, limits and the log all use it), then name the route
 * (first match wins) and pick its upstream timeout before anything decides on the request: the
 * name is a bounded metric label and a rate-limit key part.
 */
export function route(policy: CompiledPolicy): Stage {
  const routes = policy.routes;
  const defaultTimeout = policy.upstream.timeoutMs;
  const trustedHops = policy.clientAddress.trustedHops;
  return (next: Handler): Handler => (ex: Exchange) => {
    ex.timeoutMs = defaultTimeout;
    if (ex.invalid !== undefined) throw new BadRequestError(ex.invalid);
    if (ex.paramPath !== undefined && !sameVerdict(policy, ex.method, ex.path, ex.method, ex.paramPath)) {
      throw new BadRequestError('path parameters (;) change which policy rule applies');
    }
    const overrides = overrideMethods(ex.method, ex.headers, ex.target);
    if (overrides !== undefined) {
      for (const m of overrides) {
        if (!sameVerdict(policy, ex.method, ex.path, m, ex.path) || (ex.paramPath !== undefined && !sameVerdict(policy, ex.method, ex.path, m, ex.paramPath))) {
          throw new BadRequestError(`a method override (${m}) changes which policy rule applies`);
        }
      }
    }
    const rewrites = rewriteTargets(ex.headers);
    if (rewrites !== undefined) {
      for (const r of rewrites) {
        // Read as the app would read a request line, with the validator every front uses.
        const t = requestTarget(ex.method, r, false);
        if (!t.ok || t.path === '*') throw new BadRequestError('a URL rewrite header (X-Original-URL, X-Rewrite-URL) names an invalid target');
        if (!sameVerdict(policy, ex.method, ex.path, ex.method, t.path) || (t.paramPath !== undefined && !sameVerdict(policy, ex.method, ex.path, ex.method, t.paramPath))) {
          throw new BadRequestError('a URL rewrite header (X-Original-URL, X-Rewrite-URL) changes which policy rule applies');
        }
      }
    }
    ex.clientAddress = clientIp(ex, trustedHops);
    ex.trustForwarded = trustedHops > 0;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.match.matches(ex.method, ex.path)) {
        ex.routeName = r.name;
        if (r.timeoutMs !== undefined) ex.timeoutMs = r.timeoutMs;
        break;
      }
    }
    return next(ex);
  };
}

/**
 * Two readings of one request must get the same route, auth rule, limits (and limit keys) and
 * maintenance exception, else the request is refused: whichever way the app reads it, it is what
 * the sidecar judged.
 * - Path parameters: rules match the path without its `;parameters` (servlet containers route
 *   so), but most other routers keep them in the segment: `/public;x` is `/public` to Tomcat and
 *   a path of its own to Express.
 * - Method override: the app may act on the method named in `X-HTTP-Method-Override` or
 *   `_method` (`protocol/method-override.ts`) rather than the one sent.
 * - URL rewrite headers: the app may route on `X-Original-URL` or `X-Rewrite-URL`.
 */
function sameVerdict(policy: CompiledPolicy, m1: string, p1: string, m2: string, p2: string): boolean {
  const first = (ms: readonly { readonly match: RequestMatcher }[], m: string, p: string): number => ms.findIndex((r) => r.match.matches(m, p));
  const differ = (ms: readonly { readonly match: RequestMatcher }[]): boolean => first(ms, m1, p1) !== first(ms, m2, p2);
  if (differ(policy.routes) || differ(policy.auth?.rules ?? [])) return false;
  const methodKeyed = m1 !== m2;
  for (const l of policy.rateLimits) {
    const a = l.match.matches(m1, p1);
    if (a !== l.match.matches(m2, p2)) return false;
    // A limit keyed on the method would count the request in another bucket.
    if (a && methodKeyed && l.key.some((k) => k.kind === 'method')) return false;
  }
  return (policy.maintenance?.except ?? []).every((e) => e.matches(m1, p1) === e.matches(m2, p2));
}
