import { randomBytes } from 'node:crypto';
import { compactVerify, importJWK, SignJWT } from 'jose';
import t from 'tap';
import { offlineToken } from '../../../sidecar/src/explain/offline.js';
import { mint, testKey } from '../../helpers/jwks.js';

const claims = { iss: 'https://id.example.com', sub: 'u', exp: 2_000_000_000 };

t.test('--offline re-signs the token itself, header and payload unchanged, for every algorithm family', async (t) => {
  const tokens: [string, string][] = [];
  for (const alg of ['RS256', 'PS384', 'ES256', 'ES512', 'EdDSA'])
    tokens.push([alg, await mint(testKey(alg, `kid-${alg}`, alg === 'RS256' ? 3072 : 2048), claims)]);
  tokens.push(['HS256', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).sign(randomBytes(32))]);
  for (const [alg, token] of tokens) {
    const o = offlineToken(token);
    if (o === undefined) {
      t.fail(`${alg}: not re-signed`);
      continue;
    }
    const [h, p] = token.split('.');
    t.equal(o.token.slice(0, o.token.lastIndexOf('.')), `${h}.${p}`, `${alg}: header and payload byte for byte`);
    t.not(o.token, token, `${alg}: a new signature`);
    t.equal(o.token.length, token.length, `${alg}: the same length (maxTokenSize still applies as it would)`);
    const src = o.keySource({} as never);
    const [jwk] = await src.load(new AbortController().signal);
    t.equal(src.secret, alg === 'HS256', `${alg}: a secret source only for HMAC`);
    t.equal(jwk?.kid, `${alg === 'HS256' ? 'hs' : `kid-${alg}`}`, `${alg}: under the token's kid`);
    await t.resolves(compactVerify(o.token, await importJWK(jwk as never, alg)), `${alg}: the made-up key verifies it`);
  }
  t.equal(offlineToken('not.a.jwt!'), undefined, 'malformed: judged as it is');
  t.equal(
    offlineToken(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`),
    undefined,
    'alg none: no key can be made',
  );
});
