import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { KeyManager } from '../../../sidecar/src/stages/authenticate/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { JwksServer, mint, testKey, type TestKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, harness, jwks, MemoryLogger, metricValue, nowSeconds, provider } from './support.js';

const claimsFor = (iss: string, clock: { now(): number }, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss,
  aud: 'orders',
  sub: 'alice',
  exp: Math.floor(clock.now() / 1000) + 3600,
  jti: randomUUID(),
  ...extra,
});

async function idpWith(t: { teardown(fn: () => unknown): void }, ...keys: TestKey[]): Promise<JwksServer> {
  const idp = await JwksServer.start(keys.map((k) => k.jwk));
  t.teardown(() => idp.stop());
  return idp;
}

void t.test('a newly published kid is accepted within 1 s of its first use (no Envoy-style refusal)', async (t) => {
  const a = testKey('RS256', 'a');
  const idp = await idpWith(t, a);
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })] }));
  t.teardown(() => h.close());
  const b = testKey('ES256', 'b');
  idp.addKey(b.jwk);
  const token = await mint(b, claimsFor(idp.issuer, h.clock));
  const started = performance.now();
  const r = await h.run({ headers: bearer(token) });
  const took = performance.now() - started;
  t.ok(r.passed, `rotated key accepted (${r.error?.reason ?? 'ok'})`);
  t.ok(took < 1000, `within 1 s (took ${took.toFixed(1)} ms)`);
  t.equal(idp.fetches, 2, 'one refetch, triggered by the unknown kid');
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, h.clock))) })).passed, 'the old key keeps working');
});

void t.test('a spray of 1,000 random kids costs at most one JWKS fetch per cooldown', async (t) => {
  const a = testKey('RS256', 'a');
  const attacker = testKey('EdDSA'); // fast to sign; the kid is refused before any signature check anyway
  const idp = await idpWith(t, a);
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(
    authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri, cooldownMs: 30_000 }) })] }),
    { clock },
  );
  t.teardown(() => h.close());
  const spray = async (n: number): Promise<string[]> => {
    const tokens = await Promise.all(
      Array.from({ length: n }, () => mint({ ...attacker, kid: randomUUID() }, claimsFor(idp.issuer, clock))),
    );
    const results = await Promise.all(tokens.map((tok) => h.run({ headers: bearer(tok) })));
    return results.map((r) => r.error?.reason ?? 'accepted');
  };
  const first = await spray(1000);
  t.same(new Set(first), new Set(['unknown_kid']), 'every sprayed token is refused as unknown_kid');
  t.equal(idp.fetches, 2, 'start + one coalesced refetch for 1,000 concurrent misses');
  await spray(200);
  t.equal(idp.fetches, 2, 'no refetch inside the cooldown');
  clock.advance(30_001);
  await spray(200);
  t.equal(idp.fetches, 3, 'one more once the cooldown has passed');
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, clock))) })).passed, 'real tokens unaffected');
});

void t.test('IdP outage: stale keys serve inside stale-if-error, then the provider fails closed and is not ready', async (t) => {
  const a = testKey('EdDSA', 'a');
  const idp = await idpWith(t, a);
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(
    authPolicy({
      providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri, refreshIntervalMs: 60_000, staleIfErrorMs: 600_000 }) })],
    }),
    { clock },
  );
  t.teardown(() => h.close());
  const cachedToken = await mint(a, claimsFor(idp.issuer, clock, { exp: nowSeconds(clock) + 7200 }));
  t.ok((await h.run({ headers: bearer(cachedToken) })).passed);
  await idp.stop();

  clock.advance(61_000); // stale: a request triggers a refresh, which fails
  const fresh1 = await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, clock))) });
  t.ok(fresh1.passed, 'a fresh token passes on stale keys');
  await t.resolves(
    waitFor(async () => (await metricValue(h.metrics, 'sidegate_jwks_fetches_total', { provider: 'corp', result: 'error' })) >= 1),
    'the failed refresh is counted',
  );
  t.ok(
    h.logger.lines.some((l) => l.level === 'warn' && l.msg === 'auth: key set fetch failed'),
    'and logged at warn',
  );
  t.ok(h.km.ready(), 'still ready inside the window');

  clock.advance(598_000); // 659 s after the last good fetch: still inside 60 + 600
  t.ok((await h.run({ headers: bearer(cachedToken) })).passed, 'a cached token passes inside the window');
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, clock))) })).passed, 'a fresh token passes inside the window');

  clock.advance(2_000); // 661 s: past the window
  const late = await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, clock))) });
  t.equal(late.error?.status, 503, 'fresh token after the window: 503');
  t.equal(late.error?.reason, 'keys_unavailable');
  const lateCached = await h.run({ headers: bearer(cachedToken) });
  t.equal(lateCached.error?.reason, 'keys_unavailable', 'a cached verdict does not outlive the keys');
  t.notOk(h.km.ready(), 'not ready once the keys expired');

  await idp.restart();
  // Traffic keeps arriving while time passes: some request lands after the retry backoff and kicks a refresh.
  await t.resolves(
    waitFor(async () => {
      clock.advance(31_000);
      await h.run({ headers: bearer(cachedToken) });
      return h.km.ready();
    }),
    'ready again once the IdP is back',
  );
  t.ok((await h.run({ headers: bearer(cachedToken) })).passed);
});

void t.test('a sidecar that never got keys is never ready and answers 503', async (t) => {
  const idp = await idpWith(t, testKey('RS256', 'a'));
  await idp.stop();
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri, timeoutMs: 300 }) })] }), {
    waitReady: false,
  });
  t.teardown(() => h.close());
  t.equal(await h.km.whenReady(400), false, 'not ready');
  const r = await h.run({ headers: bearer('a.b.c') });
  t.equal(r.error?.status, 401, 'a malformed token is still refused as such');
  const k = testKey('RS256', 'a');
  const r2 = await h.run({ headers: bearer(await mint(k, claimsFor(idp.issuer, h.clock))) });
  t.equal(r2.error?.status, 503);
  t.equal(r2.error?.reason, 'keys_unavailable');
});

void t.test('IdP that comes up late: keys are retried with backoff and readiness follows', async (t) => {
  const a = testKey('RS256', 'a');
  const idp = await idpWith(t, a);
  await idp.stop();
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })] }), {
    waitReady: false,
  });
  t.teardown(() => h.close());
  t.notOk(h.km.ready());
  await idp.restart();
  t.ok(await h.km.whenReady(4000), 'ready after the IdP came up');
});

void t.test('OpenID discovery finds the jwks_uri, and an issuer mismatch is refused', async (t) => {
  const a = testKey('ES256', 'a');
  const idp = await idpWith(t, a);
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ discovery: true }) })] }));
  t.teardown(() => h.close());
  t.equal(idp.discoveryFetches, 1);
  t.equal(idp.fetches, 1);
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor(idp.issuer, h.clock))) })).passed);

  idp.discoveryIssuer = 'https://someone-else.example';
  const wrong = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ discovery: true }) })] }), {
    waitReady: false,
  });
  t.teardown(() => wrong.close());
  t.equal(await wrong.km.whenReady(300), false, 'discovery for another issuer never makes the provider ready');
  t.match(wrong.logger.lines.find((l) => l.level === 'warn')?.obj, { err: /does not match/ });
});

void t.test('a JWKS file is watched: a key added to it is accepted without restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-jwks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'jwks.json');
  const a = testKey('RS256', 'a');
  const b = testKey('EdDSA', 'b');
  writeFileSync(file, JSON.stringify({ keys: [a.jwk] }));
  const iss = 'https://file.example';
  const h = await harness(authPolicy({ providers: [provider({ issuer: iss, jwks: jwks({ file }) })] }));
  t.teardown(() => h.close());
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor(iss, h.clock))) })).passed);
  const before = h.km.provider('corp')!.generation;
  writeFileSync(join(dir, 'tmp.json'), JSON.stringify({ keys: [a.jwk, b.jwk] }));
  renameSync(join(dir, 'tmp.json'), file); // atomic swap, as a ConfigMap update does
  await t.resolves(
    waitFor(() => Promise.resolve(h.km.provider('corp')!.generation > before)),
    'the watch reloaded the file',
  );
  t.ok((await h.run({ headers: bearer(await mint(b, claimsFor(iss, h.clock))) })).passed, 'the new key verifies');
});

void t.test('inline keys', async (t) => {
  const a = testKey('ES256', 'a');
  const h = await harness(authPolicy({ providers: [provider({ issuer: 'https://inline.example', jwks: jwks({ inline: [a.jwk] }) })] }));
  t.teardown(() => h.close());
  t.ok((await h.run({ headers: bearer(await mint(a, claimsFor('https://inline.example', h.clock))) })).passed);
});

void t.test('a hanging JWKS endpoint times out', async (t) => {
  const idp = await idpWith(t, testKey('RS256', 'a'));
  idp.hang = true;
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri, timeoutMs: 200 }) })] }), {
    waitReady: false,
  });
  t.teardown(() => h.close());
  await t.resolves(
    waitFor(() => Promise.resolve(h.logger.lines.some((l) => l.msg === 'auth: key set fetch failed')), 1500),
    'the fetch failed on its timeout',
  );
  t.match(h.logger.lines.find((l) => l.msg === 'auth: key set fetch failed')?.obj, { err: /timed out after 200 ms|aborted/ });
});

void t.test('HS256 with a secret from an env var or a file; asymmetric algs are refused for it', async (t) => {
  const secret = 'a-shared-secret-of-at-least-32-bytes!!';
  process.env.SIDEGATE_TEST_HS_SECRET = secret;
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-hs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secret'), `${secret}\n`);
  for (const from of [{ env: 'SIDEGATE_TEST_HS_SECRET' }, { file: join(dir, 'secret') }]) {
    const iss = 'https://hs.example';
    const h = await harness(authPolicy({ providers: [provider({ issuer: iss, algorithms: ['HS256'], secret: from })] }));
    const token = await new SignJWT(claimsFor(iss, h.clock)).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret));
    t.ok((await h.run({ headers: bearer(token) })).passed, `HS256 accepted (${Object.keys(from)[0]})`);
    const wrongSecret = await new SignJWT(claimsFor(iss, h.clock)).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(`${secret}x`));
    t.equal((await h.run({ headers: bearer(wrongSecret) })).error?.reason, 'bad_signature');
    const rs = await mint(testKey('RS256'), claimsFor(iss, h.clock));
    t.equal((await h.run({ headers: bearer(rs) })).error?.reason, 'alg_not_allowed');
    h.close();
  }
  process.env.SIDEGATE_TEST_HS_SHORT = 'too-short';
  const short = await harness(
    authPolicy({ providers: [provider({ issuer: 'x', algorithms: ['HS256'], secret: { env: 'SIDEGATE_TEST_HS_SHORT' } })] }),
    { waitReady: false },
  );
  t.teardown(() => short.close());
  t.equal(await short.km.whenReady(200), false, 'a secret shorter than the hash is never used');
  t.match(short.logger.lines.find((l) => l.msg === 'auth: key refused')?.obj, { why: /at least 32 bytes/ });
});

void t.test('a key removed from the JWKS stops verifying, cached verdicts included', async (t) => {
  const a = testKey('RS256', 'a');
  const b = testKey('RS256', 'b');
  const idp = await idpWith(t, a, b);
  const clock = new ManualClock(Date.now(), 0);
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })] }), { clock });
  t.teardown(() => h.close());
  const token = await mint(a, claimsFor(idp.issuer, clock));
  t.ok((await h.run({ headers: bearer(token) })).passed);
  t.equal((await h.run({ headers: bearer(token) })).ex.auth?.cached, true);
  idp.removeKey('a');
  await h.km.provider('corp')!.refresh('test');
  clock.advance(30_001);
  const r = await h.run({ headers: bearer(token) });
  t.equal(r.error?.reason, 'unknown_kid');
});

void t.test('servesSameKeys: reuse across reloads that do not touch key sources', (t) => {
  const p = provider({ issuer: 'https://a.example', jwks: jwks({ uri: 'https://a.example/jwks' }) });
  const km = new KeyManager([p], { metrics: new Metrics({ processMetrics: false }), logger: new MemoryLogger(), clock: new ManualClock() });
  t.ok(km.servesSameKeys([{ ...p, audiences: ['other'], forwardClaims: { sub: 'x-user' } }]), 'audiences and claims do not matter');
  t.notOk(km.servesSameKeys([{ ...p, jwks: jwks({ uri: 'https://b.example/jwks' }) }]), 'a new JWKS URI does');
  t.notOk(km.servesSameKeys([p, { ...p, name: 'second' }]), 'a new provider does');
  t.end();
});

void t.test('key-set age is exported', async (t) => {
  const idp = await idpWith(t, testKey('RS256', 'a'));
  const clock = new ManualClock(Date.now(), 0);
  const metrics = new Metrics({ processMetrics: false });
  const km = new KeyManager(
    [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })],
    { metrics, logger: new MemoryLogger(), clock },
    { ageGaugeIntervalMs: 20 },
  );
  km.start();
  t.teardown(() => km.close());
  t.ok(await km.whenReady(2000));
  clock.advance(42_000);
  await t.resolves(waitFor(async () => (await metricValue(metrics, 'sidegate_jwks_age_seconds', { provider: 'corp' })) === 42));
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
