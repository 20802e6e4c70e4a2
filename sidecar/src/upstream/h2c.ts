import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Clock } from '../clock.js';
import type { Exchange } from '../protocol/exchange.js';
import { SidecarError } from '../errors.js';
import { H } from '../protocol/headers.js';
import { nodeHttp2 } from '../node-http2.js';
import { ErrorCode, Flag } from '../protocol/http2/frames.js';
import type { Metrics } from '../telemetry/metrics.js';
import { CLIENT_CLOSED, interimFlood, MAX_INTERIM, upstreamError } from './errors.js';
import { requestHeadersForApp, responseHeadersForClient } from './headers.js';
import type { Upstream } from './upstream.js';

/**
 * h2c (prior knowledge) to the app, gRPC included: one multiplexed session, recreated when it
 * closes. Trailers and grpc-status are relayed; a response that ends in its HEADERS frame
 * (gRPC trailers-only) stays one HEADERS frame.
 */
export class H2cUpstream implements Upstream {
  readonly tunnels = false;
  private session: ClientHttp2Session | undefined;

  constructor(
    readonly origin: string,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {}

  private getSession(): ClientHttp2Session {
    const s = this.session;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const created = nodeHttp2().connect(this.origin, {
      // The 10 MB default lets a few large streams trip ENHANCE_YOUR_CALM.
      maxSessionMemory: 64,
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
    });
    created.on('error', () => undefined); // surfaced on each stream
    created.once('connect', () => created.setLocalWindowSize(8 << 20));
    const drop = (): void => {
      if (this.session === created) this.session = undefined;
    };
    created.once('goaway', drop);
    created.once('close', drop);
    this.session = created;
    return created;
  }

  forward(ex: Exchange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers: Record<string, string | string[]> = requestHeadersForApp(ex, true);
      headers[':method'] = ex.method;
      headers[':path'] = ex.target;
      headers[':authority'] = ex.authority;
      headers[':scheme'] = 'http';
      ex.upstreamStart = this.clock.monotonic();
      let req: ClientHttp2Stream;
      try {
        req = this.getSession().request(headers, { endStream: !ex.hasBody });
      } catch (err) {
        reject(upstreamError(err, ex.timeoutMs, this.metrics));
        return;
      }
      let settled = false;
      let trailers: IncomingHttpHeaders | undefined;
      // First of all: a stream error must never go unhandled (it would end the process).
      req.on('error', (err) => settle(err));
      const settle = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        ex.upstreamMs = this.clock.monotonic() - ex.upstreamStart;
        if (err === undefined) {
          resolve();
          return;
        }
        if (ex.sink.closed) {
          ex.status = ex.sink.headersSent ? ex.status : CLIENT_CLOSED;
          resolve();
          return;
        }
        // The client's own request failed (bad body framing, too slow): that is its answer.
        reject(err instanceof SidecarError ? err : upstreamError(err, ex.timeoutMs, this.metrics));
      };
      if (ex.timeoutMs > 0) {
        req.setTimeout(ex.timeoutMs, () => {
          cancel(req);
          settle(Object.assign(new Error('app timed out'), { code: 'SIDEGATE_UPSTREAM_TIMEOUT' }));
        });
      }
      ex.sink.onClose(() => {
        if (!settled) {
          settled = true;
          ex.status ||= CLIENT_CLOSED;
          cancel(req);
          resolve();
        }
      });
      if (ex.hasBody) {
        const body = ex.body;
        if (body.destroyed) {
          // Failed or cut off before the call began: the app never hears of it.
          cancel(req);
          settle(body.errored ?? Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' }));
          return;
        }
        body.pipe(req);
        // A body that fails (bad framing, too slow, client gone) aborts the stream: the app sees
        // it reset, never a complete request with a cut body, and the client gets the answer.
        body.once('error', (err) => {
          cancel(req);
          settle(err);
        });
        body.once('close', () => {
          if (!body.readableEnded && !settled) {
            cancel(req);
            settle(body.errored ?? Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' }));
          }
        });
      }
      // Interim (1xx) responses are not relayed. Past MAX_INTERIM the app is flooding: the call
      // ends now (502), not at the upstream timeout, as on HTTP/1.1.
      let interim = 0;
      req.on('headers', () => {
        if (++interim > MAX_INTERIM && !settled) {
          cancel(req);
          settle(interimFlood());
        }
      });
      req.on('response', (h: IncomingHttpHeaders, flags: number) => {
        const status = Number(h[':status']);
        ex.status = status;
        const endStream = (flags & Flag.EndStream) !== 0;
        const te = ex.headers[H.te];
        const expectTrailers = ex.protocol === 'h2' && typeof te === 'string' && te.includes('trailers');
        ex.sink.writeHead(status, responseHeadersForClient(ex, h), endStream, !endStream && expectTrailers);
        if (endStream) settle();
      });
      req.on('data', (chunk: Buffer) => {
        if (!ex.sink.write(chunk)) {
          req.pause();
          ex.sink.onDrain(() => req.resume());
        }
      });
      req.on('trailers', (t: IncomingHttpHeaders) => {
        trailers = t;
      });
      req.on('end', () => {
        if (settled) return;
        ex.sink.end(undefined, trailers === undefined ? undefined : responseTrailers(trailers));
        settle();
      });
      req.on('close', () => {
        if (!settled)
          settle(
            Object.assign(new Error(`app closed the stream (code ${req.rstCode ?? ErrorCode.NoError})`), {
              code: 'ERR_HTTP2_STREAM_ERROR',
            }),
          );
      });
    });
  }

  close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    return new Promise((resolve) => {
      if (s === undefined || s.closed) resolve();
      else s.close(() => resolve());
    });
  }
}

/**
 * Cancel a call to the app. node:http2's `close()` ends the request first (END_STREAM, then
 * RST_STREAM): with a body still streaming, the app would see a complete request with a cut
 * body. Until the request is sent whole it is destroyed instead: RST_STREAM alone.
 */
function cancel(req: ClientHttp2Stream): void {
  if (req.writableEnded) req.close(ErrorCode.Cancel);
  else req.destroy(Object.assign(new Error('call to the app cancelled'), { code: 'SIDEGATE_CANCELLED' }));
}

function responseTrailers(t: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in t) {
    const v = t[k];
    if (v !== undefined && k.charCodeAt(0) !== 58) out[k] = v;
  }
  return out;
}
