import { connect as h2connect } from 'node:http2';
import t from 'tap';
import { request } from 'undici';
import { h2request } from '../helpers/h2.js';
import { mint } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { inlineProvider, rawExchange, sleep, startRecordingApp, statuses, type Received } from './support.js';

/**
 * Identity the app trusts comes from the sidecar only: claim values that could split or smuggle a
 * header are refused or encoded, identity headers sent by the client never reach the app, and a
 * client cannot make the sidecar drop the headers it added.
 */
const ISSUER = 'https://idp.hostile.test';
const { key, yaml } = inlineProvider(ISSUER, '        forwardClaims: { sub: x-user-id, tenant: x-tenant-id, roles: x-roles }\n');
const POLICY = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: identity }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/public/*] }, require: none }
  rateLimits:
    - { name: per-ip, match: { paths: [/limited/*] }, key: [ { clientIp: true } ], limit: { requests: 2, per: 1m }, onRedisError: local }
`;
const exp = (): number => Math.floor(Date.now() / 1000) + 600;
const CONTROL = /[\r\n\0]/;
const esc = (s: string): string => s.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

t.test('claims, spoofing and hop-by-hop tricks', async (t) => {
  const app = await startRecordingApp();
  const p = await startProxy(app.url, [], { policy: POLICY });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const token = (claims: Record<string, unknown>): Promise<string> => mint(key, { iss: ISSUER, aud: 'hostile', exp: exp(), ...claims });
  const last = (): Received => app.received.at(-1)!;
  /** Every header the app got, raw, as [name, value] pairs. */
  const pairs = (r: Received): [string, string][] => {
    const out: [string, string][] = [];
    for (let i = 0; i < r.rawHeaders.length; i += 2) out.push([r.rawHeaders[i]!.toLowerCase(), r.rawHeaders[i + 1]!]);
    return out;
  };

  await t.test('claim values with CR, LF or NUL are refused, never forwarded', async (t) => {
    for (const sub of ['alice\r\nx-injected: 1', 'alice\nx-injected: 1', 'alice\rx', 'al\0ice']) {
      const n = app.received.length;
      const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${await token({ sub })}` } });
      const body = await r.body.text();
      t.equal(r.statusCode, 401, `${JSON.stringify(sub)}: 401`);
      t.match(body, /SIDEGATE_ERR_UNAUTHENTICATED/);
      t.equal(app.received.length, n, `${JSON.stringify(sub)}: not forwarded`);
    }
    // Nested inside an array or object claim they are JSON-escaped, which is safe to forward.
    const r = await request(`${p.url}/api/x`, {
      headers: { authorization: `Bearer ${await token({ sub: 'bob', roles: ['a\r\nx-injected: 1'] })}` },
    });
    await r.body.dump();
    if (r.statusCode === 200) {
      const h = pairs(last());
      t.notOk(
        h.some(([n, v]) => n === 'x-injected' || CONTROL.test(v)),
        'an array claim is forwarded without control characters',
      );
      t.equal(last().headers['x-roles'], '["a\\r\\nx-injected: 1"]', 'as escaped JSON');
    } else {
      t.equal(r.statusCode, 401, 'or refused');
    }
  });

  await t.test('non-ASCII claim values: forwarded as UTF-8 bytes, one header, nothing split', async (t) => {
    // Names are escaped: a raw U+2028 or U+0085 in a test name breaks the TAP stream.
    for (const sub of ['Zoë', '用户', 'emoji-😀', 'x\u0085y', 'a\u2028b']) {
      const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${await token({ sub })}` } });
      await r.body.dump();
      if (r.statusCode !== 200) {
        t.equal(r.statusCode, 401, `${esc(sub)}: refused`);
        continue;
      }
      const got = pairs(last()).filter(([n]) => n === 'x-user-id');
      t.equal(got.length, 1, `${esc(sub)}: exactly one x-user-id`);
      t.equal(Buffer.from(got[0]![1], 'latin1').toString('utf8'), sub, `${esc(sub)}: its UTF-8 bytes, intact`);
      t.notOk(
        pairs(last()).some(([, v]) => CONTROL.test(v)),
        `${esc(sub)}: no control characters reach the app`,
      );
    }
  });

  await t.test('identity headers sent by the client never reach the app', async (t) => {
    const alice = await token({ sub: 'alice', tenant: 't1' });
    const spoof = { 'x-user-id': 'admin', 'X-Tenant-Id': 'evil', 'x-roles': 'admin' };
    // Authenticated: the sidecar's values replace the client's.
    let r = await request(`${p.url}/api/x`, { headers: { ...spoof, authorization: `Bearer ${alice}` } });
    await r.body.dump();
    t.equal(r.statusCode, 200);
    t.same(
      pairs(last()).filter(([n]) => n.startsWith('x-user') || n.startsWith('x-tenant') || n === 'x-roles'),
      [
        ['x-user-id', 'alice'],
        ['x-tenant-id', 't1'],
      ],
      'only the verified values',
    );
    // Public path, no token: no identity header at all.
    r = await request(`${p.url}/public/x`, { headers: spoof });
    await r.body.dump();
    t.equal(r.statusCode, 200);
    t.same(
      pairs(last()).filter(([n]) => n === 'x-user-id' || n === 'x-tenant-id' || n === 'x-roles'),
      [],
      'stripped on public paths too',
    );
    // Repeated and oddly cased over raw HTTP/1.1.
    const raw = await rawExchange(p.proxy.port, [
      `GET /public/x HTTP/1.1\r\nHost: x\r\nX-USER-ID: admin\r\nx-user-id: root\r\nx-user-id:\tsystem\r\nConnection: close\r\n\r\n`,
    ]);
    t.equal(statuses(raw)[0], 200);
    t.notOk(
      pairs(last()).some(([n]) => n === 'x-user-id'),
      'repeated, upper-case and tab-led copies are stripped',
    );
    // Underscore spellings: CGI-style gateways (WSGI, PHP, Rack) read x_user_id as x-user-id.
    const under = await rawExchange(p.proxy.port, [
      `GET /public/x HTTP/1.1\r\nHost: x\r\nX_User_Id: admin\r\nx_tenant-id: evil\r\nx-tenant_id: evil\r\nConnection: close\r\n\r\n`,
    ]);
    t.equal(statuses(under)[0], 200);
    t.same(
      pairs(last()).filter(([n]) => n.replace(/_/g, '-') === 'x-user-id' || n.replace(/_/g, '-') === 'x-tenant-id'),
      [],
      'underscore spellings are stripped too',
    );
    // Over HTTP/2.
    const s = h2connect(p.url);
    t.teardown(() => s.close());
    const h2 = await h2request(s, { ':path': '/public/h2', 'x-user-id': 'admin', 'x-tenant-id': 'evil' });
    t.equal(h2.headers[':status'], 200);
    t.notOk(
      pairs(last()).some(([n]) => n === 'x-user-id' || n === 'x-tenant-id'),
      'and over HTTP/2',
    );
  });

  await t.test('a client cannot make the sidecar drop the headers it adds (Connection: <name>)', async (t) => {
    const alice = await token({ sub: 'alice', tenant: 't1' });
    // Raw bytes: HTTP clients refuse to send such a Connection header themselves.
    const raw = await rawExchange(p.proxy.port, [
      `GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice}\r\nX-Forwarded-Proto: http\r\n` +
        'Connection: close, x-user-id, x-tenant-id, x-forwarded-for, x-forwarded-proto, x-request-id, via\r\n\r\n',
    ]);
    t.equal(statuses(raw)[0], 200);
    const h = last().headers;
    t.equal(h['x-user-id'], 'alice', 'x-user-id added by the sidecar survives');
    t.equal(h['x-tenant-id'], 't1', 'x-tenant-id added by the sidecar survives');
    t.match(String(h['x-forwarded-for']), /127\.0\.0\.1$/, 'x-forwarded-for ends with the client address');
    t.equal(h['x-forwarded-proto'], 'http', 'x-forwarded-proto is set');
    t.ok(h['x-request-id'], 'x-request-id is set');
    t.match(String(h.via), /sidegate/, 'via is set');
  });

  await t.test('a spoofed x-forwarded-for does not change the client address limits key on', async (t) => {
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(`${p.url}/limited/x`, {
        headers: { authorization: `Bearer ${await token({ sub: 'carol' })}`, 'x-forwarded-for': `10.0.0.${i}` },
      });
      await r.body.dump();
      got.push(r.statusCode);
    }
    t.same(got, [200, 200, 429, 429], 'one bucket for the real client address');
    await sleep(20);
    const line = p.logs.filter((l) => l.msg === 'request').at(-1);
    t.equal(line?.client_ip, '127.0.0.1', 'and the log names the real address');
  });
});
