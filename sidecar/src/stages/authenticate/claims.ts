import type { AuthProvider } from '../../../../policies/src/types.js';
import type { AuthReason } from './reasons.js';

/**
 * Registered-claim checks (RFC 7519 §4.1) for one provider. Every check that has a configured
 * value is mandatory: unlike Kong's plugin, `exp` is required unless the provider opts out.
 */
export function checkRegisteredClaims(
  p: AuthProvider,
  audiences: ReadonlySet<string>,
  c: Readonly<Record<string, unknown>>,
  now: number,
): AuthReason | undefined {
  if (c.iss !== p.issuer) return 'issuer';
  const skew = p.clockSkewMs;
  const exp = c.exp;
  if (exp === undefined) {
    if (p.requireExp) return 'malformed';
  } else {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'malformed';
    if (now >= exp * 1000 + skew) return 'expired';
  }
  const nbf = c.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) return 'malformed';
    if (nbf * 1000 > now + skew) return 'not_yet_valid';
  }
  const iat = c.iat;
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'malformed';
    if (iat * 1000 > now + skew) return 'not_yet_valid';
  }
  if (p.maxTokenAgeMs !== undefined) {
    if (typeof iat !== 'number') return 'malformed';
    if (now - iat * 1000 > p.maxTokenAgeMs + skew) return 'expired';
  }
  if (audiences.size > 0 && !audienceMatches(c.aud, audiences)) return 'audience';
  return undefined;
}

function audienceMatches(aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud);
  if (!Array.isArray(aud)) return false;
  for (const a of aud as unknown[]) if (typeof a === 'string' && accepted.has(a)) return true;
  return false;
}

/** RFC 8725 §3.11 / RFC 9068: compare media types case-insensitively, `application/` optional. */
export function normalizeTyp(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice(12) : t;
}

/** A claim path compiled once: the whole name first (names such as `https://x/roles` contain dots), then the dotted path. */
export interface ClaimPath {
  readonly name: string;
  readonly parts: readonly string[];
}

export function claimPath(name: string): ClaimPath {
  return { name, parts: name.split('.') };
}

export function claimValue(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  if (Object.hasOwn(claims, path.name)) return claims[path.name];
  if (path.parts.length === 1) return undefined;
  let v: unknown = claims;
  for (const part of path.parts) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Does the claim value satisfy "one of these"? Arrays match on any element; `scope`/`scp`
 * strings are space-separated lists (RFC 8693 §4.2); numbers and booleans compare as text.
 */
export function valueMatches(v: unknown, anyOf: ReadonlySet<string>, spaceSeparated: boolean): boolean {
  if (typeof v === 'string') {
    if (anyOf.has(v)) return true;
    if (spaceSeparated) for (const w of v.split(' ')) if (w !== '' && anyOf.has(w)) return true;
    return false;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return anyOf.has(String(v));
  if (Array.isArray(v)) {
    for (const e of v as unknown[]) if (valueMatches(e, anyOf, false)) return true;
  }
  return false;
}

/** Text a claim compares as for tenant checks; objects and arrays have none. */
export function scalarText(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

// Control characters other than TAB: CR/LF would split the request (header injection), NUL and
// the rest are refused by HTTP parsers downstream.
function scan(s: string): 'bad' | 'ascii' | 'wide' {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return 'bad';
    if (c > 0x7f) wide = true;
  }
  return wide ? 'wide' : 'ascii';
}

/**
 * A verified claim as a header value: strings as they are, arrays and objects JSON-encoded,
 * non-ASCII sent as raw UTF-8 bytes (what the app's HTTP parser hands back as UTF-8).
 * `undefined` when the value cannot be a header value (CR, LF or other controls).
 */
export function headerValue(v: unknown): string | undefined {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v);
  else return undefined;
  const kind = scan(s);
  if (kind === 'bad') return undefined;
  return kind === 'wide' ? Buffer.from(s, 'utf8').toString('latin1') : s;
}
