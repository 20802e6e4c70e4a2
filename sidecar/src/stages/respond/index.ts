import { asSidecarError } from '../../errors.js';
import type { Exchange } from '../../exchange.js';
import { H } from '../../headers.js';
import type { Handler, Stage } from '../../pipeline/stage.js';

/**
 * The one boundary where a thrown error becomes an HTTP response (linkerd's ServerRescue): JSON
 * body `{ error, message, requestId }`, the error's own headers (WWW-Authenticate, Retry-After,
 * RateLimit...), and the request id. If the app's response had already started, the only honest
 * answer left is to reset it.
 */
export const respond: Stage = (next: Handler): Handler => async (ex: Exchange) => {
  try {
    await next(ex);
  } catch (thrown) {
    const err = asSidecarError(thrown);
    ex.errorCode = err.code;
    ex.error = thrown;
    const sink = ex.sink;
    if (sink.headersSent) { sink.abort(); return; }
    if (sink.closed) return;
    ex.status = err.status;
    const body = err.body(ex.requestId);
    const headers: Record<string, string | number> = {
      [H.contentType]: 'application/json',
      [H.contentLength]: Buffer.byteLength(body),
      [H.requestId]: ex.requestId,
      ...ex.responseHeaders,
      ...err.headers,
    };
    sink.writeHead(err.status, headers);
    sink.end(body);
    // The request body, if any, is not wanted: drop it rather than buffer it.
    if (ex.hasBody && !ex.body.readableEnded) ex.body.resume();
  }
};
