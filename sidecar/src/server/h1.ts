import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Exchange, type ResponseSink } from '../exchange.js';
import { dropConnectionListed, H } from '../headers.js';
import { requestIdFrom } from './request-id.js';
import type { FrontContext } from './front.js';

/** ResponseSink over a Node HTTP/1.1 ServerResponse. */
class H1Sink implements ResponseSink {
  private ended = false;
  bytesOut = 0;
  constructor(private readonly res: ServerResponse) {}
  get headersSent(): boolean { return this.res.headersSent; }
  get closed(): boolean { return this.ended || this.res.destroyed; }
  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false): void {
    this.res.writeHead(status, headers);
    if (endStream) this.end();
  }
  write(chunk: Uint8Array): boolean {
    this.bytesOut += chunk.byteLength;
    return this.res.write(chunk);
  }
  onDrain(cb: () => void): void { this.res.once('drain', cb); }
  end(chunk?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void {
    if (this.ended) return;
    this.ended = true;
    if (chunk !== undefined) this.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (trailers !== undefined && this.res.chunkedEncoding) this.res.addTrailers(trailers);
    this.res.end(chunk);
  }
  abort(): void { this.ended = true; this.res.destroy(); }
  onClose(cb: () => void): void { this.res.once('close', cb); }
}

/** Turn one parsed HTTP/1.1 request into an Exchange. */
export function h1Exchange(req: IncomingMessage, res: ServerResponse, ctx: FrontContext): Exchange {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const headers = req.headers;
  dropConnectionListed(headers, headers[H.connection]);
  const hasBody = headers[H.transferEncoding] !== undefined
    || (headers[H.contentLength] !== undefined && headers[H.contentLength] !== '0');
  if (ctx.draining()) res.shouldKeepAlive = false; // ask keep-alive clients to reconnect elsewhere
  return new Exchange(
    'http/1.1', req.method ?? 'GET', target, q < 0 ? target : target.slice(0, q), headers.host ?? '',
    ctx.scheme, headers, req.socket.remoteAddress ?? '', req, hasBody, new H1Sink(res),
    requestIdFrom(headers[H.requestId]), ctx.clock.monotonic(), undefined,
  );
}
