import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { JwksServer, mint, testKey, type TestKey } from '../../helpers/jwks.js';
import {
  authPolicy,
  bearer,
  harness,
  jwks,
  metricValue,
  provider,
  requireAny,
  requireNone,
  requireProviders,
  rule,
  type Harness,
} from './support.js';

/** Two providers on two IdPs, the rules from the design document, and a tenant-scoped API. */
async function setup(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ h: Harness; corp: TestKey; partner: TestKey; corpIss: string; partnerIss: string; clock: ManualClock }> {
  const corp = testKey('RS256', 'corp-1');
  const partner = testKey('ES256', 'partner-1');
  const corpIdp = await JwksServer.start([corp.jwk]);
  const partnerIdp = await JwksServer.start([partner.jwk]);
  t.teardown(() => Promise.all([corpIdp.stop(), partnerIdp.stop()]));
  const clock = new ManualClock(Date.now(), 0);
  const policy = authPolicy({
    providers: [
      provider({
        name: 'corp',
        issuer: corpIdp.issuer,
        jwks: jwks({ uri: corpIdp.jwksUri }),
        from: [
          { kind: 'header', name: 'authorization', prefix: 'Bearer ' },
          { kind: 'cookie', name: 'session_token', prefix: '' },
        ],
        forwardClaims: { sub: 'x-user-id', tenant: 'x-tenant-id', 'realm_access.roles': 'x-roles', name: 'x-user-name' },
      }),
      provider({
        name: 'partner',
        issuer: partnerIdp.issuer,
        algorithms: ['ES256'],
        audiences: ['partner-api'],
        jwks: jwks({ uri: partnerIdp.jwksUri }),
        forwardClaims: { sub: 'x-partner-id' },
      }),
    ],
    rules: [
      rule(['/healthz', '/public/*'], requireNone),
      rule(['/admin/*'], requireProviders(['corp'], [{ claim: 'role', anyOf: ['admin'] }]), ['POST', 'DELETE']),
      rule(['/reports/*'], requireAny([{ claim: 'scope', anyOf: ['reports:read'] }])),
      rule(['/realm/*'], requireAny([{ claim: 'realm_access.roles', anyOf: ['auditor'] }])),
      rule(['/tenants/*'], requireAny([], { claim: 'tenant', header: undefined, pathSegment: 1 })),
      rule(['/by-header/*'], requireAny([], { claim: 'tenant', header: 'x-tenant', pathSegment: undefined })),
      rule(['/partner/*'], requireProviders(['partner'])),
    ],
  });
  const h = await harness(policy, { clock });
  t.teardown(() => h.close());
  return { h, corp, partner, corpIss: corpIdp.issuer, partnerIss: partnerIdp.issuer, clock };
}

const tok = (k: TestKey, iss: string, clock: ManualClock, extra: Record<string, unknown> = {}): Promise<string> =>
  mint(k, { iss, aud: 'orders', sub: 'alice', exp: Math.floor(clock.now() / 1000) + 600, jti: randomUUID(), ...extra });

void t.test('first match wins: none, named providers with claims, methods', async (t) => {
  const { h, corp, partner, corpIss, partnerIss, clock } = await setup(t);
  t.ok((await h.run({ target: '/healthz' })).passed, 'require none: no token needed');
  t.equal((await h.run({ target: '/healthz' })).ex.auth?.result, 'skipped');
  t.ok((await h.run({ target: '/public/docs/a' })).passed, 'prefix rule');
  t.equal((await h.run({ target: '/publicity' })).error?.reason, 'missing', 'a prefix is a path segment boundary');

  const admin = await tok(corp, corpIss, clock, { role: 'admin' });
  const user = await tok(corp, corpIss, clock, { role: 'user' });
  t.ok((await h.run({ method: 'POST', target: '/admin/users', headers: bearer(admin) })).passed);
  const denied = await h.run({ method: 'DELETE', target: '/admin/users', headers: bearer(user) });
  t.equal(denied.error?.status, 403);
  t.equal(denied.error?.reason, 'insufficient_scope');
  t.equal(denied.error?.headers['www-authenticate'], 'Bearer error="insufficient_scope"');
  t.same(denied.ex.auth, { provider: 'corp', result: 'failure', reason: 'claims' });
  t.equal(await metricValue(h.metrics, 'sidegate_auth_attempts_total', { provider: 'corp', result: 'failure', reason: 'claims' }), 1);
  t.ok(
    (await h.run({ method: 'GET', target: '/admin/users', headers: bearer(user) })).passed,
    'GET falls through to the default (any provider)',
  );

  const partnerToken = await mint(partner, { iss: partnerIss, aud: 'partner-api', sub: 'p1', exp: Math.floor(clock.now() / 1000) + 600 });
  t.ok((await h.run({ target: '/partner/x', headers: bearer(partnerToken) })).passed);
  t.equal((await h.run({ target: '/partner/x', headers: bearer(user) })).error?.reason, 'issuer', 'a corp token is not a partner token');
  const adminByPartner = await mint(partner, {
    iss: partnerIss,
    aud: 'partner-api',
    sub: 'p1',
    role: 'admin',
    exp: Math.floor(clock.now() / 1000) + 600,
  });
  t.equal(
    (await h.run({ method: 'POST', target: '/admin/x', headers: bearer(adminByPartner) })).error?.reason,
    'issuer',
    'named providers only',
  );
  t.equal(
    (await h.run({ method: 'POST', target: '/admin/x', headers: bearer(adminByPartner) })).error?.reason,
    'issuer',
    'and not via the cache either',
  );
});

void t.test('claim conditions: space-separated scope, nested paths, arrays', async (t) => {
  const { h, corp, corpIss, clock } = await setup(t);
  t.ok(
    (await h.run({ target: '/reports/q1', headers: bearer(await tok(corp, corpIss, clock, { scope: 'openid reports:read profile' })) }))
      .passed,
  );
  t.equal(
    (await h.run({ target: '/reports/q1', headers: bearer(await tok(corp, corpIss, clock, { scope: 'openid reports:readwrite' })) })).error
      ?.status,
    403,
    'whole words only',
  );
  t.equal((await h.run({ target: '/reports/q1', headers: bearer(await tok(corp, corpIss, clock)) })).error?.status, 403, 'absent claim');
  t.ok(
    (
      await h.run({
        target: '/realm/x',
        headers: bearer(await tok(corp, corpIss, clock, { realm_access: { roles: ['viewer', 'auditor'] } })),
      })
    ).passed,
    'nested claim path, array any-of',
  );
  t.equal(
    (await h.run({ target: '/realm/x', headers: bearer(await tok(corp, corpIss, clock, { realm_access: { roles: ['viewer'] } })) })).error
      ?.status,
    403,
  );
  t.equal(
    (await h.run({ target: '/realm/x', headers: bearer(await tok(corp, corpIss, clock, { realm_access: 'auditor' })) })).error?.status,
    403,
    'a string where an object is expected',
  );
});

void t.test('tenant isolation by path segment and by header; mismatches are security violations', async (t) => {
  const { h, corp, corpIss, clock } = await setup(t);
  const acme = await tok(corp, corpIss, clock, { tenant: 'acme' });
  t.ok((await h.run({ target: '/tenants/acme/orders', headers: bearer(acme) })).passed);
  t.ok((await h.run({ target: '/tenants/%61cme/orders', headers: bearer(acme) })).passed, 'percent-decoded before comparing');
  const cross = await h.run({ target: '/tenants/globex/orders', headers: bearer(acme) });
  t.equal(cross.error?.status, 403);
  t.equal(cross.error?.code, 'SIDEGATE_ERR_CROSS_TENANT');
  t.same(cross.ex.auth, { provider: 'corp', result: 'failure', reason: 'cross_tenant' });
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'cross_tenant' }), 1);

  t.ok((await h.run({ target: '/by-header/x', headers: { ...bearer(acme), 'x-tenant': 'acme' } })).passed);
  t.equal(
    (await h.run({ target: '/by-header/x', headers: { ...bearer(acme), 'x-tenant': 'globex' } })).error?.code,
    'SIDEGATE_ERR_CROSS_TENANT',
  );
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'cross_tenant' }), 2);
  const noHeader = await h.run({ target: '/by-header/x', headers: bearer(acme) });
  t.equal(noHeader.error?.reason, 'insufficient_scope', 'no tenant named by the request: refused, not counted as an attack');
  const noClaim = await h.run({ target: '/tenants/acme/x', headers: bearer(await tok(corp, corpIss, clock)) });
  t.equal(noClaim.error?.reason, 'insufficient_scope', 'token without a tenant claim');
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'cross_tenant' }), 2);
});

void t.test('what the app receives: claims as headers, spoofed copies removed, token stripped', async (t) => {
  const { h, corp, corpIss, clock } = await setup(t);
  const token = await tok(corp, corpIss, clock, { tenant: 'acme', realm_access: { roles: ['a', 'b'] }, name: 'Łukasz Ğ' });
  const spoof = { 'x-user-id': 'root', 'x-tenant-id': 'globex', 'x-roles': '["admin"]', 'x-partner-id': 'p9', 'x-user-name': 'x' };
  const r = await h.run({ headers: { ...bearer(token), ...spoof, accept: 'application/json' } });
  t.ok(r.passed);
  const seen = h.seen.at(-1)!;
  t.equal(seen['x-user-id'], 'alice');
  t.equal(seen['x-tenant-id'], 'acme');
  t.equal(seen['x-roles'], '["a","b"]', 'arrays are JSON-encoded');
  t.equal(Buffer.from(seen['x-user-name'] as string, 'latin1').toString('utf8'), 'Łukasz Ğ', 'non-ASCII travels as UTF-8 bytes');
  t.equal(seen['x-partner-id'], undefined, "another provider's header is removed, not passed through");
  t.equal(seen.authorization, undefined, 'token stripped');
  t.equal(seen.accept, 'application/json', 'other headers untouched');

  const cached = await h.run({ headers: { ...bearer(token), 'x-user-id': 'root' } });
  t.equal(cached.ex.auth?.cached, true);
  t.equal(h.seen.at(-1)!['x-user-id'], 'alice', 'spoof removed on cache hits too');

  await h.run({ target: '/public/x', headers: { 'x-user-id': 'root', 'x-tenant-id': 'globex' } });
  t.equal(h.seen.at(-1)!['x-user-id'], undefined, 'spoofed headers are removed on routes that need no token');
  t.equal(h.seen.at(-1)!['x-tenant-id'], undefined);

  const withoutTenant = await tok(corp, corpIss, clock);
  await h.run({ headers: { ...bearer(withoutTenant), 'x-tenant-id': 'globex' } });
  t.equal(h.seen.at(-1)!['x-tenant-id'], undefined, 'a claim the token lacks never lets the client copy through');
});

void t.test('CR/LF in a forwarded claim refuses the token', async (t) => {
  const { h, corp, corpIss, clock } = await setup(t);
  for (const evil of ['alice\r\nx-admin: true', 'alice\nx', 'a\u0000b']) {
    const r = await h.run({ headers: bearer(await tok(corp, corpIss, clock, { sub: evil })) });
    t.equal(r.error?.status, 401);
    t.equal(r.error?.reason, 'claims', JSON.stringify(evil));
  }
  t.ok(
    (await h.run({ headers: bearer(await tok(corp, corpIss, clock, { tenant: ['a\r\nb'] })) })).passed,
    'inside an array the JSON encoding escapes it',
  );
  t.equal(h.seen.at(-1)!['x-tenant-id'], '["a\\r\\nb"]');
});

void t.test("cookie tokens (the runbooks' session_token), other cookies kept", async (t) => {
  const { h, corp, corpIss, clock } = await setup(t);
  const token = await tok(corp, corpIss, clock);
  const r = await h.run({ headers: { cookie: `theme=dark; session_token=${token}; lang=en` } });
  t.ok(r.passed, r.error?.reason ?? 'accepted');
  t.equal(h.seen.at(-1)!.cookie, 'theme=dark; lang=en', 'the token cookie is removed, the rest kept');
  await h.run({ headers: { cookie: `session_token=${token}` } });
  t.equal(h.seen.at(-1)!.cookie, undefined, 'cookie header dropped when it held only the token');
  t.equal((await h.run({ headers: { cookie: 'session_tokenx=abc; other=1' } })).error?.reason, 'missing', 'name matched exactly');
  t.ok((await h.run({ headers: { authorization: `bearer ${token}` } })).passed, 'the Bearer scheme is case-insensitive');
  t.equal((await h.run({ headers: { authorization: `Basic ${token}` } })).error?.reason, 'missing', 'another scheme is not a bearer token');
});

void t.test('forward: true keeps the token; a query token only where enabled', async (t) => {
  const k = testKey('RS256', 'k');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const h = await harness(
    authPolicy({
      providers: [
        provider({
          issuer: idp.issuer,
          jwks: jwks({ uri: idp.jwksUri }),
          forward: true,
          from: [
            { kind: 'header', name: 'authorization', prefix: 'Bearer ' },
            { kind: 'query', name: 'access_token', prefix: '' },
          ],
        }),
      ],
    }),
  );
  t.teardown(() => h.close());
  const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'a', exp: Math.floor(h.clock.now() / 1000) + 600 });
  t.ok((await h.run({ headers: bearer(token) })).passed);
  t.equal(h.seen.at(-1)!.authorization, `Bearer ${token}`, 'kept for the app');
  t.ok((await h.run({ target: `/api/x?a=1&access_token=${token}` })).passed, 'query parameter accepted when configured');
  const { h: h2 } = await setup(t);
  t.equal((await h2.run({ target: `/api/x?access_token=${token}` })).error?.reason, 'missing', 'and ignored where it is not');
});
