import { asSidecarError, type SidecarError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import { addSidecarHeaders, H } from '../../protocol/headers.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { grpcMessage, grpcStatusFor, isGrpc } from './grpc.js';

/**
 * The one boundary where a thrown error becomes an HTTP response (linkerd's ServerRescue): JSON
 * body `{ error, message, requestId }`, the error's own headers (WWW-Authenticate, Retry-After,
 * RateLimit...), and the request id; for a gRPC call, the same as grpc-status and grpc-message
 * (grpc.ts). If the app's response had already started, the only honest answer left is to reset it.
 */
export const respond: Stage =
  (next: Handler): Handler =>
  (ex: Exchange) => {
    // No async function: its frame and promise were most of what this stage allocated per request.
    let done: Promise<void>;
    try {
      done = next(ex);
    } catch (thrown) {
      try {
        answer(ex, thrown);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return Promise.resolve();
    }
    return done.then(undefined, (thrown: unknown) => answer(ex, thrown));
  };

function answer(ex: Exchange, thrown: unknown): void {
  const err = asSidecarError(thrown);
  ex.errorCode = err.code;
  ex.error = thrown;
  const sink = ex.sink;
  if (sink.headersSent) {
    sink.abort();
    return;
  }
  if (sink.closed) return;
  // The status sidegate decided: what metrics and the access log record, whatever the wire says.
  ex.status = err.status;
  if (isGrpc(ex)) answerGrpc(ex, err);
  else answerJson(ex, err);
  // The request body, if any, is not wanted: drop it rather than buffer it.
  if (ex.hasBody && !ex.body.readableEnded) ex.body.resume();
}

function answerJson(ex: Exchange, err: SidecarError): void {
  const body = err.body(ex.requestId);
  ex.sink.writeHead(
    err.status,
    withErrorHeaders(ex, err, {
      [H.contentType]: 'application/json',
      [H.contentLength]: Buffer.byteLength(body),
    }),
  );
  ex.sink.end(body);
}

/** Trailers-only (one HEADERS frame that ends the stream), as gRPC servers answer a failed call. */
function answerGrpc(ex: Exchange, err: SidecarError): void {
  ex.sink.writeHead(
    200,
    withErrorHeaders(ex, err, {
      [H.contentType]: 'application/grpc',
      [H.grpcStatus]: String(grpcStatusFor(err.status)),
      [H.grpcMessage]: grpcMessage(`${err.code}: ${err.message}`),
    }),
    true,
  );
}

/** The request id and stage headers, as on every response, then the error's own (a 429's RateLimit wins). */
function withErrorHeaders(ex: Exchange, err: SidecarError, out: Record<string, string | number>): Record<string, string | number> {
  addSidecarHeaders(out, ex);
  Object.assign(out, err.headers);
  return out;
}
