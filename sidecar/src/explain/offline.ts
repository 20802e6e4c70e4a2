import { createHmac, generateKeyPairSync, randomBytes, sign, constants, type KeyObject } from 'node:crypto';
import type { AuthProvider } from '../../../policies/src/types.js';
import { parseCompact } from '../stages/authenticate/jws.js';
import type { Jwk, KeySource } from '../stages/authenticate/index.js';

/**
 * `sidegate explain --offline`: judge a token without its issuer's keys. The signature is the one
 * thing that cannot be checked, so it is replaced: the token's own header and payload (unchanged,
 * byte for byte) are signed again with a key made up for the purpose, of the same algorithm and
 * size, and every provider is given that key under the token's `kid`. Everything else — algorithm
 * allow-list, typ, issuer, audience, expiry, claims, rules, limits — is judged by the sidecar's
 * own code on the real header and claims. The explanation says the signature was not checked.
 */
export interface OfflineToken {
  /** The token to put in the request instead of the original. */
  readonly token: string;
  /** Key source for every provider: the made-up key. */
  readonly keySource: (p: AuthProvider) => KeySource;
}

/** Undefined when the token cannot be re-signed (malformed, or an algorithm with no key): it is then judged as it is. */
export function offlineToken(token: string): OfflineToken | undefined {
  const t = parseCompact(token);
  if (typeof t === 'string') return undefined;
  const made = makeKey(t.alg, t.signature.length);
  if (made === undefined) return undefined;
  const input = token.slice(0, token.lastIndexOf('.'));
  const signature = made.sign(Buffer.from(input, 'ascii'));
  const jwk: Jwk = { ...made.jwk, alg: t.alg, ...(t.kid === undefined ? {} : { kid: t.kid }) };
  const source: KeySource = {
    description: `a key made up by --offline for ${t.alg}`,
    remote: false,
    secret: made.secret,
    load: () => Promise.resolve([jwk]),
  };
  return { token: `${input}.${signature.toString('base64url')}`, keySource: () => source };
}

interface MadeKey {
  readonly jwk: Jwk;
  readonly secret: boolean;
  sign(data: Buffer): Buffer;
}

function asymmetric(pair: { privateKey: KeyObject; publicKey: KeyObject }, signer: (data: Buffer, key: KeyObject) => Buffer): MadeKey {
  return { jwk: pair.publicKey.export({ format: 'jwk' }), secret: false, sign: (d) => signer(d, pair.privateKey) };
}

function makeKey(alg: string, signatureBytes: number): MadeKey | undefined {
  const bits = alg.slice(2);
  const hash = `sha${bits}`;
  if (/^HS(256|384|512)$/.test(alg)) {
    const secret = randomBytes(Number(bits) / 8);
    return { jwk: { kty: 'oct', k: secret.toString('base64url') }, secret: true, sign: (d) => createHmac(hash, secret).update(d).digest() };
  }
  if (/^(RS|PS)(256|384|512)$/.test(alg)) {
    // The same modulus size as the signer's, so the token keeps its length (maxTokenSize).
    const modulusLength = Math.max(2048, signatureBytes * 8);
    const pss = alg.startsWith('PS');
    return asymmetric(generateKeyPairSync('rsa', { modulusLength }), (d, key) =>
      sign(hash, d, pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 } : key),
    );
  }
  const curve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
  if (curve !== undefined)
    return asymmetric(generateKeyPairSync('ec', { namedCurve: curve }), (d, key) => sign(hash, d, { key, dsaEncoding: 'ieee-p1363' }));
  if (alg === 'EdDSA') {
    const pair = signatureBytes === 114 ? generateKeyPairSync('ed448') : generateKeyPairSync('ed25519');
    return asymmetric(pair, (d, key) => sign(null, d, key));
  }
  return undefined;
}
