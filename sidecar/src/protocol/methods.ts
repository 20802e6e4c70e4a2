/** Methods a client may safely see sent twice (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** What `resendable` looks at; an `Exchange` is one. */
export interface ResendCandidate {
  readonly method: string;
  readonly hasBody: boolean;
  readonly upgrade: unknown;
  readonly sink: { readonly headersSent: boolean; readonly closed: boolean };
}

/**
 * Whether a request may be sent to the app again, once the caller knows the app never acted on
 * the first try: the method is idempotent, there is no body to replay, it is not a protocol
 * switch, nothing of a response has reached the client and the client is still there. Two layers
 * ask it, for different reasons the app cannot have acted: the HTTP/1.1 call when a reused
 * keep-alive connection turns out closed (once, always on), and the breaker stage when the
 * connection was refused (the policy's `upstream.retry`, with backoff, each try a breaker outcome).
 */
export function resendable(req: ResendCandidate): boolean {
  return !req.hasBody && req.upgrade === undefined && IDEMPOTENT_METHODS.has(req.method) && !req.sink.headersSent && !req.sink.closed;
}
