import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep } from './support.js';

/**
 * Review finding: docs/security.md says "`x-forwarded-proto`, `via` and `x-request-id` are the
 * sidecar's", but a client's own `X-Forwarded-Proto: https` on a cleartext connection reaches the
 * app as sent (apps decide Secure cookies, redirects and "only over TLS" checks on it).
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: review-xfp }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`;

t.test('x-forwarded-proto is the scheme the sidecar saw', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  await rawExchange(p.proxy.port, ['GET /public/x HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n'], 300);
  await sleep(30);
  const protos = [...(app.heads.at(-1) ?? '').matchAll(/\r\nx-forwarded-proto: ([^\r]*)/gi)].map((m) => m[1]);
  t.same(protos, ['http'], `the app got x-forwarded-proto ${JSON.stringify(protos)} on a cleartext connection`);
});
