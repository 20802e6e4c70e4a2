import type { TokenFacts } from '../../revocation/list.js';
import type { AuthProvider } from '../../../../policies/src/types.js';
import type { AuthOutcome } from '../../protocol/exchange.js';
import { verifySignature } from './algorithms.js';
import { checkRegisteredClaims, claimPath, claimValue, headerValue, normalizeTyp, type ClaimPath } from './claims.js';
import type { ParsedToken } from './jws.js';
import type { ProviderKeys } from './keys/provider-keys.js';
import type { AuthReason } from './reasons.js';

/** Tokens without `exp` (allowed only when a provider opts out of requiring it) are cached this long. */
const NO_EXP_CACHE_MS = 60_000;
/** Without a `kid`, try at most this many keys: a token naming no key must not cost N verifications. */
const MAX_KEYS_WITHOUT_KID = 3;

/** A provider compiled for the request path. */
export class ProviderRuntime {
  readonly algs: ReadonlySet<string>;
  readonly audiences: ReadonlySet<string>;
  readonly typ: string | undefined;
  readonly forward: readonly { readonly path: ClaimPath; readonly header: string }[];
  /** `sidegate_auth_attempts_total{provider,result="success",reason="ok"}`, bound once: the hot path's counter. */
  readonly okCounter: { inc(): void };
  constructor(
    readonly cfg: AuthProvider,
    readonly keys: ProviderKeys,
    okCounter: { inc(): void },
  ) {
    this.okCounter = okCounter;
    this.algs = new Set(cfg.algorithms);
    this.audiences = new Set(cfg.audiences);
    this.typ = cfg.typ === undefined ? undefined : normalizeTyp(cfg.typ);
    this.forward = Object.entries(cfg.forwardClaims).map(([claim, header]) => ({ path: claimPath(claim), header: header.toLowerCase() }));
  }
}

/** A verified token: what the cache keeps and every later check reads. */
export interface Verified {
  /** Wall-clock ms after which this verdict must not be reused: never later than `exp`. */
  readonly expiresAt: number;
  readonly provider: ProviderRuntime;
  /** The provider's key generation at verification; a key change forces re-verification. */
  readonly generation: number;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly jti: string | undefined;
  /** What revocation checks read: jti, issuer, subject, iat. */
  readonly facts: TokenFacts;
  /** Header name, value, name, value, ... for the app, computed once. */
  readonly forward: readonly string[];
  readonly outcome: AuthOutcome;
  readonly cachedOutcome: AuthOutcome;
}

/** The sentinel for "kid not in the key set": the caller may refetch and try again. */
export const UNKNOWN_KID = 'unknown_kid' as const;

/**
 * Verify a parsed token against one provider, synchronously. Returns the verdict or a reason.
 * Order: cheap header checks, key lookup, signature, then claims, so that no claim-based reason
 * is ever given for a token whose signature was not checked.
 */
export function verifyWith(rt: ProviderRuntime, token: string, t: ParsedToken, now: number, mono: number): Verified | AuthReason {
  const cfg = rt.cfg;
  if (token.length > cfg.maxTokenBytes) return 'oversize';
  if (!rt.algs.has(t.alg)) return 'alg_not_allowed';
  if (rt.typ !== undefined && (t.typ === undefined || normalizeTyp(t.typ) !== rt.typ)) return 'typ';
  const keys = rt.keys;
  keys.maybeRefresh(mono);
  if (!keys.hasKeys() || !keys.usable(mono)) return 'keys_unavailable';
  const candidates = keys.candidates(t.kid);
  if (candidates === undefined) return UNKNOWN_KID;

  let compatible = 0;
  let ok = false;
  for (const key of candidates) {
    const params = key.algs.get(t.alg);
    if (params === undefined) continue;
    if (++compatible > MAX_KEYS_WITHOUT_KID && t.kid === undefined) break;
    if (verifySignature(params, t.signingInput, t.signature)) {
      ok = true;
      break;
    }
  }
  if (!ok) {
    if (compatible > 0) return 'bad_signature';
    // The kid exists but its key cannot do this algorithm (e.g. ES256 on an RSA key's kid).
    return t.kid === undefined ? UNKNOWN_KID : 'alg_not_allowed';
  }

  const claims = t.claims;
  const bad = checkRegisteredClaims(cfg, rt.audiences, claims, now);
  if (bad !== undefined) return bad;

  const forward: string[] = [];
  for (const f of rt.forward) {
    const v = claimValue(claims, f.path);
    if (v === undefined || v === null) continue;
    const hv = headerValue(v);
    if (hv === undefined) return 'claims';
    forward.push(f.header, hv);
  }

  let expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : now + NO_EXP_CACHE_MS;
  if (cfg.maxTokenAgeMs !== undefined && typeof claims.iat === 'number')
    expiresAt = Math.min(expiresAt, claims.iat * 1000 + cfg.maxTokenAgeMs);
  const subject = typeof claims.sub === 'string' ? claims.sub : undefined;
  const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
  return {
    expiresAt,
    provider: rt,
    generation: keys.generation,
    claims,
    jti,
    forward,
    facts: {
      jti,
      iss: typeof claims.iss === 'string' ? claims.iss : cfg.issuer,
      sub: subject,
      iat: typeof claims.iat === 'number' && Number.isFinite(claims.iat) ? claims.iat : undefined,
    },
    outcome: Object.freeze({ provider: cfg.name, result: 'success', subject, claims, cached: false }),
    cachedOutcome: Object.freeze({ provider: cfg.name, result: 'success', subject, claims, cached: true }),
  };
}
