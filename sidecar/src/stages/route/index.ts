import type { CompiledPolicy } from '../../../../policies/src/types.js';
import type { Exchange } from '../../exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';

/**
 * Names the route (first match wins) and picks its upstream timeout before anything decides on
 * the request: the name is a bounded metric label and a rate-limit key part.
 */
export function route(policy: CompiledPolicy): Stage {
  const routes = policy.routes;
  const defaultTimeout = policy.upstream.timeoutMs;
  return (next: Handler): Handler => (ex: Exchange) => {
    ex.timeoutMs = defaultTimeout;
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
