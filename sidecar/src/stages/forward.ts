import type { Clock } from '../clock.js';
import type { Exchange } from '../protocol/exchange.js';
import type { Handler } from '../pipeline/stage.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { tunnel } from '../upstream/tunnel.js';
import type { Upstream } from '../upstream/upstream.js';

/**
 * The innermost handler: relay the exchange to the app (Upgrade requests become a tunnel). With
 * tracing on, the call gets a CLIENT span whose `traceparent` the app receives.
 */
export function forward(upstream: Upstream, clock: Clock, metrics: Metrics, tracing?: Tracing): Handler {
  const u = new URL(upstream.origin);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port);
  const relay = (ex: Exchange): Promise<void> => {
    if (ex.upgrade === undefined) return upstream.forward(ex);
    // An h2c app cannot switch an HTTP/1.1 connection: the upgrade is declined (RFC 9110 §7.8) and
    // the request goes to it as an ordinary one.
    if (!upstream.tunnels) {
      ex.upgrade = undefined;
      return upstream.forward(ex);
    }
    return tunnel(ex, ex.upgrade, host, port, clock, metrics);
  };
  if (tracing === undefined) return relay;
  const attrs = { 'server.address': host, 'server.port': port };
  return async (ex: Exchange) => {
    if (ex.span === undefined) {
      await relay(ex);
      return;
    }
    const span = tracing.startClient(ex.span, ex.method, ex.headers, attrs);
    if (span === undefined) {
      await relay(ex);
      return;
    }
    let failed: string | undefined;
    try {
      await relay(ex);
    } catch (err) {
      failed = (err as { code?: string }).code ?? 'error';
      throw err;
    } finally {
      tracing.end(span, failed === undefined ? ex.status : 0, failed, false);
    }
  };
}
