import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { RawH2, GET } from './h2raw.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding (2026-12-06, third review): path case. Express (by default), ASP.NET and
 * others route paths case-insensitively; rules matched them as sent. With a rule for `/admin/*`
 * stricter than the default, `GET /ADMIN/users` fell to the default (any valid token) and an
 * Express app ran the `/admin/users` handler for it. Documented before as a policy-writing
 * concern; now, as for `;parameters`, a path whose case-insensitive reading gets another route,
 * auth rule, limits or maintenance exception is refused, whichever way the app routes it.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-path-case }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/admin/*] }, require: { claims: { role: admin } } }
      - { match: { paths: [/Docs/*] }, require: { claims: { role: writer } } }
    default: { require: none }
`;

t.test('a path whose case-insensitive reading gets another verdict is refused', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (const target of ['/ADMIN/users', '/Admin/users', '/aDmIn', '/docs/x', '/DOCS/x']) {
    const n = app.lines.length;
    const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 300);
    await sleep(30);
    t.same(app.lines.slice(n), [], `${target}: nothing reached the app`);
    t.equal(statuses(raw)[0], 400, `${target}: refused 400`);
  }
  const c = await RawH2.connect(p.proxy.port);
  const n = app.lines.length;
  c.request(1, GET('/ADMIN/users'));
  await c.until(() => c.fate(1) !== 'nothing');
  await sleep(30);
  t.equal(c.fate(1), 'status 400', 'h2c /ADMIN/users: refused 400');
  t.same(app.lines.slice(n), [], 'h2c: nothing reached the app');
  c.close();

  await t.test('control: paths whose case changes nothing are forwarded as sent', async (t) => {
    for (const target of ['/Public/X', '/files/ABC', '/adminx', '/ADMINX']) {
      const m = app.lines.length;
      const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 300);
      await sleep(30);
      t.equal(statuses(raw)[0], 200, `${target}: forwarded`);
      t.same(app.lines.slice(m), [`GET ${target} HTTP/1.1`], `${target}: as sent`);
    }
    const raw = await rawExchange(p.proxy.port, ['GET /admin/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 300);
    t.equal(statuses(raw)[0], 401, '/admin/users itself: judged by its rule (401 without a token)');
    const docs = await rawExchange(p.proxy.port, ['GET /Docs/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 300);
    t.equal(statuses(docs)[0], 401, '/Docs/x as the policy spells it: judged by its rule');
  });
});
