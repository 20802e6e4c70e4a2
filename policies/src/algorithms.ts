/**
 * The JWS algorithms a provider may list in `algorithms`, with the kind of key that verifies each:
 * a shared secret (HS*) or a public key. The one list: the policy checks read it, the sidecar's
 * verifier keys its table by it (a missing or extra entry fails the build), and a test holds the
 * schema's enum to it.
 */
export const JWS_ALGORITHMS = {
  RS256: 'asymmetric',
  RS384: 'asymmetric',
  RS512: 'asymmetric',
  PS256: 'asymmetric',
  PS384: 'asymmetric',
  PS512: 'asymmetric',
  ES256: 'asymmetric',
  ES384: 'asymmetric',
  ES512: 'asymmetric',
  EdDSA: 'asymmetric',
  HS256: 'symmetric',
  HS384: 'symmetric',
  HS512: 'symmetric',
} as const satisfies Readonly<Record<string, 'symmetric' | 'asymmetric'>>;

export type JwsAlgorithm = keyof typeof JWS_ALGORITHMS;

/** 'symmetric', 'asymmetric', or undefined for a name that is not a JWS algorithm sidegate knows. */
export function algorithmKind(alg: string): 'symmetric' | 'asymmetric' | undefined {
  return Object.hasOwn(JWS_ALGORITHMS, alg) ? JWS_ALGORITHMS[alg as JwsAlgorithm] : undefined;
}
