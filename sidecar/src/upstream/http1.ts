import type { Clock } from '../clock.js';
import type { Exchange } from '../protocol/exchange.js';
import type { Metrics } from '../telemetry/metrics.js';
import { UpstreamCall, type CallDeps } from './http1/call.js';
import { ConnPool } from './http1/pool.js';
import type { Upstream } from './upstream.js';

/**
 * HTTP/1.1 to the app: keep-alive connections whose responses llhttp parses straight from the
 * socket (`http1/conn.ts`), one call per request (`http1/call.ts`). Chosen by measurement over
 * undici's Pool, `http.request` piping and http2-proxy: docs/benchmarks.md, "HTTP/1.1 engine".
 */
export class Http1Upstream implements Upstream {
  readonly tunnels = true;
  private readonly deps: CallDeps;
  private readonly pool: ConnPool;

  constructor(
    readonly origin: string,
    clock: Clock,
    metrics: Metrics,
  ) {
    const u = new URL(origin);
    this.pool = new ConnPool({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) }, clock);
    this.deps = { pool: this.pool, clock, metrics };
  }

  forward(ex: Exchange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      new UpstreamCall(ex, this.deps, resolve, reject).start();
    });
  }

  close(): Promise<void> {
    this.pool.close();
    return Promise.resolve();
  }
}
