import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { Exchange, type ResponseSink } from '../exchange.js';
import { dropConnectionListed, H } from '../headers.js';
import { requestIdFrom } from './request-id.js';
import type { FrontContext } from './front.js';
import { EMPTY_BODY } from './h1/body.js';

/**
 * ResponseSink over the raw socket of an Upgrade request. Only used when sidegate itself answers
 * (a rejection before the tunnel opens); once tunnelled, bytes flow untouched.
 */
class RawSink implements ResponseSink {
  private sent = false;
  private ended = false;
  readonly bytesOut = 0;
  constructor(private readonly socket: Duplex) {}
  get headersSent(): boolean { return this.sent; }
  get closed(): boolean { return this.ended || this.socket.destroyed; }
  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false): void {
    this.sent = true;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [String(v)]) head += `${k}: ${one}\r\n`;
    }
    this.socket.write(`${head}connection: close\r\n\r\n`);
    if (endStream) this.end();
  }
  write(chunk: Uint8Array): boolean { return this.socket.write(chunk); }
  onDrain(cb: () => void): void { this.socket.once('drain', cb); }
  end(chunk?: Uint8Array | string): void {
    if (this.ended) return;
    this.ended = true;
    if (chunk === undefined) this.socket.end(); else this.socket.end(chunk);
  }
  abort(): void { this.ended = true; this.socket.destroy(); }
  onClose(cb: () => void): void { this.socket.once('close', cb); }
}

/** An Exchange for an HTTP/1.1 Upgrade (WebSocket): runs the same pipeline, then tunnels. */
export function upgradeExchange(
  method: string, target: string, headers: IncomingHttpHeaders, socket: Duplex, head: Buffer, remoteAddress: string, ctx: FrontContext,
): Exchange {
  const q = target.indexOf('?');
  dropConnectionListed(headers, headers[H.connection]);
  return new Exchange(
    'http/1.1', method, target, q < 0 ? target : target.slice(0, q), headers.host ?? '',
    ctx.scheme, headers, remoteAddress, EMPTY_BODY, false, new RawSink(socket),
    requestIdFrom(headers[H.requestId]), ctx.clock.monotonic(), { socket, head },
  );
}
