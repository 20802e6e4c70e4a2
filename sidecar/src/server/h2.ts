import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Exchange, type ResponseSink } from '../exchange.js';
import { H } from '../headers.js';
import { ErrorCode, Flag } from './h2/frames.js';
import { requestIdFrom } from './request-id.js';
import { checkTarget, type FrontContext } from './front.js';

/** ResponseSink over an HTTP/2 server stream (the stream API, not the compat layer: no per-request listeners). */
class H2Sink implements ResponseSink {
  private trailers: OutgoingHttpHeaders | undefined;
  private ended = false;
  bytesOut = 0;
  constructor(private readonly stream: ServerHttp2Stream) {}
  get headersSent(): boolean { return this.stream.headersSent; }
  get closed(): boolean { return this.ended || this.stream.closed || this.stream.destroyed; }
  /** `trailers`: the response may end with trailers (gRPC), so hold the stream open for them. */
  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false, trailers = false): void {
    headers[':status'] = status;
    if (endStream) { this.ended = true; this.stream.respond(headers, { endStream: true }); return; }
    if (trailers) {
      this.stream.respond(headers, { waitForTrailers: true });
      this.stream.once('wantTrailers', () => {
        if (!this.stream.destroyed) this.stream.sendTrailers(this.trailers ?? {});
      });
    } else {
      this.stream.respond(headers);
    }
  }
  write(chunk: Uint8Array): boolean {
    this.bytesOut += chunk.byteLength;
    return this.stream.write(chunk);
  }
  onDrain(cb: () => void): void { this.stream.once('drain', cb); }
  end(chunk?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void {
    if (this.ended) return;
    this.ended = true;
    if (chunk !== undefined) this.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    this.trailers = trailers;
    if (chunk === undefined) this.stream.end(); else this.stream.end(chunk);
  }
  abort(): void { this.ended = true; if (!this.stream.destroyed) this.stream.close(ErrorCode.InternalError); }
  onClose(cb: () => void): void { this.stream.once('close', cb); }
}

/**
 * Turn one HTTP/2 stream into an Exchange; pseudo-headers become fields, the rest stay headers.
 * Undefined when the header list is larger than `maxHeaderSize` as HTTP/2 counts it (RFC 9113
 * §6.5.2: name + value + 32 per field), measured in the same pass that copies the headers.
 */
export function h2Exchange(stream: ServerHttp2Stream, raw: IncomingHttpHeaders, flags: number, ctx: FrontContext, maxHeaderSize: number): Exchange | undefined {
  const headers: IncomingHttpHeaders = {};
  let size = 0;
  for (const name in raw) {
    const v = raw[name];
    if (v === undefined) continue;
    if (typeof v === 'string') size += name.length + v.length + 32;
    else for (const x of v) size += name.length + x.length + 32;
    if (name.charCodeAt(0) !== 58 /* ':' */) headers[name] = v;
  }
  if (size > maxHeaderSize) return undefined;
  const target = raw[':path'] ?? '/';
  const q = target.indexOf('?');
  const authority = raw[':authority'] ?? headers.host ?? '';
  return checkTarget(new Exchange(
    'h2', raw[':method'] ?? 'GET', target, q < 0 ? target : target.slice(0, q), authority,
    ctx.scheme, headers, stream.session?.socket?.remoteAddress ?? '', stream,
    (flags & Flag.EndStream) === 0, new H2Sink(stream), requestIdFrom(headers[H.requestId]),
    ctx.clock.monotonic(), undefined,
  ), true);
}
