import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { GET, RawH2 } from './h2raw.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding: a segment that is only a ;parameter (`/;x/admin`) leaves an empty segment in
 * the path the rules match (`//admin`), while the app receives `/;x/admin`. Servlet containers
 * (Tomcat, Jetty) strip the parameter and merge the slashes: they route it to /admin. The rule
 * for /admin/* never ran.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-path-params }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/admin/*, /admin] }, require: { claims: { role: admin } } }
      - { match: { paths: ['/*'] }, require: none }
`;
const targets = ['/;x/admin/secret', '/;/admin/secret', '/;jsessionid=1/admin'];

t.test('a parameter-only segment does not take a request out of its rule', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (const target of targets) {
    const n = app.lines.length;
    const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 300);
    await sleep(30);
    t.same(app.lines.slice(n), [], `HTTP/1.1 ${target}: nothing reached the app without an admin token`);
    t.not(statuses(raw)[0], 200, `HTTP/1.1 ${target}: not answered 200`);
    const m = app.lines.length;
    const c = await RawH2.connect(p.proxy.port);
    c.request(1, GET(target));
    await c.until(() => c.fate(1) !== 'nothing');
    const fate = c.fate(1);
    c.close();
    await sleep(30);
    t.same(app.lines.slice(m), [], `h2c ${target}: nothing reached the app (${fate})`);
  }
});
