import type { AuthReason } from './reasons.js';

/** A compact JWS split and decoded, signature not yet checked. */
export interface ParsedToken {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly typ: string | undefined;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** `header.payload` as bytes: what the signature covers. */
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

// Three base64url segments, the signature possibly empty. Anything else (padding, '+', '/',
// whitespace, JWE's five segments) is refused before a single byte is decoded.
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Header parameters this implementation understands when listed in `crit` (RFC 7515 §4.1.11):
 * none. `b64: false` (RFC 7797) changes what the signature covers, so it is refused outright.
 */
const UNDERSTOOD_CRIT: ReadonlySet<string> = new Set();

/**
 * Split and decode a compact JWT. The caller has already checked the size. `jku`, `x5u`, `jwk`
 * and `x5c` are never read: keys come only from the provider's own key source.
 */
export function parseCompact(token: string): ParsedToken | AuthReason {
  if (!COMPACT.test(token)) return 'malformed';
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  const headerSeg = token.slice(0, dot1);
  const payloadSeg = token.slice(dot1 + 1, dot2);
  const sigSeg = token.slice(dot2 + 1);
  // A base64url string of length 4n+1 cannot encode whole bytes.
  if (headerSeg.length % 4 === 1 || payloadSeg.length % 4 === 1 || sigSeg.length % 4 === 1) return 'malformed';

  const header = decodeObject(headerSeg);
  if (header === undefined) return 'malformed';
  const alg = header.alg;
  if (typeof alg !== 'string') return 'malformed';
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return 'malformed';
  const typ = header.typ;
  if (typ !== undefined && typeof typ !== 'string') return 'malformed';
  if (header.b64 !== undefined) return 'malformed';
  const crit = header.crit;
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0) return 'malformed';
    for (const name of crit as unknown[]) {
      if (typeof name !== 'string' || !UNDERSTOOD_CRIT.has(name) || !(name in header)) return 'malformed';
    }
  }
  const claims = decodeObject(payloadSeg);
  if (claims === undefined) return 'malformed';

  return {
    alg,
    kid,
    typ,
    header,
    claims,
    signingInput: Buffer.from(token.slice(0, dot2), 'latin1'),
    signature: Buffer.from(sigSeg, 'base64url'),
  };
}

// Any byte ≥ 0x80 in the decoded segment: it is UTF-8 text, not ASCII.
const HIGH_BYTE = /[\u0080-\u00ff]/;

/**
 * base64url → JSON object. `atob` on the (already charset-checked) segment is several times
 * cheaper than a Buffer round trip for header-sized input; UTF-8 is decoded properly when the
 * bytes are not plain ASCII.
 */
function decodeObject(seg: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    const bin = atob(seg.replaceAll('-', '+').replaceAll('_', '/'));
    v = JSON.parse(HIGH_BYTE.test(bin) ? Buffer.from(bin, 'latin1').toString('utf8') : bin);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
