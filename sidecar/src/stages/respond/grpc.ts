import type { Exchange } from '../../protocol/exchange.js';

/**
 * gRPC callers cannot read a JSON error body: they read `grpc-status` and `grpc-message`. A bare
 * HTTP error status makes a gRPC client invent a status from it (gRPC's HTTP-to-gRPC mapping,
 * doc/http-grpc-status-mapping.md) and lose the message, the error code and Retry-After. So a
 * gRPC call refused by sidegate gets a trailers-only answer instead, with the status that mapping
 * gives (codes do not change for clients that relied on it) and the message.
 */

/** HTTP/2 and `content-type: application/grpc`, `application/grpc+proto`, ... (not grpc-web). */
export function isGrpc(ex: Exchange): boolean {
  if (ex.protocol !== 'h2') return false;
  const ct = ex.headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc') && (ct.length === 16 || ct[16] === '+' || ct[16] === ';');
}

/** The gRPC status a client would infer from an HTTP status (gRPC's mapping table). */
export function grpcStatusFor(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"): every byte outside
 * printable ASCII, and `%` itself, as %XX.
 */
export function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
