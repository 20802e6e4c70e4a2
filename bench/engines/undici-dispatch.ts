import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { badGateway, engineArgs, hasBody, requestHeaders, responseHeaders, serve } from './common.js';

/**
 * Engine: undici `Pool.dispatch()` with a handler object, the low-level API sidegate's HTTP/1.1
 * path used (sidecar/src/upstream/http1.ts) until the llhttp engine, without a pipeline. The gap between
 * this and `engine-llhttp` is what node:http's server and undici cost.
 */
class Handler implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  done = false;
  constructor(private readonly res: ServerResponse) {}
  onRequestStart(c: Dispatcher.DispatchController): void { this.controller = c; }
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.res.writeHead(status, responseHeaders(headers));
  }
  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) { c.pause(); this.res.once('drain', () => c.resume()); }
  }
  onResponseEnd(): void { this.done = true; this.res.end(); }
  onResponseError(_c: Dispatcher.DispatchController, _err: Error): void { this.done = true; badGateway(this.res); }
}

const args = engineArgs(process.argv.slice(2));
const pool = new Pool(args.upstream.origin, { pipelining: 1, keepAliveTimeout: 4_000, connect: { noDelay: true } });

serve(args, (req, res) => {
  const h = new Handler(res);
  res.on('close', () => { if (!h.done) h.controller?.abort(new Error('client closed')); });
  pool.dispatch({
    path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers: requestHeaders(req),
    body: hasBody(req) ? req : null,
  }, h);
});
