import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding: a rule with `methods: [GET]` does not match HEAD, while Express, Flask, Rails,
 * Go's ServeMux ("GET /x" patterns) and Spring run the GET handler for a HEAD request. The app
 * runs the handler the rule protects (its status and headers go back to the client) under a rule
 * that never matched.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-head }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/admin/*], methods: [GET] }, require: { claims: { role: admin } } }
      - { match: { paths: ['/*'] }, require: none }
`;

t.test('HEAD is judged by the rule for GET', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const get = await rawExchange(p.proxy.port, ['GET /admin/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 300);
  t.equal(statuses(get)[0], 401, 'GET /admin/secret needs the admin token');
  const n = app.lines.length;
  const head = await rawExchange(p.proxy.port, ['HEAD /admin/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 300);
  await sleep(30);
  t.same(app.lines.slice(n), [], 'HEAD /admin/secret never reached the app');
  t.equal(statuses(head)[0], 401, 'HEAD /admin/secret answered 401 like GET');
});
