import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { JwsAlgorithm } from '../../../../policies/src/algorithms.js';

/**
 * JWS algorithms sidegate verifies, and which key may serve each. Signatures are checked with
 * `node:crypto` on prebuilt `KeyObject`s: the same primitives jose uses, without its WebCrypto
 * detour (RS256 ≈ 26 µs instead of ≈ 89 µs per token here). The key-type checks that jose does
 * on every call are done once, when a key is imported (keys/jwk-import.ts): a key only ever
 * carries parameters for the algorithms its type and size allow.
 */

export type KeyFamily = 'RSA' | 'EC' | 'OKP' | 'oct';

export interface AlgSpec {
  readonly family: KeyFamily;
  /** Digest for crypto.verify / createHmac; null for EdDSA. */
  readonly hash: string | null;
  readonly pss: boolean;
  /** EC: the curve the key must be on, and the exact raw (r‖s) signature length. */
  readonly curve?: string;
  readonly sigBytes?: number;
  /** HMAC: minimum secret length (RFC 7518 §3.2: at least the hash size). */
  readonly minSecretBytes?: number;
  /** RSA: minimum modulus (RFC 7518 §3.3). */
  readonly minModulusBits?: number;
}

/** Keyed by the policy's list of algorithms: an algorithm added there without a spec here fails the build. */
const SPECS: Readonly<Record<JwsAlgorithm, AlgSpec>> = {
  RS256: { family: 'RSA', hash: 'sha256', pss: false, minModulusBits: 2048 },
  RS384: { family: 'RSA', hash: 'sha384', pss: false, minModulusBits: 2048 },
  RS512: { family: 'RSA', hash: 'sha512', pss: false, minModulusBits: 2048 },
  PS256: { family: 'RSA', hash: 'sha256', pss: true, minModulusBits: 2048 },
  PS384: { family: 'RSA', hash: 'sha384', pss: true, minModulusBits: 2048 },
  PS512: { family: 'RSA', hash: 'sha512', pss: true, minModulusBits: 2048 },
  ES256: { family: 'EC', hash: 'sha256', pss: false, curve: 'P-256', sigBytes: 64 },
  ES384: { family: 'EC', hash: 'sha384', pss: false, curve: 'P-384', sigBytes: 96 },
  ES512: { family: 'EC', hash: 'sha512', pss: false, curve: 'P-521', sigBytes: 132 },
  EdDSA: { family: 'OKP', hash: null, pss: false, curve: 'Ed25519' },
  HS256: { family: 'oct', hash: 'sha256', pss: false, minSecretBytes: 32 },
  HS384: { family: 'oct', hash: 'sha384', pss: false, minSecretBytes: 48 },
  HS512: { family: 'oct', hash: 'sha512', pss: false, minSecretBytes: 64 },
};

export const ALGORITHMS: ReadonlyMap<string, AlgSpec> = new Map<string, AlgSpec>(Object.entries(SPECS));

export function isSymmetric(alg: string): boolean {
  return ALGORITHMS.get(alg)?.family === 'oct';
}

/**
 * What `verifySignature` needs for one (key, algorithm) pair, prebuilt at import so the hot path
 * allocates no option objects.
 */
export interface VerifyParams {
  readonly alg: string;
  readonly spec: AlgSpec;
  /** The key, or the key with its padding / encoding options, exactly as crypto.verify wants it. */
  readonly key:
    KeyObject | { readonly key: KeyObject; readonly padding?: number; readonly saltLength?: number; readonly dsaEncoding?: 'ieee-p1363' };
  /** HMAC keys only. */
  readonly secret: KeyObject | undefined;
}

export function verifyParams(alg: string, spec: AlgSpec, key: KeyObject): VerifyParams {
  switch (spec.family) {
    case 'RSA':
      // RFC 7518 §3.5: PSS salt length equals the hash output size.
      return {
        alg,
        spec,
        secret: undefined,
        key: spec.pss
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashBytes(spec.hash) }
          : { key, padding: constants.RSA_PKCS1_PADDING },
      };
    case 'EC':
      // JWS carries r‖s (IEEE P1363), not DER.
      return { alg, spec, secret: undefined, key: { key, dsaEncoding: 'ieee-p1363' } };
    case 'OKP':
      return { alg, spec, secret: undefined, key };
    case 'oct':
      return { alg, spec, secret: key, key };
  }
}

/** Synchronous on purpose: the thread pool round trip costs more than an RS256 verify on 2 cores. */
export function verifySignature(p: VerifyParams, data: Buffer, sig: Buffer): boolean {
  const spec = p.spec;
  if (spec.sigBytes !== undefined && sig.length !== spec.sigBytes) return false;
  if (p.secret !== undefined) {
    const mac = createHmac(spec.hash!, p.secret).update(data).digest();
    return mac.length === sig.length && timingSafeEqual(mac, sig);
  }
  try {
    return verify(spec.hash, data, p.key, sig);
  } catch {
    // OpenSSL refuses some malformed signatures (wrong length for the modulus) by throwing.
    return false;
  }
}

function hashBytes(hash: string | null): number {
  return hash === 'sha512' ? 64 : hash === 'sha384' ? 48 : 32;
}
