import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { TokenCache } from '../../../sidecar/src/stages/authenticate/cache.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, harness, jwks, metricValue, provider } from './support.js';

void t.test('a cached verdict never outlives exp; the skew window is judged by a full check', async (t) => {
  const k = testKey('RS256', 'k');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(
    authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri, refreshIntervalMs: 3_600_000 }) })] }),
    { clock },
  );
  t.teardown(() => h.close());
  const exp = Math.floor(clock.now() / 1000) + 100;
  const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'a', exp });
  t.equal((await h.run({ headers: bearer(token) })).ex.auth?.cached, false);
  clock.advance(exp * 1000 - clock.now() - 1);
  t.equal((await h.run({ headers: bearer(token) })).ex.auth?.cached, true, '1 ms before exp: hit');
  clock.advance(2);
  const inSkew = await h.run({ headers: bearer(token) });
  t.ok(inSkew.passed, 'just past exp, inside the skew: accepted');
  t.equal(inSkew.ex.auth?.cached, false, 'but by a full verification, not the cache');
  clock.advance(30_000);
  t.equal((await h.run({ headers: bearer(token) })).error?.reason, 'expired');
  t.equal(await metricValue(h.metrics, 'sidegate_token_cache_total', { result: 'hit' }), 1);
});

void t.test('maxTokenAge bounds the cache entry too', async (t) => {
  const k = testKey('EdDSA', 'k');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(
    authPolicy({ providers: [provider({ issuer: idp.issuer, clockSkewMs: 0, maxTokenAgeMs: 60_000, jwks: jwks({ uri: idp.jwksUri }) })] }),
    { clock },
  );
  t.teardown(() => h.close());
  const now = Math.floor(clock.now() / 1000);
  const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'a', iat: now, exp: now + 3600 });
  t.ok((await h.run({ headers: bearer(token) })).passed);
  clock.advance(61_000);
  t.equal((await h.run({ headers: bearer(token) })).error?.reason, 'expired', 'too old, cache or not');
});

void t.test('the cache is a bounded LRU keyed by a hash of the token', async (t) => {
  const k = testKey('ES256', 'k');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(
    authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })], cache: { maxEntries: 3 } }),
    { clock },
  );
  t.teardown(() => h.close());
  const tokens = await Promise.all(
    [0, 1, 2, 3].map(() =>
      mint(k, { iss: idp.issuer, aud: 'orders', sub: 'a', jti: randomUUID(), exp: Math.floor(clock.now() / 1000) + 600 }),
    ),
  );
  for (const tok of tokens.slice(0, 3)) await h.run({ headers: bearer(tok) });
  t.equal((await h.run({ headers: bearer(tokens[0]!) })).ex.auth?.cached, true, 'token 0 touched: most recent now');
  await h.run({ headers: bearer(tokens[3]!) }); // evicts the least recently used: token 1
  t.equal((await h.run({ headers: bearer(tokens[1]!) })).ex.auth?.cached, false, 'token 1 was evicted');
  t.equal((await h.run({ headers: bearer(tokens[3]!) })).ex.auth?.cached, true);

  const c = new TokenCache<{ expiresAt: number }>(2);
  const key = TokenCache.key(tokens[0]!);
  t.equal(key.length, 44, 'a SHA-256, base64');
  t.notOk(tokens[0]!.includes(key));
  t.equal(c.keyOf(tokens[0]!), key, 'keyOf gives the same key');
  t.equal(c.keyOf(tokens[0]!), key, 'remembered for a repeated token');
  for (let i = 0; i < 1000; i++) c.keyOf(`token-${i}`);
  t.equal(c.remembered, 256, 'a bounded number of token texts is remembered');
  t.equal(c.keyOf('token-999'), TokenCache.key('token-999'));
  // Two tokens with the same tail: found by the tail, but compared whole.
  const tail = 'x'.repeat(30);
  t.equal(c.keyOf(`a.${tail}`), TokenCache.key(`a.${tail}`));
  t.equal(c.keyOf(`b.${tail}`), TokenCache.key(`b.${tail}`), 'a different token with the same tail gets its own key');
  t.equal(c.keyOf(`a.${tail}`), TokenCache.key(`a.${tail}`));
  for (let i = 0; i < 10; i++) c.set(String(i), { expiresAt: Infinity });
  t.equal(c.size, 2, 'never more than maxEntries');
  t.equal(c.get('0', 0), undefined);
  t.ok(c.get('9', 0));
  c.set('x', { expiresAt: 10 });
  t.equal(c.get('x', 10), undefined, 'expired on get');
  t.equal(c.size, 1, 'and dropped');
});

void t.test('a hit moves an entry to the recent end only once it is in the older half', async (t) => {
  const v = { expiresAt: Infinity };
  const has = (c: TokenCache<typeof v>, k: string): boolean => c.get(k, 0) !== undefined;
  // The oldest entry, hit, is moved: the next insert evicts the one after it.
  const c = new TokenCache<typeof v>(4);
  for (const k of ['a', 'b', 'c', 'd']) c.set(k, v);
  t.ok(has(c, 'a'), '3 inserts after it: older half, moved to the end');
  c.set('e', v);
  t.notOk(c.get('b', 0), 'b evicted, not a');
  t.equal(c.size, 4);
  // An entry hit in the newer half stays where it is, and still outlives maxEntries / 2 inserts.
  const d = new TokenCache<typeof v>(4);
  for (const k of ['a', 'b', 'c', 'd']) d.set(k, v);
  d.get('c', 0); // 1 insert after it: newer half, not moved
  d.set('e', v);
  d.set('f', v);
  t.same(
    ['a', 'b'].map((k) => d.get(k, 0) !== undefined),
    [false, false],
    'a and b evicted first',
  );
  d.set('g', v);
  t.notOk(d.get('c', 0), 'c goes with the third insert after its use (an exact LRU would keep it one more)');
  t.ok(has(d, 'd') && has(d, 'e') && has(d, 'f') && has(d, 'g'));
});
