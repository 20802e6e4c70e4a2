import t from 'tap';
import { mint } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding: "a provider reading its token from a query parameter has it removed before
 * forwarding" holds only for the exact spelling. The sidecar verifies `at=<alice's token>` and
 * removes it, while a second spelling the app decodes to the same name (`%61t=`, a cookie
 * `sid =`) reaches the app: URLSearchParams and the `cookie` package read it as the token, one
 * the sidecar never verified.
 */
const ISSUER = 'https://idp.hostile.test';

t.test('every spelling of the token parameter or cookie the app would read is removed', async (t) => {
  const { key, yaml } = inlineProvider(
    ISSUER,
    '        from: [ { cookie: sid }, { query: at } ]\n        forwardClaims: { sub: x-user-id }\n',
  );
  const app = await startLineApp();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: review-token }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const good = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
  const cases: [string, string, string][] = [
    ['query %61t', `/api/x?at=${good}&%61t=FORGED`, ''],
    ['cookie "sid ="', '/api/x', `Cookie: sid=${good}; sid =FORGED\r\n`],
  ];
  for (const [name, target, extra] of cases) {
    const n = app.heads.length;
    const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`], 300);
    await sleep(30);
    const heads = app.heads.slice(n);
    if (heads.length === 0) {
      t.not(statuses(raw)[0], 200, `${name}: refused`);
      continue;
    }
    const head = heads[0]!;
    const line = head.split('\r\n', 1)[0]!;
    const query = new URLSearchParams(line.split(' ')[1]!.split('?')[1] ?? '');
    t.equal(query.get('at'), null, `${name}: the app's URLSearchParams reads no 'at' (${line})`);
    const cookie = /\r\ncookie: ([^\r]*)/i.exec(head)?.[1] ?? '';
    const sid = cookie
      .split(';')
      .map((c) => c.split('='))
      .find(([k]) => k!.trim() === 'sid');
    t.equal(sid, undefined, `${name}: the app's cookie parser reads no 'sid' (${cookie})`);
  }
});
