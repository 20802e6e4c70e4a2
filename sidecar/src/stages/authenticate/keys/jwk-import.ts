import { KeyObject, createSecretKey } from 'node:crypto';
import { ALGORITHMS, verifyParams, type KeyFamily, type VerifyParams } from '../algorithms.js';

/** One verification key, with prebuilt parameters for every algorithm it may serve. */
export interface VerifyKey {
  readonly kid: string | undefined;
  readonly family: KeyFamily;
  /** alg → parameters. Only algorithms this key's type, curve and size allow. */
  readonly algs: ReadonlyMap<string, VerifyParams>;
}

/** Why a published key was not taken; logged once per key set, never per request. */
export interface RefusedKey {
  readonly kid: string | undefined;
  readonly why: string;
}

export interface ImportedKeys {
  readonly keys: readonly VerifyKey[];
  readonly refused: readonly RefusedKey[];
}

/**
 * Turn JWKs into verification keys. jose parses and imports each JWK (its JWK validation stays
 * in force); the result is converted to a `KeyObject` once so verification can use node:crypto.
 * A key is refused when it is private, not for signatures, too weak for its algorithm (RSA under
 * 2048 bits), on an unsupported curve, or when `allowSecret` is false and it is symmetric: an
 * HMAC secret never comes from a JWKS, which closes the RS256→HS256 confusion at the source.
 */
export async function importJwks(jwks: readonly Readonly<Record<string, unknown>>[], allowSecret: boolean): Promise<ImportedKeys> {
  const keys: VerifyKey[] = [];
  const refused: RefusedKey[] = [];
  for (const jwk of jwks) {
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
    try {
      const k = await importOne(jwk, kid, allowSecret);
      if (typeof k === 'string') refused.push({ kid, why: k });
      else keys.push(k);
    } catch (err) {
      refused.push({ kid, why: `import failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return { keys, refused };
}

async function importOne(
  jwk: Readonly<Record<string, unknown>>,
  kid: string | undefined,
  allowSecret: boolean,
): Promise<VerifyKey | string> {
  const kty = jwk.kty;
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP' && kty !== 'oct') return `unsupported kty ${String(kty)}`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return `use is ${JSON.stringify(jwk.use)}, not sig`;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
    return 'key_ops does not include verify';
  if (kty !== 'oct' && jwk.d !== undefined) return 'private key material published; refusing it';
  if (kty === 'oct' && !allowSecret) return 'symmetric key in a key set; HMAC secrets only come from a secret file or env var';
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') return 'alg is not a string';

  const candidates: string[] = [];
  for (const [alg, spec] of ALGORITHMS) {
    if (spec.family !== kty) continue;
    if (spec.curve !== undefined && spec.curve !== jwk.crv) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    candidates.push(alg);
  }
  if (candidates.length === 0)
    return `no supported algorithm for kty ${kty}${typeof jwk.crv === 'string' ? ` crv ${jwk.crv}` : ''}${typeof jwk.alg === 'string' ? ` alg ${jwk.alg}` : ''}`;

  let keyObject: KeyObject;
  if (kty === 'oct') {
    if (typeof jwk.k !== 'string') return 'oct key without k';
    keyObject = createSecretKey(Buffer.from(jwk.k, 'base64url'));
  } else {
    // jose wants one algorithm to import for.
    const importAlg = candidates[0]!;
    // Loaded on first use: a sidecar without auth providers never pays for jose.
    const { importJWK } = await import('jose');
    const imported = await importJWK({ ...jwk, alg: undefined, key_ops: undefined, ext: true }, importAlg, { extractable: true });
    if (imported instanceof Uint8Array) return 'unexpected secret key';
    keyObject = KeyObject.from(imported);
    if (keyObject.type !== 'public') return 'not a public key';
  }

  const algs = new Map<string, VerifyParams>();
  const why: string[] = [];
  for (const alg of candidates) {
    const spec = ALGORITHMS.get(alg)!;
    if (spec.minModulusBits !== undefined) {
      const bits = keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < spec.minModulusBits) {
        why.push(`${alg} needs an RSA modulus of ${spec.minModulusBits} bits, this key has ${bits}`);
        continue;
      }
    }
    if (spec.minSecretBytes !== undefined && (keyObject.symmetricKeySize ?? 0) < spec.minSecretBytes) {
      why.push(`${alg} needs a secret of at least ${spec.minSecretBytes} bytes`);
      continue;
    }
    algs.set(alg, verifyParams(alg, spec, keyObject));
  }
  if (algs.size === 0) return why.join('; ');
  return { kid, family: kty, algs };
}
