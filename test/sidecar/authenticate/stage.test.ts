import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, harness, jwks, metricValue, provider, nowSeconds } from './support.js';

void t.test('tokens from each asymmetric family verify against a real JWKS, and the verdict is cached', async (t) => {
  const keys = ['RS256', 'PS256', 'ES256', 'EdDSA'].map((alg) => testKey(alg, `k-${alg}`));
  const idp = await JwksServer.start(keys.map((k) => k.jwk));
  t.teardown(() => idp.stop());
  const clock = new ManualClock(Date.now(), 0);
  const p = provider({ issuer: idp.issuer, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'], jwks: jwks({ uri: idp.jwksUri }) });
  const h = await harness(authPolicy({ providers: [p] }), { clock });
  t.teardown(() => h.close());
  t.equal(idp.fetches, 1, 'one fetch at start');

  for (const k of keys) {
    const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: `user-${k.alg}`, exp: nowSeconds(clock) + 600 });
    const r1 = await h.run({ headers: bearer(token) });
    t.ok(r1.passed, `${k.alg} accepted`);
    t.same(r1.ex.auth && { ...r1.ex.auth, claims: undefined }, {
      provider: 'corp',
      result: 'success',
      subject: `user-${k.alg}`,
      claims: undefined,
      cached: false,
    });
    t.equal(h.seen.at(-1)?.authorization, undefined, 'token stripped before the app');
    const r2 = await h.run({ headers: bearer(token) });
    t.ok(r2.passed);
    t.equal(r2.ex.auth?.cached, true, `${k.alg} second use is a cache hit`);
  }
  t.equal(await metricValue(h.metrics, 'sidegate_token_cache_total', { result: 'hit' }), 4);
  t.equal(await metricValue(h.metrics, 'sidegate_auth_attempts_total', { provider: 'corp', result: 'success', reason: 'ok' }), 8);
  t.equal(await metricValue(h.metrics, 'sidegate_jwks_fetches_total', { provider: 'corp', result: 'success' }), 1);
});

void t.test('no token: 401 with a bare Bearer challenge (RFC 6750 §3.1)', async (t) => {
  const k = testKey('RS256');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })] }));
  t.teardown(() => h.close());
  const r = await h.run({});
  t.equal(r.passed, false);
  t.equal(r.error?.status, 401);
  t.equal(r.error?.reason, 'missing');
  t.equal(r.error?.headers['www-authenticate'], 'Bearer');
  t.same(r.ex.auth, { provider: 'corp', result: 'failure', reason: 'missing' });
  t.equal(h.seen.length, 0, 'the app never saw it');

  const bad = await h.run({ headers: bearer('not-a-jwt') });
  t.equal(bad.error?.reason, 'malformed');
  t.match(bad.error?.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  t.equal(await metricValue(h.metrics, 'sidegate_auth_attempts_total', { provider: 'corp', result: 'failure', reason: 'malformed' }), 1);
});
