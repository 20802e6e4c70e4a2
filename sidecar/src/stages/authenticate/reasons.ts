/**
 * The bounded set of reasons an authentication attempt can fail with. They appear in the log
 * line, in `sidegate_auth_attempts_total{reason}` and in the error body, so they never carry
 * request data. The first thirteen are the token reasons operators alert on; the last four name
 * the non-token outcomes (tenant mismatch, banned client, Redis or keys unavailable);
 * `revocation_unchecked` is the reason on a *success* admitted while Redis could not answer.
 */
export type AuthReason =
  | 'missing'
  | 'malformed'
  | 'oversize'
  | 'alg_not_allowed'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'typ'
  | 'unknown_kid'
  | 'revoked'
  | 'claims'
  | 'cross_tenant'
  | 'banned'
  | 'revocation_unavailable'
  | 'revocation_unchecked'
  | 'keys_unavailable';

export const AUTH_REASONS: readonly AuthReason[] = [
  'missing',
  'malformed',
  'oversize',
  'alg_not_allowed',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'issuer',
  'audience',
  'typ',
  'unknown_kid',
  'revoked',
  'claims',
  'cross_tenant',
  'banned',
  'revocation_unavailable',
  'revocation_unchecked',
  'keys_unavailable',
];

/** One sentence per reason for the error body: what was wrong, never what the token contained. */
export const REASON_MESSAGES: Readonly<Record<AuthReason, string>> = {
  missing: 'no token in the request',
  malformed: 'the token is not a well-formed JWS compact JWT',
  oversize: 'the token exceeds the maximum size',
  alg_not_allowed: 'the token algorithm is not allowed for this provider or key',
  bad_signature: 'the token signature does not verify',
  expired: 'the token has expired',
  not_yet_valid: 'the token is not valid yet (nbf or iat in the future)',
  issuer: 'the token issuer is not accepted here',
  audience: 'the token audience is not accepted here',
  typ: 'the token type (typ header) is not accepted',
  unknown_kid: 'no usable key with the token key id',
  revoked: 'the token has been revoked',
  claims: 'the token lacks the claims this route requires',
  cross_tenant: 'the token belongs to another tenant',
  banned: 'the client address is banned',
  revocation_unavailable: 'the revocation list cannot be checked',
  revocation_unchecked: 'admitted without a revocation check (Redis unavailable, onRedisError: allow)',
  keys_unavailable: 'no current signing keys for this provider',
};
