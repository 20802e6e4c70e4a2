import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { JWS_ALGORITHMS, algorithmKind } from '../../../../policies/src/algorithms.js';
import { ALGORITHMS } from '../../../../sidecar/src/stages/authenticate/algorithms.js';
import { importJwks } from '../../../../sidecar/src/stages/authenticate/keys/jwk-import.js';
import { testKey } from '../../../helpers/jwks.js';

void t.test('each key serves only the algorithms its type, curve and size allow', async (t) => {
  const rsa = testKey('RS256', 'rsa');
  const { alg: _a, ...rsaNoAlg } = rsa.jwk;
  const ec = testKey('ES256', 'ec');
  const ed = testKey('EdDSA', 'ed');
  const { keys, refused } = await importJwks([rsaNoAlg, { ...ec.jwk, alg: undefined }, { ...ed.jwk, alg: undefined }], false);
  t.same(refused, []);
  t.same([...keys[0]!.algs.keys()].sort(), ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'], 'RSA without alg: RS* and PS*');
  t.same([...keys[1]!.algs.keys()], ['ES256'], 'P-256: ES256 only');
  t.same([...keys[2]!.algs.keys()], ['EdDSA'], 'Ed25519: EdDSA');
  const pinned = await importJwks([rsa.jwk], false);
  t.same([...pinned.keys[0]!.algs.keys()], ['RS256'], 'a JWK alg pins the key to it');
});

void t.test('keys that must not be used are refused with a reason', async (t) => {
  const rsa = testKey('RS256', 'rsa');
  const weak = testKey('RS256', 'weak', 1024);
  const ec = testKey('ES256', 'ec');
  const priv = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'priv' };
  const { keys, refused } = await importJwks(
    [
      weak.jwk,
      { ...rsa.jwk, kid: 'enc', use: 'enc' },
      { ...rsa.jwk, kid: 'ops', key_ops: ['encrypt'] },
      { ...ec.jwk, kid: 'ec-as-rs', alg: 'RS256' },
      priv,
      { kty: 'oct', kid: 'hmac', k: Buffer.alloc(64, 1).toString('base64url') },
      { kty: 'EC', kid: 'k1', crv: 'secp256k1', x: 'AA', y: 'AA' },
      { kty: 'XYZ', kid: 'odd' },
    ],
    false,
  );
  t.same(keys, [], 'none taken');
  const why = Object.fromEntries(refused.map((r) => [r.kid, r.why]));
  t.match(why, {
    weak: /2048 bits, this key has 1024/,
    enc: /use is "enc"/,
    ops: /key_ops/,
    'ec-as-rs': /no supported algorithm/,
    priv: /private key/,
    hmac: /HMAC secrets only come from a secret/,
    k1: /no supported algorithm/,
    odd: /unsupported kty/,
  });
});

void t.test("the verifier knows exactly the policy's algorithms, HMAC ones as the symmetric kind", async (t) => {
  t.same([...ALGORITHMS.keys()].sort(), Object.keys(JWS_ALGORITHMS).sort());
  for (const [alg, spec] of ALGORITHMS) t.equal(spec.family === 'oct', algorithmKind(alg) === 'symmetric', alg);
});

void t.test('a JWK pinned to an algorithm no policy can allow is refused, not loaded unusable', async (t) => {
  // RFC 9864's fully-specified "Ed25519" is not (yet) a policy algorithm: such a key could never
  // verify a token, since a token's alg must be in the provider's algorithms.
  const ed = testKey('EdDSA', 'ed');
  const { keys, refused } = await importJwks([{ ...ed.jwk, alg: 'Ed25519' }], false);
  t.same(keys, []);
  t.match(refused, [{ kid: ed.jwk.kid, why: /no supported algorithm for kty OKP crv Ed25519 alg Ed25519/ }]);
});
