import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';
import { RedisProcess } from '../helpers/redis.js';

/** The whole pipeline in one sidecar: route → authenticate → rate-limit (Redis) → breaker → app. */
t.test('auth, a shared limit keyed on the verified subject, and the breaker, through one sidecar', async (t) => {
  const k = testKey('ES256', 'k1');
  const idp = await JwksServer.start([k.jwk]);
  const app = await startHttpApp();
  const redis = await RedisProcess.start();
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: full }
spec:
  routes:
    - { name: api, match: { paths: [/api/*] } }
  auth:
    providers:
      - { name: corp, issuer: ${idp.issuer}, audiences: [orders], algorithms: [ES256], jwks: { uri: ${idp.jwksUri} }, forwardClaims: { sub: x-user-id } }
    rules:
      - { match: { paths: [/public/*] }, require: none }
  rateLimits:
    - { name: per-user, match: { paths: [/api/*] }, key: [ { claim: sub } ], limit: { requests: 3, per: 1m, burst: 0 }, onRedisError: deny }
  breaker: { consecutiveFailures: 3, openFor: 30s }
`;
  // A generous Redis budget: this test is about the decisions, and `onRedisError: deny` would turn a
  // call slowed by a busy machine past the 5 ms default into a 503 (the budget has its own tests).
  const p = await startProxy(app.url, ['--redis', redis.url, '--redis-timeout', '500ms', '--service', 'orders', '--namespace', 'shop'], {
    policy,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
    await idp.stop();
    await redis.stop();
  });
  const token = (sub: string): Promise<string> =>
    mint(k, { iss: idp.issuer, aud: 'orders', sub, exp: Math.floor(Date.now() / 1000) + 600 });
  const alice = await token('alice');
  const bob = await token('bob');
  const call = async (
    tok: string | undefined,
    path = '/api/orders',
  ): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> => {
    const r = await request(`${p.url}${path}`, { headers: tok === undefined ? {} : { authorization: `Bearer ${tok}` } });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, body: text.startsWith('{') ? JSON.parse(text) : text };
  };

  t.equal((await call(undefined)).status, 401, 'no token');
  for (let i = 0; i < 3; i++) {
    const r = await call(alice);
    t.equal(r.status, 200);
    t.equal((r.body as Seen).headers['x-user-id'], 'alice');
    t.match(String(r.headers.ratelimit), /"per-user";r=\d+;t=\d+/, 'RateLimit on allowed responses');
    t.match(String(r.headers['ratelimit-policy']), /"per-user";q=3;w=60/);
  }
  const limited = await call(alice);
  t.equal(limited.status, 429);
  t.match(limited.body, { error: 'SIDEGATE_ERR_RATE_LIMITED', reason: 'per-user' });
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After');
  t.equal((await call(bob)).status, 200, 'the limit is per verified subject');
  t.equal((await call(undefined, '/public/x')).status, 200, 'public route: no auth, no limit');
  const metrics = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(metrics, /sidegate_ratelimit_decisions_total\{limit="per-user",result="limited",source="redis"\} 1/);
  t.match(metrics, /sidegate_http_requests_total\{route="api",method="GET",status="429"\} 1/);
  const line = p.logs.find((l) => l.status === 429);
  t.equal(line?.error, 'SIDEGATE_ERR_RATE_LIMITED');
  t.match(line?.auth, { result: 'success', provider: 'corp', sub: 'alice' });
});

t.test('without Redis the demo-style policy still limits (onRedisError: local)', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: local }
spec:
  rateLimits:
    - { name: per-ip, key: [ { clientIp: true } ], limit: { requests: 2, per: 1m }, onRedisError: local }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await request(`${p.url}/x`);
    await r.body.dump();
    statuses.push(r.statusCode);
  }
  t.same(statuses, [200, 200, 429, 429]);
});

t.test('a token taken from a query parameter is removed before the app sees the URL', async (t) => {
  const k = testKey('ES256', 'q1');
  const idp = await JwksServer.start([k.jwk]);
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: q }
spec:
  auth:
    providers:
      - { name: corp, issuer: ${idp.issuer}, algorithms: [ES256], jwks: { uri: ${idp.jwksUri} }, from: [ { query: access_token } ] }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
    await idp.stop();
  });
  const tok = await mint(k, { iss: idp.issuer, sub: 'q', exp: Math.floor(Date.now() / 1000) + 600 });
  const r = await request(`${p.url}/api/x?a=1&access_token=${tok}&b=2`);
  t.equal(r.statusCode, 200);
  const seen = (await r.body.json()) as Seen;
  t.equal(seen.url, '/api/x?a=1&b=2', 'other parameters kept, the token gone');
  const only = await request(`${p.url}/api/y?access_token=${tok}`);
  t.equal(((await only.body.json()) as Seen).url, '/api/y');
});

t.test('a sidecar whose identity provider never answered is not ready', async (t) => {
  const app = await startHttpApp();
  const dead = await freePort();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: nokeys }
spec:
  auth:
    providers:
      - { name: corp, issuer: http://127.0.0.1:${dead}, algorithms: [ES256], jwks: { uri: http://127.0.0.1:${dead}/jwks.json, timeout: 200ms } }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const r = await request(`${p.adminUrl}/healthz/ready`);
  t.equal(r.statusCode, 503);
  t.match(await r.body.json(), { status: 'not ready', failing: ['auth-keys'] });
  t.equal(app.hits.count, 0);
});

t.test('a hot key is decided from quota leases: far fewer Redis calls, still within the limit', async (t) => {
  const app = await startHttpApp();
  const redis = await RedisProcess.start();
  const p = await startProxy(app.url, ['--redis', redis.url, '--redis-timeout', '50ms'], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: hot }
spec:
  rateLimits:
    - { name: hot, key: [ { constant: all } ], limit: { requests: 2000, per: 1s, burst: 2000 }, onRedisError: allow }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
    await redis.stop();
  });
  const pool = new (await import('undici')).Pool(p.url, { connections: 10 });
  let ok = 0;
  const n = 1500;
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const r = await pool.request({ path: '/x', method: 'GET' });
        await r.body.dump();
        return r.statusCode;
      }),
    );
    ok += batch.filter((s) => s === 200).length;
  }
  await pool.close();
  // onRedisError: allow, so a Redis call that misses its budget on a loaded machine still admits:
  // any refusal here would be the leases refusing requests that are within the limit.
  t.equal(ok, n, 'under the limit: every request admitted');
  const m = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const fromLease = Number(/sidegate_ratelimit_decisions_total\{limit="hot",result="allowed",source="lease"\} (\d+)/.exec(m)?.[1] ?? 0);
  const fromRedis = Number(/sidegate_ratelimit_decisions_total\{limit="hot",result="allowed",source="redis"\} (\d+)/.exec(m)?.[1] ?? 0);
  t.ok(fromLease > n / 2, `most decisions came from leases (${fromLease} lease, ${fromRedis} redis)`);
  t.match(m, /sidegate_ratelimit_lease_switches_total\{limit="hot",to="lease"\} [1-9]/, 'the switch to leasing is counted');
});
