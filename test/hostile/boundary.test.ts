import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import t from 'tap';
import { request } from 'undici';
import { parseProxyConfig } from '../../sidecar/src/config.js';
import { Proxy } from '../../sidecar/src/proxy.js';
import { loadRedisConfig } from '../../sidecar/src/redis/config.js';
import { startHttpApp } from '../helpers/apps.js';
import { mint } from '../helpers/jwks.js';
import { startProxy, writePolicy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { inlineProvider, rawExchange, sleep, startRecordingApp, statuses, type Received } from './support.js';

/**
 * Trust boundaries that are not about parsing: request trailers, the client address behind
 * trusted proxies, the admin port's shutdown endpoints, and secrets in logs and errors.
 */
const ISSUER = 'https://idp.hostile.test';
const exp = (): number => Math.floor(Date.now() / 1000) + 600;
const CRLF = '\r\n';
/** Every header the app got, raw, as [lowercase name, value] pairs. */
const pairs = (r: Received): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) out.push([r.rawHeaders[i]!.toLowerCase(), r.rawHeaders[i + 1]!]);
  return out;
};

// Finding 2: fields in a chunked request's trailer section never become request headers.
t.test('request trailers never become request headers', async (t) => {
  const { key, yaml } = inlineProvider(ISSUER, '        forwardClaims: { sub: x-user-id }\n');
  const app = await startRecordingApp();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: trailers }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const alice = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'alice', exp: exp() });
  const admin = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'admin', exp: exp() });
  const chunked = (path: string, headers: string[], trailers: string[]): string =>
    `POST ${path} HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}Connection: close${CRLF}${headers.map((h) => h + CRLF).join('')}${CRLF}` +
    `5${CRLF}hello${CRLF}0${CRLF}${trailers.map((h) => h + CRLF).join('')}${CRLF}`;
  const evil = ['x-user-id: admin', `authorization: Bearer ${admin}`, 'x-forwarded-for: 6.6.6.6', 'x-trailer-only: 1'];

  const cases: [string, string, string[], string | undefined][] = [
    ['public path', '/public/x', [], undefined],
    ['protected path with a valid token', '/api/x', [`Authorization: Bearer ${alice}`], 'alice'],
  ];
  for (const [name, path, headers, user] of cases) {
    const n = app.received.length;
    const raw = await rawExchange(p.proxy.port, [chunked(path, headers, evil)]);
    t.equal(statuses(raw)[0], 200, `${name}: answered 200`);
    t.equal(app.received.length, n + 1, `${name}: the app got the request`);
    const got = app.received[n];
    if (got === undefined) continue;
    t.equal(got.body, 'hello', `${name}: body intact`);
    const h = pairs(got);
    t.same(
      h.filter(([k]) => k === 'x-user-id').map(([, v]) => v),
      user === undefined ? [] : [user],
      `${name}: x-user-id only as the sidecar set it`,
    );
    t.same(
      h.filter(([k]) => k === 'x-forwarded-for').map(([, v]) => v),
      ['127.0.0.1'],
      `${name}: x-forwarded-for only the client address`,
    );
    t.notOk(
      h.some(([k]) => k === 'x-trailer-only'),
      `${name}: a trailer field is not a header`,
    );
    t.notOk(
      h.some(([k, v]) => k === 'authorization' && v.includes(admin)),
      `${name}: the trailer's authorization is not a header`,
    );
  }

  // A token only in the trailer section authenticates nothing.
  const n = app.received.length;
  const raw = await rawExchange(p.proxy.port, [chunked('/api/x', [], [`authorization: Bearer ${alice}`])]);
  await sleep(30);
  t.equal(statuses(raw)[0], 401, 'a token only in a trailer: 401');
  t.equal(app.received.length, n, 'and the app got nothing');
});

// Finding 6: with trusted hops, the access log and IP bans use the same client address as rate limits.
t.test('clientAddress.trustedHops: the log and the ban check use the forwarded client address', async (t) => {
  const redis = await RedisProcess.start();
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const app = await startRecordingApp();
  const { key, yaml } = inlineProvider(ISSUER);
  const p = await startProxy(app.url, ['--redis', redis.url, '--redis-timeout', '1s'], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: hops }
spec:
  clientAddress: { trustedHops: 1 }
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/public/*] }, require: none }
    revocation: { enabled: true, onRedisError: deny }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
    client.disconnect();
    await redis.stop();
  });
  const token = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'alice', exp: exp() });
  const get = async (path: string, xff: string | undefined, auth = false): Promise<number> => {
    const headers: Record<string, string> = {};
    if (xff !== undefined) headers['x-forwarded-for'] = xff;
    if (auth) headers.authorization = `Bearer ${token}`;
    const r = await request(`${p.url}${path}`, { headers });
    await r.body.dump();
    return r.statusCode;
  };

  // The sidecar starts without waiting for Redis, and this policy denies (503) while revocation
  // cannot be checked: the first requests may come before the connection does.
  let first = await get('/public/log', '203.0.113.7');
  for (let i = 0; i < 50 && first === 503; i++) {
    await sleep(100);
    first = await get('/public/log', '203.0.113.7');
  }
  t.equal(first, 200, 'served');
  await sleep(50);
  t.equal(
    p.logs.filter((l) => l.msg === 'request' && l.path === '/public/log').at(-1)?.client_ip,
    '203.0.113.7',
    'the access log names the address the trusted hop forwarded',
  );

  await client.set('banned:ip:203.0.113.7', '1', 'EX', 60);
  t.equal(await get('/public/x', '203.0.113.7'), 403, 'a banned address through one trusted hop is refused on a public path');
  t.equal(await get('/api/x', '203.0.113.7', true), 403, 'and with a valid token');
  // Controls: the address left of the trusted hop's entry is the client's own claim; other addresses pass.
  t.equal(await get('/public/x', '203.0.113.7, 198.51.100.1'), 200, 'a client-written entry left of the trusted one is not the address');
  t.equal(await get('/public/x', '198.51.100.2'), 200, 'another address passes');
  t.equal(await get('/public/x', undefined), 200, 'no x-forwarded-for: the socket peer, not banned');
});

/** Status (and allow header) of a request, 0 when the connection is refused or dropped. */
async function admin(url: string, method = 'GET'): Promise<{ status: number; allow: string | undefined }> {
  try {
    const r = await request(url, { method });
    await r.body.dump();
    const allow = r.headers.allow;
    return { status: r.statusCode, allow: Array.isArray(allow) ? allow.join(',') : allow };
  } catch {
    return { status: 0, allow: undefined };
  }
}

// Finding 7: GET on /drain and /quitquitquit (a link, a prefetch, a probe) must not stop the sidecar.
t.test('admin: GET /drain and GET /quitquitquit are 405 and start no shutdown', async (t) => {
  for (const path of ['/drain', '/quitquitquit']) {
    await t.test(path, async (t) => {
      const app = await startHttpApp();
      const p = await startProxy(app.url, ['--drain-delay', '2s']);
      t.teardown(async () => {
        await p.close();
        await app.close();
      });
      const r = await admin(`${p.adminUrl}${path}`);
      t.equal(r.status, 405, `GET ${path}: 405`);
      t.equal(r.allow, 'POST', 'allow: POST');
      await sleep(100);
      t.equal((await admin(`${p.adminUrl}/healthz/ready`)).status, 200, 'still ready afterwards');
      t.equal((await admin(`${p.url}/fast`)).status, 200, 'still serving');
      t.notOk(
        p.logs.some((l) => l.msg === 'draining'),
        'no drain was started',
      );
    });
  }
  await t.test('control: POST still works', async (t) => {
    const app = await startHttpApp();
    const a = await startProxy(app.url, ['--drain-delay', '2s']);
    const b = await startProxy(app.url, []);
    t.teardown(async () => {
      await a.close();
      await b.close();
      await app.close();
    });
    t.equal((await admin(`${a.adminUrl}/drain`, 'POST')).status, 202, 'POST /drain: 202');
    t.equal((await admin(`${a.adminUrl}/healthz/ready`)).status, 503, 'then not ready (draining)');
    t.equal((await admin(`${b.adminUrl}/quitquitquit`, 'POST')).status, 202, 'POST /quitquitquit: 202');
    await b.proxy.whenShutDown();
    t.pass('and the sidecar shut down');
  });
});

// Finding 8: --log-headers must not log a token from a header the provider reads it from.
t.test('--log-headers: no token from a provider-configured source is logged', async (t) => {
  const { key, yaml } = inlineProvider(
    ISSUER,
    '        from: [ { header: x-my-token }, { header: x-jwt }, { header: x-identity, prefix: "JWT " }, { cookie: sid }, { query: at } ]\n',
  );
  const app = await startRecordingApp();
  const p = await startProxy(app.url, ['--log-headers', '--log-level', 'info'], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: log-headers }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const good = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'alice', exp: exp(), jti: 'good-token' });
  const wrongAud = await mint(key, { iss: ISSUER, aud: 'other', sub: 'alice', exp: exp(), jti: 'wrong-aud' });
  const sources: [string, (tok: string) => { path?: string; headers?: Record<string, string> }][] = [
    ['header x-my-token', (tok) => ({ headers: { 'x-my-token': tok } })],
    ['header x-jwt', (tok) => ({ headers: { 'x-jwt': tok } })],
    ['header x-identity with a prefix', (tok) => ({ headers: { 'x-identity': `JWT ${tok}` } })],
    ['cookie sid', (tok) => ({ headers: { cookie: `sid=${tok}` } })],
    ['query at', (tok) => ({ path: `?at=${tok}` })],
  ];
  const leaks: string[] = [];
  for (const [name, place] of sources) {
    for (const [which, tok] of [
      ['valid', good],
      ['invalid', wrongAud],
    ] as const) {
      for (const base of ['/api/x', '/public/x']) {
        const where = place(tok);
        const before = p.logs.length;
        const r = await request(`${p.url}${base}${where.path ?? ''}`, { headers: where.headers ?? {} });
        await r.body.dump();
        await sleep(20);
        const lines = p.logs.slice(before);
        const text = JSON.stringify(lines);
        if (lines.length === 0) leaks.push(`${name}, ${which}, ${base}: no log line (cannot check)`);
        // The signature is the part that makes a token usable: no piece of it may appear.
        if (text.includes(tok) || text.includes(tok.split('.')[2]!)) leaks.push(`${name}, ${which} token, ${base} (${r.statusCode})`);
      }
    }
  }
  t.same(leaks, [], 'no log line contains a token from any configured source');
});

// Finding 9: a Redis URL the parser refuses must not put its password into the error or the logs.
t.test('Redis URLs: no part of the password in any error message or log line', async (t) => {
  const urls: [string, string[]][] = [
    ['redis://user:pa7Q/ss9Z@127.0.0.1:1', ['pa7Q', 'ss9Z']],
    ['redis://user:p7Q@ss9Z@127.0.0.1:1', ['p7Q', 'ss9Z']],
    ['redis://:sEcr3t#fR4g@127.0.0.1:1', ['sEcr3t', 'fR4g']],
    ['redis://user:s3cr3t?x@127.0.0.1:1', ['s3cr3t']],
    ['redis://user:k9P:w8Z@127.0.0.1:1/x', ['k9P', 'w8Z']],
  ];
  const found = (text: string, parts: string[]): string[] => parts.filter((x) => text.includes(x));
  for (const [url, parts] of urls) {
    let direct = '';
    try {
      loadRedisConfig(url, {});
    } catch (err) {
      direct = `${String(err)}\n${(err as Error).stack ?? ''}`;
    }
    t.same(found(direct, parts), [], `loadRedisConfig(${url}): the error names no part of the password (${direct.split('\n', 1)[0]})`);

    // The same URL handed to a starting sidecar: the error it fails with and every line it logged.
    const logs: string[] = [];
    const logStream = new Writable({
      write(c: Buffer, _e, cb) {
        logs.push(String(c));
        cb();
      },
    });
    let started: Proxy | undefined;
    let failure = '';
    try {
      const cfg = parseProxyConfig(
        [
          '--listen',
          '127.0.0.1:0',
          '--admin',
          '127.0.0.1:0',
          '--upstream',
          'http://127.0.0.1:1',
          '--redis',
          url,
          '--policy',
          writePolicy('apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: r }\nspec: {}\n'),
          '--drain-delay',
          '0s',
          '--drain-timeout',
          '1s',
        ],
        {},
      );
      started = await Proxy.start(cfg, { processMetrics: false, logStream, env: {} });
      await sleep(200);
    } catch (err) {
      failure = `${String(err)}\n${(err as Error).stack ?? ''}`;
    }
    if (started !== undefined) await started.shutdown(false);
    t.same(
      found(failure + logs.join(''), parts),
      [],
      `sidegate proxy --redis ${url}: no part of the password in its error or logs (${failure.split('\n', 1)[0] || 'started'})`,
    );
  }
  // Control: a well-formed URL still parses, password included.
  const c = loadRedisConfig('redis://app:G00d-pass@127.0.0.1:6380/2', {});
  t.same(c.topology, { kind: 'standalone', node: { host: '127.0.0.1', port: 6380 }, db: 2 });
  t.equal(c.username, 'app');
  t.equal(c.password?.reveal(), 'G00d-pass');
});
