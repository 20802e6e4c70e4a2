import { createHmac, randomBytes } from 'node:crypto';
import { connect as h2connect } from 'node:http2';
import t from 'tap';
import { request } from 'undici';
import { findSecrets } from '../chaos/secrets.js';
import { h2request } from '../helpers/h2.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { writePolicy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { spawnProxy } from '../helpers/spawn.js';
import { sleep, startRecordingApp } from './support.js';

/**
 * Secrets never reach the logs. A real `sidegate proxy` process at its most talkative (debug level,
 * request headers logged) gets tokens, passwords, API keys and cookies in every place a client
 * or an operator puts them, valid and invalid, over HTTP/1.1 and HTTP/2; then every line it
 * wrote is searched for each secret.
 */
const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;

function hs256(key: string, claims: Record<string, unknown>): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
}

t.test('no secret appears in any log line', async (t) => {
  const redisPassword = secret('redis-pw');
  const hmacKey = secret('hmac-key');
  const apiKey = secret('api-key');
  const basicPassword = secret('basic-pw');
  const cookieSession = secret('cookie');
  const queryPassword = secret('query-pw');
  const redis = await RedisProcess.start(['--requirepass', redisPassword]);
  const k = testKey('ES256', 'secrets-k1');
  const idp = await JwksServer.start([k.jwk]);
  const app = await startRecordingApp();
  const policy = writePolicy(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: secrets }
spec:
  auth:
    providers:
      - name: idp
        issuer: ${idp.issuer}
        audiences: [secrets]
        algorithms: [ES256]
        jwks: { uri: ${idp.jwksUri} }
        from: [ { header: authorization, prefix: "Bearer " }, { cookie: session_token }, { query: access_token } ]
        forwardClaims: { sub: x-user-id }
      - name: shared
        issuer: https://shared.secrets.test
        algorithms: [HS256]
        secret: { env: SECRETS_TEST_HMAC }
    rules:
      - { match: { paths: [/public/*] }, require: none }
    revocation: { enabled: true }
  rateLimits:
    - { name: tight, match: { paths: [/api/*] }, key: [ { header: x-api-key } ], limit: { requests: 3, per: 1m }, onRedisError: deny }
`);
  const p = await spawnProxy(
    app.url,
    [
      '--policy',
      policy,
      '--redis',
      `redis://:${redisPassword}@127.0.0.1:${redis.port}`,
      '--log-level',
      'debug',
      '--log-headers',
      '--drain-delay',
      '0s',
      '--drain-timeout',
      '2s',
      // The default budget is 5 ms: a loaded CI machine misses it, onRedisError then answers 503 and no 429 is seen.
      '--redis-timeout',
      '2s',
    ],
    { SECRETS_TEST_HMAC: hmacKey },
  );
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
    await idp.stop();
    await redis.stop();
  });

  const exp = Math.floor(Date.now() / 1000) + 600;
  const good = await mint(k, { iss: idp.issuer, aud: 'secrets', sub: 'alice', exp, jti: secret('jti') });
  const expired = await mint(k, { iss: idp.issuer, aud: 'secrets', sub: 'alice', exp: 1000 });
  const wrongAud = await mint(k, { iss: idp.issuer, aud: 'other', sub: 'alice', exp });
  const forged = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.from(secret('forged')).toString('base64url')}`;
  const shared = hs256(hmacKey, { iss: 'https://shared.secrets.test', sub: 'svc', exp });
  const garbage = secret('not-a-jwt');
  const tokens = [good, expired, wrongAud, forged, shared, garbage];
  const basic = `Basic ${Buffer.from(`admin:${basicPassword}`).toString('base64')}`;

  const call = async (path: string, headers: Record<string, string>): Promise<number> => {
    const r = await request(`${p.url}${path}`, { headers: { 'x-api-key': apiKey, ...headers } });
    await r.body.dump();
    return r.statusCode;
  };
  const seen = new Set<number>();
  for (const tok of tokens) {
    seen.add(await call('/api/x', { authorization: `Bearer ${tok}` }));
    seen.add(await call('/api/x', { cookie: `session_token=${tok}; other=${cookieSession}` }));
    seen.add(await call(`/api/x?access_token=${tok}&password=${queryPassword}`, {}));
    seen.add(
      await call('/public/x', {
        authorization: `Bearer ${tok}`,
        'proxy-authorization': basic,
        'x-auth-token': tok,
        'api-key': apiKey,
        apikey: apiKey,
        'x-access-token': tok,
        cookie: `session=${cookieSession}`,
        'x-session-id': cookieSession,
        'x-password': basicPassword,
      }),
    );
  }
  seen.add(await call('/api/x', { authorization: basic }));
  seen.add(await call(`/public/x?password=${queryPassword}&api_key=${apiKey}&token=${good}`, {}));
  // Over HTTP/2 as well.
  const s = h2connect(p.url);
  for (const tok of tokens) {
    const r = await h2request(s, {
      ':path': `/api/h2?access_token=${tok}`,
      authorization: `Bearer ${tok}`,
      cookie: `session_token=${tok}`,
      'x-api-key': apiKey,
    });
    seen.add(Number(r.headers[':status']));
  }
  s.close();
  // Redis down: the degraded paths log too.
  await redis.kill();
  for (const tok of [good, shared]) seen.add(await call('/api/down', { authorization: `Bearer ${tok}`, 'x-api-key': `${apiKey}-down` }));
  await redis.restart();

  t.ok(
    seen.has(200) && seen.has(401) && seen.has(429) && seen.has(503),
    `the requests covered success, 401, 429 and 503 (${[...seen].sort().join(', ')})`,
  );
  p.proc.kill('SIGTERM');
  await p.exited;
  await sleep(50);
  const out = p.output.stdout + p.output.stderr;
  t.ok(out.split('\n').length > 30, `the sidecar logged (${out.split('\n').length} lines)`);
  t.match(out, /"headers":\{/, 'with request headers');
  const all = [
    redisPassword,
    hmacKey,
    apiKey,
    basicPassword,
    cookieSession,
    queryPassword,
    Buffer.from(`admin:${basicPassword}`).toString('base64'),
    ...tokens,
  ];
  t.same(findSecrets([out], all), [], 'no token, password, API key, cookie or HMAC key in any log line');
});
