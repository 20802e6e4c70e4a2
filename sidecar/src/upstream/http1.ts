import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as PoolClass } from 'undici';
import type { Clock } from '../clock.js';
import type { Exchange } from '../exchange.js';
import type { Metrics } from '../telemetry/metrics.js';
import { CLIENT_CLOSED, upstreamError } from './errors.js';
import { requestHeadersForApp, responseHeadersForClient } from './headers.js';
import type { Upstream } from './upstream.js';

/**
 * HTTP/1.1 to the app through an undici Pool (keep-alive, llhttp parser). Chosen by measurement
 * over `http.request` piping and http2-proxy: see docs/benchmarks.md. One handler object per
 * request, methods on the prototype: no per-request closures on the data path.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private done = false;

  constructor(
    private readonly ex: Exchange,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly resolve: () => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.ex.upstreamStart = this.clock.monotonic();
    if (this.ex.sink.closed) controller.abort(new Error('client closed'));
  }

  /** The client went away: cancel the call to the app. */
  clientGone(): void {
    if (!this.done) this.controller?.abort(new Error('client closed'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.ex.status = status;
    this.ex.sink.writeHead(status, responseHeadersForClient(this.ex, headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.ex.sink.write(chunk)) {
      controller.pause();
      this.ex.sink.onDrain(() => controller.resume());
    }
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.finish();
    this.ex.sink.end(undefined, Object.keys(trailers).length > 0 ? trailers : undefined);
    this.resolve();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    this.finish();
    if (this.ex.sink.closed) { if (this.ex.status === 0 || !this.ex.sink.headersSent) this.ex.status = CLIENT_CLOSED; this.resolve(); return; }
    this.reject(upstreamError(err, this.ex.timeoutMs, this.metrics));
  }

  private finish(): void {
    this.done = true;
    this.ex.upstreamMs = this.clock.monotonic() - this.ex.upstreamStart;
  }
}

// Only the Pool: undici's index also loads fetch, WebSocket, caches and more (~8 MB of RSS unused).
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof PoolClass;

export class Http1Upstream implements Upstream {
  private readonly pool: PoolClass;

  constructor(readonly origin: string, private readonly clock: Clock, private readonly metrics: Metrics) {
    this.pool = new Pool(origin, {
      pipelining: 1,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      connect: { noDelay: true },
    });
  }

  forward(ex: Exchange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const handler = new ForwardHandler(ex, this.clock, this.metrics, resolve, reject);
      ex.sink.onClose(() => handler.clientGone());
      this.pool.dispatch({
        path: ex.target,
        method: ex.method,
        headers: requestHeadersForApp(ex, false),
        // undici destroys a stream body once sent; on HTTP/2 that would reset the whole exchange,
        // so an h2 request body goes through a PassThrough that undici may destroy.
        body: ex.hasBody ? (ex.protocol === 'h2' ? ex.body.pipe(new PassThrough()) : ex.body) : null,
        headersTimeout: ex.timeoutMs,
        bodyTimeout: ex.timeoutMs,
      }, handler);
    });
  }

  async close(): Promise<void> { await this.pool.close(); }
}
