import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../../helpers/apps.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { writePolicy } from '../../helpers/proxy.js';
import { spawnProxy } from '../../helpers/spawn.js';

/** The built CLI (`sidegate proxy --policy FILE`) with an auth policy, a real JWKS and a real app. */
void t.test('end to end through `sidegate proxy`', async (t) => {
  const k = testKey('ES256', 'e2e');
  const idp = await JwksServer.start([k.jwk]);
  const app = await startHttpApp();
  const file = writePolicy(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: e2e }
spec:
  auth:
    providers:
      - name: corp
        issuer: ${idp.issuer}
        audiences: [orders]
        algorithms: [ES256]
        jwks: { uri: ${idp.jwksUri} }
        forwardClaims: { sub: x-user-id }
    rules:
      - match: { paths: [/public/*] }
        require: none
`);
  const p = await spawnProxy(app.url, ['--policy', file]);
  t.teardown(async () => {
    p.proc.kill('SIGTERM');
    await p.exited;
    await app.close();
    await idp.stop();
  });
  t.ok(idp.fetches >= 1, 'keys fetched before the proxy reported ready');

  const missing = await request(`${p.url}/api/orders`);
  t.equal(missing.statusCode, 401);
  t.equal(missing.headers['www-authenticate'], 'Bearer');
  t.match(await missing.body.json(), { error: 'SIDEGATE_ERR_UNAUTHENTICATED', reason: 'missing' });

  const bad = await request(`${p.url}/api/orders`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } });
  t.equal(bad.statusCode, 401);
  t.match(bad.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  t.match(await bad.body.json(), { reason: 'issuer' });

  const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
  const hitsBefore = app.hits.count;
  const ok = await request(`${p.url}/api/orders`, { headers: { authorization: `Bearer ${token}`, 'x-user-id': 'root' } });
  t.equal(ok.statusCode, 200);
  const seen = (await ok.body.json()) as Seen;
  t.equal(seen.headers['x-user-id'], 'alice', 'verified claim forwarded, spoofed copy gone');
  t.equal(seen.headers.authorization, undefined, 'token stripped');
  t.equal(app.hits.count, hitsBefore + 1);

  const pub = await request(`${p.url}/public/x`);
  t.equal(pub.statusCode, 200);
  await pub.body.dump();

  const metrics = await request(`${p.adminUrl}/metrics`);
  const text = await metrics.body.text();
  t.match(text, /sidegate_auth_attempts_total\{provider="corp",result="success",reason="ok"\} 1/);
  t.match(text, /sidegate_auth_attempts_total\{provider="corp",result="failure",reason="missing"\} 1/);
  t.match(text, /sidegate_jwks_fetches_total\{provider="corp",result="success"\} 1/);
});
