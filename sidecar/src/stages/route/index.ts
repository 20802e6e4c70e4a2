import type { CompiledPolicy, RequestMatcher } from '../../../../policies/src/types.js';
import { clientIp } from '../../client-address.js';
import { BadRequestError } from '../../errors.js';
import type { Exchange } from '../../exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';

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
    if (ex.paramPath !== undefined && !sameVerdict(policy, ex.method, ex.path, ex.paramPath)) {
      throw new BadRequestError('path parameters (;) change which policy rule applies');
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
 * Rules match the path without its `;parameters` (servlet containers route so), but most other
 * routers keep them in the segment: `/public;x` is `/public` to Tomcat and a path of its own to
 * Express. Either reading must get the same route, auth rule and limits, else the request is
 * refused: whichever way the app routes it, it is what the sidecar judged.
 */
function sameVerdict(policy: CompiledPolicy, method: string, a: string, b: string): boolean {
  const first = (ms: readonly { readonly match: RequestMatcher }[], p: string): number => ms.findIndex((m) => m.match.matches(method, p));
  if (first(policy.routes, a) !== first(policy.routes, b)) return false;
  const rules = policy.auth?.rules ?? [];
  if (first(rules, a) !== first(rules, b)) return false;
  return policy.rateLimits.every((l) => l.match.matches(method, a) === l.match.matches(method, b));
}
