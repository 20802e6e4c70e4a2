import type { CompiledPolicy } from '../../../../policies/src/types.js';
import { BadRequestError } from '../../errors.js';
import type { Exchange } from '../../exchange.js';
import { normalizeTarget } from '../../server/path.js';
import type { Handler, Stage } from '../../pipeline/stage.js';

/**
 * Normalises the path (rules and the app must see the same one), then names the route (first
 * match wins) and picks its upstream timeout before anything decides on the request: the name is
 * a bounded metric label and a rate-limit key part.
 */
export function route(policy: CompiledPolicy): Stage {
  const routes = policy.routes;
  const defaultTimeout = policy.upstream.timeoutMs;
  return (next: Handler): Handler => (ex: Exchange) => {
    ex.timeoutMs = defaultTimeout;
    const n = normalizeTarget(ex.target);
    if (!n.ok) throw new BadRequestError(n.reason);
    ex.path = n.path;
    ex.target = n.target;
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
