/**
 * Every error sidegate answers with: one table, one class per code. Stages throw these; the
 * `respond` stage is the only place that turns them into HTTP responses. `docs/errors.md` lists
 * the same rows and `test/sidecar/docs-tables.test.ts` keeps the two in step.
 */
import type { Refusals } from './protocol/front.js';

export interface ErrorSpec {
  readonly status: number;
  /** One sentence for docs/errors.md: what happened and what to do. */
  readonly meaning: string;
}

export const ERROR_TABLE = {
  SIDEGATE_ERR_BAD_REQUEST: {
    status: 400,
    meaning: 'The request could not be parsed (malformed request line, headers or framing). Fix the client.',
  },
  SIDEGATE_ERR_REQUEST_TIMEOUT: {
    status: 408,
    meaning: 'The client did not send the complete request headers or body in time (slow client or slowloris).',
  },
  SIDEGATE_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    meaning: 'The request headers exceed the configured limit (--max-header-size, default 16 KiB).',
  },
  SIDEGATE_ERR_UPSTREAM_UNAVAILABLE: {
    status: 503,
    meaning: 'The app refused the connection (not listening yet, or crashed). Check the app container.',
  },
  SIDEGATE_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    meaning: 'The app did not answer within the upstream timeout (spec.upstream.timeout or the route timeout).',
  },
  SIDEGATE_ERR_UPSTREAM_RESET: {
    status: 502,
    meaning: 'The app reset or closed the connection, or answered with an invalid response, before a complete response was sent.',
  },
  SIDEGATE_ERR_NOT_READY: {
    status: 503,
    meaning:
      'The sidecar has no policy yet (its policy file, e.g. the ConfigMap named by sidegate.dev/policy, does not exist); it reports not ready and refuses requests until the file appears.',
  },
  SIDEGATE_ERR_UNAUTHENTICATED: {
    status: 401,
    meaning:
      'No valid token: missing, malformed, expired, bad signature, wrong issuer or audience, unknown key or revoked (by jti, or issued before an issuer or subject cut-off: sidegate revoke). The `reason` field and WWW-Authenticate say which.',
  },
  SIDEGATE_ERR_FORBIDDEN: {
    status: 403,
    meaning:
      'The token is valid but lacks the claims the matching rule requires (insufficient_scope), or the client IP is banned (sidegate ban; reason banned).',
  },
  SIDEGATE_ERR_CROSS_TENANT: {
    status: 403,
    meaning:
      'The token\'s tenant claim does not match the tenant named by the request; counted in sidegate_security_violations_total{kind="cross_tenant"}.',
  },
  SIDEGATE_ERR_AUTH_UNAVAILABLE: {
    status: 503,
    meaning: 'A check needed Redis (revocation, bans) or keys that could not be had, and the policy says to fail closed.',
  },
  SIDEGATE_ERR_RATE_LIMITED: {
    status: 429,
    meaning: 'A shared rate limit is exhausted for this key. Retry-After and RateLimit say when to try again.',
  },
  SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE: { status: 503, meaning: 'Redis could not decide in time and the limit has onRedisError: deny.' },
  SIDEGATE_ERR_BREAKER_OPEN: {
    status: 503,
    meaning: 'The circuit breaker toward the app is open after repeated failures; Retry-After says when it will probe again.',
  },
  SIDEGATE_ERR_MAINTENANCE: {
    status: 503,
    meaning:
      'The service is in maintenance mode (spec.maintenance of its policy, or the sidegate.dev/maintenance annotation); the message says why, Retry-After when to try again.',
  },
  SIDEGATE_ERR_OVERLOADED: { status: 503, meaning: 'The concurrency cap toward the app (spec.upstream.maxConcurrentRequests) is full.' },
  SIDEGATE_ERR_INTERNAL: { status: 500, meaning: 'A bug in sidegate. The log line carries the stack; please report it.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export type ResponseHeaders = Readonly<Record<string, string>>;

export class SidecarError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: ResponseHeaders;
  constructor(code: ErrorCode, message: string, headers: ResponseHeaders = {}, options?: { cause?: unknown; reason?: string }) {
    // These are answers, not bugs: no stack capture (≈5 µs each), so floods of 401s and 429s stay
    // cheap. A bug keeps its stack in `cause` (InternalError wraps what was thrown).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
    this.code = code;
    this.headers = headers;
    this.status = ERROR_TABLE[code].status;
    this.reason = options?.reason;
  }
  /** A bounded machine-readable detail (e.g. the auth reason `expired`), also sent in the body. */
  readonly reason: string | undefined;
  /** The JSON body sent to the client. Never contains secrets or upstream internals. */
  body(requestId: string): string {
    return JSON.stringify(
      this.reason === undefined
        ? { error: this.code, message: this.message, requestId }
        : { error: this.code, reason: this.reason, message: this.message, requestId },
    );
  }
}

export class BadRequestError extends SidecarError {
  override readonly name = 'BadRequestError';
  constructor(message: string) {
    super('SIDEGATE_ERR_BAD_REQUEST', message);
  }
}
export class RequestTimeoutError extends SidecarError {
  override readonly name = 'RequestTimeoutError';
  constructor(message = 'request not received in time') {
    super('SIDEGATE_ERR_REQUEST_TIMEOUT', message);
  }
}
export class HeadersTooLargeError extends SidecarError {
  override readonly name = 'HeadersTooLargeError';
  constructor(limit: number) {
    super('SIDEGATE_ERR_HEADERS_TOO_LARGE', `request headers exceed ${limit} bytes`);
  }
}
export class UpstreamUnavailableError extends SidecarError {
  override readonly name = 'UpstreamUnavailableError';
  constructor(cause?: unknown) {
    super('SIDEGATE_ERR_UPSTREAM_UNAVAILABLE', 'the app refused the connection', {}, { cause });
  }
}
export class UpstreamTimeoutError extends SidecarError {
  override readonly name = 'UpstreamTimeoutError';
  constructor(ms: number, cause?: unknown) {
    super('SIDEGATE_ERR_UPSTREAM_TIMEOUT', `the app did not answer within ${ms} ms`, {}, { cause });
  }
}
export class UpstreamResetError extends SidecarError {
  override readonly name = 'UpstreamResetError';
  constructor(cause?: unknown) {
    super('SIDEGATE_ERR_UPSTREAM_RESET', 'the app reset the connection before answering', {}, { cause });
  }
}
export class NotReadyError extends SidecarError {
  override readonly name = 'NotReadyError';
  constructor(what: string) {
    super('SIDEGATE_ERR_NOT_READY', `the sidecar is not ready: ${what}`, { 'retry-after': '1' });
  }
}
export class UnauthenticatedError extends SidecarError {
  override readonly name = 'UnauthenticatedError';
  /** `reason` is one of the bounded auth reason codes (missing, expired, bad_signature, ...). */
  constructor(reason: string, message: string, wwwAuthenticate: string) {
    super('SIDEGATE_ERR_UNAUTHENTICATED', message, { 'www-authenticate': wwwAuthenticate }, { reason });
  }
}
export class ForbiddenError extends SidecarError {
  override readonly name = 'ForbiddenError';
  constructor(reason: string, message: string, wwwAuthenticate?: string) {
    super('SIDEGATE_ERR_FORBIDDEN', message, wwwAuthenticate === undefined ? {} : { 'www-authenticate': wwwAuthenticate }, { reason });
  }
}
export class CrossTenantError extends SidecarError {
  override readonly name = 'CrossTenantError';
  constructor() {
    super('SIDEGATE_ERR_CROSS_TENANT', 'the token belongs to another tenant', {}, { reason: 'cross_tenant' });
  }
}
export class AuthUnavailableError extends SidecarError {
  override readonly name = 'AuthUnavailableError';
  constructor(reason: string, message: string) {
    super('SIDEGATE_ERR_AUTH_UNAVAILABLE', message, { 'retry-after': '1' }, { reason });
  }
}
export class RateLimitedError extends SidecarError {
  override readonly name = 'RateLimitedError';
  /** `headers` carries Retry-After and the RateLimit-Policy/RateLimit fields. */
  constructor(limit: string, headers: ResponseHeaders) {
    super('SIDEGATE_ERR_RATE_LIMITED', `rate limit "${limit}" exceeded`, headers, { reason: limit });
  }
}
export class RateLimitUnavailableError extends SidecarError {
  override readonly name = 'RateLimitUnavailableError';
  constructor(limit: string) {
    super(
      'SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE',
      `rate limit "${limit}" cannot be decided (Redis unavailable)`,
      { 'retry-after': '1' },
      { reason: limit },
    );
  }
}
export class BreakerOpenError extends SidecarError {
  override readonly name = 'BreakerOpenError';
  constructor(retryAfterSeconds: number) {
    super('SIDEGATE_ERR_BREAKER_OPEN', 'the circuit breaker toward the app is open', {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    });
  }
}
export class OverloadedError extends SidecarError {
  override readonly name = 'OverloadedError';
  constructor(limit: number) {
    super('SIDEGATE_ERR_OVERLOADED', `more than ${limit} requests in flight to the app`, { 'retry-after': '1' });
  }
}
export class MaintenanceError extends SidecarError {
  override readonly name = 'MaintenanceError';
  constructor(message: string, retryAfterSeconds: number) {
    super('SIDEGATE_ERR_MAINTENANCE', message, { 'retry-after': String(retryAfterSeconds) });
  }
}
export class InternalError extends SidecarError {
  override readonly name = 'InternalError';
  constructor(cause: unknown) {
    super('SIDEGATE_ERR_INTERNAL', 'internal error', {}, { cause });
  }
}

/** Anything thrown that is not a SidecarError is a bug: answer 500 and keep the cause for the log. */
export function asSidecarError(err: unknown): SidecarError {
  return err instanceof SidecarError ? err : new InternalError(err);
}

/** The refusals the protocol engines make (`protocol/front.ts`), as this table words them. */
export const REFUSALS: Refusals = {
  badRequest: (message) => new BadRequestError(message),
  requestTimeout: () => new RequestTimeoutError(),
  headersTooLarge: (limit) => new HeadersTooLargeError(limit),
};
