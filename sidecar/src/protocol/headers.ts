/** Header names sidegate reads or writes, in one place. All lowercase. */
export const H = {
  requestId: 'x-request-id',
  forwardedFor: 'x-forwarded-for',
  forwardedProto: 'x-forwarded-proto',
  forwardedHost: 'x-forwarded-host',
  via: 'via',
  host: 'host',
  authorization: 'authorization',
  cookie: 'cookie',
  setCookie: 'set-cookie',
  contentType: 'content-type',
  contentLength: 'content-length',
  transferEncoding: 'transfer-encoding',
  connection: 'connection',
  upgrade: 'upgrade',
  te: 'te',
  trailer: 'trailer',
  retryAfter: 'retry-after',
  rateLimitPolicy: 'ratelimit-policy',
  rateLimit: 'ratelimit',
  wwwAuthenticate: 'www-authenticate',
  userAgent: 'user-agent',
  grpcStatus: 'grpc-status',
  grpcMessage: 'grpc-message',
} as const;

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones proxies still see). They describe one
 * connection and are never forwarded; names listed in `Connection` are removed too.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * What sidegate adds to every response it sends, the app's or its own: the request id, then the
 * headers stages set on the exchange (RateLimit, RateLimit-Policy), which win over the app's
 * fields of the same name. The one place they are merged.
 */
export function addSidecarHeaders(
  out: Record<string, unknown>,
  ex: { readonly requestId: string; readonly responseHeaders: Readonly<Record<string, string>> | undefined },
): void {
  out[H.requestId] = ex.requestId;
  const extra = ex.responseHeaders;
  if (extra !== undefined) for (const k in extra) out[k] = extra[k];
}

/** The value sidegate adds to `via` (RFC 9110 §7.6.3). */
export const VIA_NAME = 'sidegate';

/**
 * Headers are removed from a request by setting them to `undefined`, never with `delete`: a
 * delete turns the object into a slow dictionary for every later read, and everything that walks
 * headers already skips undefined values (IncomingHttpHeaders allows them).
 *
 * Remove the headers the client listed in `Connection` (RFC 9110 §7.6.1) from a request, in place.
 * Done once when the request arrives, before any stage adds headers: a client must not be able
 * to make the sidecar drop the ones it sets (`Connection: x-user-id`).
 */
export function dropConnectionListed(headers: Record<string, unknown>, connection: string | undefined): void {
  if (connection === undefined) return;
  for (const part of connection.split(',')) {
    const n = part.trim().toLowerCase();
    if (n !== '' && n !== 'close' && n !== 'keep-alive' && n !== 'upgrade' && headers[n] !== undefined) headers[n] = undefined;
  }
}
