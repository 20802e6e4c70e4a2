import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { RawH2, GET } from './h2raw.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding (2026-12-06, third review): URL rewrite headers. Symfony (before 2.7.49, 2.8.44,
 * 3.4.14, 4.1.3), Zend Framework and apps behind IIS's URL Rewrite route on `X-Original-URL` or
 * `X-Rewrite-URL` instead of the request line (CVE-2018-14773): `GET /public/x` with
 * `X-Original-URL: /admin/x` was judged as the public path and routed to the admin handler. The
 * path such a header names must get the verdict the request line got, else the request is
 * refused.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-original-url }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/public/*] }, require: none }
`;

t.test('a URL rewrite header cannot route the app to a path the sidecar did not judge', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const refused = [
    'X-Original-URL: /admin/x',
    'X-Rewrite-URL: /admin/x?a=1',
    'x_original_url: /admin/x',
    'X-Original-URL: /public/../admin/x',
    'X-Original-URL: http://h/admin/x',
    'X-Original-URL: /public/%2fx',
  ];
  for (const line of refused) {
    const n = app.lines.length;
    const raw = await rawExchange(p.proxy.port, [`GET /public/x HTTP/1.1\r\nHost: x\r\n${line}\r\nConnection: close\r\n\r\n`], 300);
    await sleep(30);
    t.same(app.lines.slice(n), [], `${line}: nothing reached the app`);
    t.equal(statuses(raw)[0], 400, `${line}: refused 400`);
  }
  const c = await RawH2.connect(p.proxy.port);
  const n = app.lines.length;
  c.request(1, GET('/public/x', [['x-original-url', '/admin/x']]));
  await c.until(() => c.fate(1) !== 'nothing');
  await sleep(30);
  t.equal(c.fate(1), 'status 400', 'h2c: refused 400');
  t.same(app.lines.slice(n), [], 'h2c: nothing reached the app');
  c.close();

  await t.test('control: a rewrite header naming a path with the same verdict is forwarded', async (t) => {
    const m = app.lines.length;
    const raw = await rawExchange(
      p.proxy.port,
      ['GET /public/x HTTP/1.1\r\nHost: x\r\nX-Original-URL: /public/y\r\nConnection: close\r\n\r\n'],
      300,
    );
    await sleep(30);
    t.equal(statuses(raw)[0], 200, 'forwarded');
    t.same(app.lines.slice(m), ['GET /public/x HTTP/1.1'], 'the app got it');
  });
});
