import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { AUTH_REASONS } from '../../../sidecar/src/stages/authenticate/index.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, harness, jwks, metricValue, provider } from './support.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'test', 'fixtures', 'jwt', 'v1', 'manifest.json');

interface Manifest {
  version: number;
  now: number;
  provider: { issuer: string; audiences: string[]; algorithms: string[]; typ: string; clockSkewMs: number; maxTokenBytes: number };
  jwks: { keys: Record<string, unknown>[] };
  cases: { name: string; expect: string; note: string; token: string }[];
}

const m = JSON.parse(readFileSync(CORPUS, 'utf8')) as Manifest;

void t.test('the corpus is well-formed', (t) => {
  t.equal(m.version, 1);
  const names = m.cases.map((c) => c.name);
  t.equal(new Set(names).size, names.length, 'case names are unique');
  for (const c of m.cases)
    t.ok(c.expect === 'ok' || (AUTH_REASONS as readonly string[]).includes(c.expect), `${c.name}: known reason ${c.expect}`);
  t.ok(m.cases.filter((c) => c.expect !== 'ok').length >= 60, 'at least 60 attack cases');
  t.end();
});

void t.test('every corpus case gets exactly its expected verdict', async (t) => {
  const idp = await JwksServer.start(m.jwks.keys);
  t.teardown(() => idp.stop());
  const clock = new ManualClock(m.now * 1000, 0);
  const p = provider({ ...m.provider, jwks: jwks({ uri: idp.jwksUri }) });
  const h = await harness(authPolicy({ providers: [p] }), { clock });
  t.teardown(() => h.close());
  t.match(
    h.logger.lines.find((l) => l.msg === 'auth: key refused')?.obj,
    { kid: 'rsa-1024', why: /2048 bits, this key has 1024/ },
    'the weak key is refused at import and said so',
  );

  let accepted = 0;
  for (const c of m.cases) {
    const before = h.seen.length;
    const r = await h.run({ headers: bearer(c.token) });
    if (c.expect === 'ok') {
      t.ok(r.passed, `${c.name}: accepted (${r.error?.reason ?? ''})`);
      accepted++;
      continue;
    }
    t.equal(r.passed, false, `${c.name}: rejected`);
    t.equal(r.error?.reason, c.expect, `${c.name}: reason ${c.expect} — ${c.note}`);
    t.equal(r.error?.status, 401, `${c.name}: 401`);
    t.equal(h.seen.length, before, `${c.name}: never reached the app`);
    t.equal(r.ex.auth?.reason, c.expect);
    // Twice: a rejected token must not be cached as anything.
    const again = await h.run({ headers: bearer(c.token) });
    t.equal(again.error?.reason, c.expect, `${c.name}: same verdict the second time`);
  }
  t.equal(h.seen.length, accepted);
  const counted = await metricValue(h.metrics, 'sidegate_auth_attempts_total', {
    provider: 'corp',
    result: 'failure',
    reason: 'alg_not_allowed',
  });
  t.equal(counted, 2 * m.cases.filter((c) => c.expect === 'alg_not_allowed').length, 'failures are counted by reason');
  t.ok(idp.fetches <= 2, `unknown kids refetched at most once per cooldown (fetches: ${idp.fetches})`);
});

void t.test('jku, x5u and embedded jwk are never fetched or used', async (t) => {
  const legit = testKey('RS256', 'legit');
  const attacker = testKey('RS256', 'legit');
  const idp = await JwksServer.start([legit.jwk]);
  const evil = await JwksServer.start([attacker.jwk]);
  t.teardown(() => Promise.all([idp.stop(), evil.stop()]));
  const h = await harness(authPolicy({ providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })] }));
  t.teardown(() => h.close());
  const claims = { iss: idp.issuer, aud: 'orders', sub: 'mallory', exp: Math.floor(h.clock.now() / 1000) + 600 };
  for (const header of [{ jku: evil.jwksUri }, { x5u: `${evil.url}/cert.pem` }, { jwk: attacker.jwk as never }]) {
    const r = await h.run({ headers: bearer(await mint(attacker, claims, header)) });
    t.equal(r.error?.reason, 'bad_signature', `${Object.keys(header)[0]}: bad_signature`);
  }
  t.equal(evil.fetches + evil.discoveryFetches, 0, 'the attacker server was never contacted');
  t.ok((await h.run({ headers: bearer(await mint(legit, claims)) })).passed, 'the real key still works');
});
