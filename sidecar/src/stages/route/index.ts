import type { CompiledPolicy } from '../../../../policies/src/types.js';
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
    ex.clientAddress = clientIp(ex, trustedHops);
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
