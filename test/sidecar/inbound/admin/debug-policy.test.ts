import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { runExplain } from '../../../../cli/explain.js';
import { compilePolicy } from '../../../../policies/src/compile.js';
import { debugPolicy } from '../../../../sidecar/src/inbound/admin/debug-policy.js';
import { startHttpApp } from '../../../helpers/apps.js';
import { JwksServer, testKey } from '../../../helpers/jwks.js';
import { startProxy, until } from '../../../helpers/proxy.js';

const policy = (idp: string, message: string): string => `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  auth:
    providers:
      - name: corp
        issuer: ${idp}
        algorithms: [ES256]
        jwks: { uri: "${idp}/jwks.json?api_key=k3y" }
  maintenance: { enabled: false, message: "${message}" }
`;

/** An address of this machine that is not loopback, to reach the admin port as a remote peer would. */
function outsideAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

t.test('GET /debug/policy: the compiled document and its version, credentials redacted, loopback only', async (t) => {
  const app = await startHttpApp();
  const idp = await JwksServer.start([testKey('ES256', 'k1').jwk]);
  const p = await startProxy(
    app.url,
    ['--admin', '0.0.0.0:0', '--policy-defaults', JSON.stringify({ spec: { logging: { successSampleRate: 0.5 } } })],
    { policy: policy(idp.url, 'first') },
  );
  t.teardown(async () => {
    await p.close();
    await app.close();
    await idp.stop();
  });
  const admin = `http://127.0.0.1:${p.proxy.adminPort}`;

  const r = await request(`${admin}/debug/policy`);
  t.equal(r.statusCode, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  const text = await r.body.text();
  const body = JSON.parse(text) as {
    name: string;
    version: string;
    sources: unknown;
    redacted: string[];
    policy: { spec: Record<string, Record<string, unknown>> };
  };
  t.equal(body.name, 'orders');
  t.equal(body.version, p.proxy.policy?.version, 'the version in force');
  t.same(body.sources, { file: p.policyFile, defaults: true, overlay: false });
  t.equal(body.policy.spec.logging?.successSampleRate, 0.5, 'the chart defaults are merged in');
  t.equal(body.policy.spec.maintenance?.retryAfter, '60s', 'schema defaults are filled in');
  t.equal(body.policy.spec.upstream?.timeout, '15s');
  t.notMatch(text, /k3y/, 'no credential from the URL');
  t.equal((body.policy.spec.auth as { providers: { jwks: { uri: string } }[] }).providers[0]?.jwks.uri, `${idp.url}/jwks.json?[redacted]`);
  t.same(body.redacted, ['/spec/auth/providers/0/jwks/uri'], 'what was redacted is said');

  // The document is a whole policy: what `sidegate explain -f` takes to judge requests as this pod does.
  const file = join(t.testdir({ 'in-force.json': JSON.stringify(body.policy) }), 'in-force.json');
  const out: string[] = [];
  const code = await runExplain(['-f', file, '--json', '/healthz'], { out: (l) => out.push(l), err: (l) => out.push(l) });
  t.equal(code, 1, 'explained (no token: 401), not refused as input');
  t.match(JSON.parse(out.join('\n')), { policy: { name: 'orders' }, answer: { status: 401, error: 'SIDEGATE_ERR_UNAUTHENTICATED' } });

  const post = await request(`${admin}/debug/policy`, { method: 'POST' });
  t.equal(post.statusCode, 405, 'read-only');
  await post.body.dump();
  const outside = outsideAddress();
  if (outside === undefined) t.fail('this machine has no non-loopback IPv4 address to test from');
  else {
    const remote = await request(`http://${outside}:${p.proxy.adminPort}/debug/policy`);
    t.equal(remote.statusCode, 403, `refused to ${outside}`);
    t.notMatch(await remote.body.text(), /orders/);
    const metrics = await request(`http://${outside}:${p.proxy.adminPort}/healthz/live`);
    t.equal(metrics.statusCode, 200, 'while the probes stay reachable from outside');
    await metrics.body.dump();
  }

  writeFileSync(p.policyFile!, policy(idp.url, 'second'));
  await until(() => p.proxy.policy?.version !== body.version, 'the reload');
  const after = (await (await request(`${admin}/debug/policy`)).body.json()) as {
    version: string;
    policy: { spec: { maintenance: { message: string } } };
  };
  t.equal(after.version, p.proxy.policy?.version, 'the new version');
  t.equal(after.policy.spec.maintenance.message, 'second');
});

t.test('redaction: only credentials in URLs; a sidecar without a policy says so', async (t) => {
  const r = compilePolicy({
    apiVersion: 'sidegate.dev/v1',
    kind: 'Policy',
    metadata: { name: 'x' },
    spec: {
      auth: {
        providers: [
          {
            name: 'a',
            issuer: 'https://id.example.com/realms/x',
            algorithms: ['ES256'],
            jwks: { uri: 'https://id.example.com/jwks.json' },
          },
          { name: 'b', issuer: 'https://other.example.com', algorithms: ['ES256'], jwks: { uri: 'http://tok@keys.local:8080/j' } },
          {
            name: 'c',
            issuer: 'https://third.example.com',
            algorithms: ['ES256'],
            jwks: { uri: 'https://svc:s3cr3t@keys.example.com/jwks.json?api_key=k3y' },
          },
        ],
      },
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const v = debugPolicy(r.policy, { file: undefined, defaults: false, overlay: false }) as {
    redacted: string[];
    policy: { spec: { auth: { providers: { issuer: string; jwks: { uri: string } }[] } } };
  };
  const [a, b, c] = v.policy.spec.auth.providers;
  t.equal(a?.issuer, 'https://id.example.com/realms/x');
  t.equal(a?.jwks.uri, 'https://id.example.com/jwks.json');
  t.equal(b?.jwks.uri, 'http://[redacted]@keys.local:8080/j');
  t.equal(c?.jwks.uri, 'https://[redacted]@keys.example.com/jwks.json?[redacted]');
  t.notMatch(JSON.stringify(v), /s3cr3t|k3y|tok@/);
  t.same(v.redacted, ['/spec/auth/providers/1/jwks/uri', '/spec/auth/providers/2/jwks/uri']);
  t.same(debugPolicy(undefined, { file: '/etc/sidegate/policy/policy.yaml', defaults: false, overlay: false }), {
    name: null,
    version: null,
    sources: { file: '/etc/sidegate/policy/policy.yaml', defaults: false, overlay: false },
    policy: null,
    redacted: [],
  });
});
