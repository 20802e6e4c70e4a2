import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding: an exact path rule (`/exact/secret`) does not match `/exact/secret/` (nor
 * `/exact/secret/.`, which normalises to it), so the request falls to the next rule, while
 * Express (strict routing off, the default), Spring MVC before 6 and Flask's strict_slashes
 * redirects route it to the `/exact/secret` handler. docs/security.md warns about case, not this.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-slash }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/exact/secret] }, require: { claims: { role: admin } } }
      - { match: { paths: [/exact/*] }, require: none }
`;

t.test('a trailing slash does not take a request out of its exact rule', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (const target of ['/exact/secret', '/exact/secret/', '/exact/secret/.', '/exact/secret//']) {
    const n = app.lines.length;
    const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 300);
    await sleep(30);
    t.same(app.lines.slice(n), [], `${target}: nothing reached the app without an admin token (${JSON.stringify(app.lines.slice(n))})`);
    t.equal(statuses(raw)[0], 401, `${target}: 401`);
  }
});
