import type { Clock } from '../clock.js';
import type { Exchange } from '../exchange.js';
import type { Handler } from '../pipeline/stage.js';
import type { Metrics } from '../telemetry/metrics.js';
import { tunnel } from '../upstream/tunnel.js';
import type { Upstream } from '../upstream/upstream.js';

/** The innermost handler: relay the exchange to the app (Upgrade requests become a tunnel). */
export function forward(upstream: Upstream, clock: Clock, metrics: Metrics): Handler {
  const u = new URL(upstream.origin);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port);
  return (ex: Exchange) => ex.upgrade === undefined
    ? upstream.forward(ex)
    : tunnel(ex, ex.upgrade, host, port, clock, metrics);
}
