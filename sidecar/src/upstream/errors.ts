import { UpstreamResetError, UpstreamTimeoutError, UpstreamUnavailableError, type SidecarError } from '../errors.js';
import type { Metrics } from '../telemetry/metrics.js';

const REFUSED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'SIDEGATE_UPSTREAM_TIMEOUT']);

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.cause?.code === 'string' && REFUSED.has(e.cause.code)) return e.cause.code;
  return typeof e?.code === 'string' ? e.code : undefined;
}

/** Classify a failed call to the app: refused → 503, timed out → 504, anything else → 502. */
export function upstreamError(err: unknown, timeoutMs: number, metrics: Metrics): SidecarError {
  const code = codeOf(err);
  if (code !== undefined && REFUSED.has(code)) {
    metrics.upstreamErrors.inc({ kind: 'refused' });
    return new UpstreamUnavailableError(err);
  }
  if (code !== undefined && TIMEOUT.has(code)) {
    metrics.upstreamErrors.inc({ kind: 'timeout' });
    return new UpstreamTimeoutError(timeoutMs, err);
  }
  metrics.upstreamErrors.inc({ kind: 'reset' });
  return new UpstreamResetError(err);
}

/** Status recorded when the client went away before the response was complete (nginx's convention). */
export const CLIENT_CLOSED = 499;

/**
 * Interim (1xx) responses the app may send before its final one. They are not relayed, and the
 * timeout does not restart for them; past this many the app is flooding, and the call ends (502).
 */
export const MAX_INTERIM = 32;

/** The error for an app past MAX_INTERIM interim responses. */
export function interimFlood(): Error {
  return Object.assign(new Error(`the app sent more than ${MAX_INTERIM} interim (1xx) responses`), {
    code: 'SIDEGATE_UPSTREAM_PROTOCOL',
  });
}
