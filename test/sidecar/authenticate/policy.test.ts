import { parse } from 'yaml';
import t from 'tap';
import { compilePolicy } from '../../../policies/src/index.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { bearer, harness } from './support.js';

/** The auth section of the design document, through the real policy compiler, into the stage. */
void t.test('a YAML policy compiled by compilePolicy drives the stage', async (t) => {
  const k = testKey('RS256', 'corp-1');
  const idp = await JwksServer.start([k.jwk]);
  t.teardown(() => idp.stop());
  const doc = parse(`
apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  auth:
    providers:
      - name: corp
        issuer: ${idp.issuer}
        audiences: [orders]
        algorithms: [RS256, ES256]
        jwks: { uri: ${idp.jwksUri}, refreshInterval: 5m, staleIfError: 24h }
        from: [ { header: authorization, prefix: "Bearer " }, { cookie: session_token } ]
        clockSkew: 30s
        forwardClaims: { sub: x-user-id, tenant: x-tenant-id }
    rules:
      - match: { paths: [/healthz, /public/*] }
        require: none
      - match: { paths: [/admin/*], methods: [POST, DELETE] }
        require: { providers: [corp], claims: { role: [admin] } }
      - match: { paths: [/tenants/*] }
        require: { tenant: { claim: tenant, pathSegment: 1 } }
    default: { require: any }
`) as unknown;
  const compiled = compilePolicy(doc);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
  const auth = compiled.policy.auth!;
  const h = await harness(auth);
  t.teardown(() => h.close());
  const exp = Math.floor(h.clock.now() / 1000) + 600;
  const user = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'u1', tenant: 'acme', role: 'user', exp });
  const admin = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'a1', tenant: 'acme', role: 'admin', exp });

  t.ok((await h.run({ target: '/healthz' })).passed);
  t.equal((await h.run({ target: '/api/orders' })).error?.reason, 'missing');
  t.ok((await h.run({ target: '/api/orders', headers: { cookie: `session_token=${user}`, 'x-user-id': 'spoof' } })).passed);
  t.equal(h.seen.at(-1)!['x-user-id'], 'u1');
  t.equal(h.seen.at(-1)!['x-tenant-id'], 'acme');
  t.equal((await h.run({ method: 'POST', target: '/admin/x', headers: bearer(user) })).error?.status, 403);
  t.ok((await h.run({ method: 'POST', target: '/admin/x', headers: bearer(admin) })).passed);
  t.ok((await h.run({ target: '/tenants/acme/orders', headers: bearer(user) })).passed);
  t.equal((await h.run({ target: '/tenants/globex/orders', headers: bearer(user) })).error?.code, 'SIDEGATE_ERR_CROSS_TENANT');
});
