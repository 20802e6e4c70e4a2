import { spawnSync } from 'node:child_process';
import t from 'tap';
import { JwksServer, testKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, harness, jwks, provider } from './support.js';

/**
 * Tokens minted by an independent implementation: PyJWT from Debian's python3-jwt. Debian's
 * /usr/bin/python3 is used on purpose (a pyenv python on PATH may not have the package).
 */
const PYTHON = '/usr/bin/python3';
const MINT = `
import json, sys, jwt
req = json.load(sys.stdin)
out = {}
for k in req["keys"]:
    headers = {"kid": k["kid"]} if k.get("kid") else {}
    out[k["name"]] = jwt.encode(req["claims"], k["secret"] if "secret" in k else k["pem"], algorithm=k["alg"], headers=headers)
print(json.dumps({"version": jwt.__version__, "tokens": out}))
`;

function pyjwt(input: unknown): { version: string; tokens: Record<string, string> } {
  const r = spawnSync(PYTHON, ['-c', MINT], { input: JSON.stringify(input), encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`PyJWT is not available (${r.stderr || String(r.error)}): run \`apt-get install -y python3-jwt python3-cryptography\``);
  }
  return JSON.parse(r.stdout) as { version: string; tokens: Record<string, string> };
}

void t.test('tokens minted by PyJWT are accepted', async (t) => {
  const algs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  const keys = algs.map((alg) => testKey(alg, `py-${alg}`));
  const idp = await JwksServer.start(keys.map((k) => k.jwk));
  t.teardown(() => idp.stop());
  const h = await harness(
    authPolicy({
      providers: [
        provider({ issuer: idp.issuer, algorithms: algs, jwks: jwks({ uri: idp.jwksUri }), forwardClaims: { sub: 'x-user-id' } }),
      ],
    }),
  );
  t.teardown(() => h.close());
  const now = Math.floor(h.clock.now() / 1000);
  const out = pyjwt({
    claims: { iss: idp.issuer, aud: ['orders'], sub: 'py-user', iat: now, nbf: now, exp: now + 300, scope: 'a b' },
    keys: keys.map((k) => ({ name: k.alg, alg: k.alg, kid: k.kid, pem: k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() })),
  });
  t.comment(`PyJWT ${out.version}`);
  for (const alg of algs) {
    const token = out.tokens[alg]!;
    const r = await h.run({ headers: bearer(token) });
    t.ok(r.passed, `${alg} from PyJWT accepted (${r.error?.reason ?? 'ok'})`);
    t.equal(h.seen.at(-1)?.['x-user-id'], 'py-user');
    const tampered = token.slice(0, token.lastIndexOf('.')) + '.' + Buffer.from('x'.repeat(64)).toString('base64url');
    t.equal((await h.run({ headers: bearer(tampered) })).passed, false, `${alg}: a forged signature is still refused`);
  }
});

void t.test('HS256 from PyJWT with a shared secret', async (t) => {
  const secret = 'pyjwt-and-sidegate-share-this-32+bytes';
  process.env.SIDEGATE_TEST_PY_SECRET = secret;
  const h = await harness(
    authPolicy({ providers: [provider({ issuer: 'https://hs.py', algorithms: ['HS256'], secret: { env: 'SIDEGATE_TEST_PY_SECRET' } })] }),
  );
  t.teardown(() => h.close());
  const now = Math.floor(h.clock.now() / 1000);
  const out = pyjwt({
    claims: { iss: 'https://hs.py', aud: 'orders', sub: 'x', exp: now + 60 },
    keys: [{ name: 'hs', alg: 'HS256', secret }],
  });
  t.ok((await h.run({ headers: bearer(out.tokens.hs!) })).passed);
});
