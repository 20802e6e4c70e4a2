import t from 'tap';
import { mint } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding (2026-12-06, third review): `forward: true` forwards the token, and apps behind
 * a gateway often decode it without verifying (the gateway did). The sidecar verified the first
 * token it found; the app got every token the request carried: a second `sid` cookie (Python's
 * SimpleCookie keeps the last), a second `at` parameter (PHP keeps the last, `qs` gives both), or
 * a token in another of the provider's sources. The app then read a token nobody verified. Now
 * the app receives the verified token alone, once, where it was found.
 */
const ISSUER = 'https://idp.hostile.test';
const FORGED = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.';

t.test('with forward: true the app gets the verified token and no other', async (t) => {
  const { key, yaml } = inlineProvider(
    ISSUER,
    '        from: [ { header: authorization, prefix: "Bearer " }, { cookie: sid }, { query: at } ]\n        forward: true\n        forwardClaims: { sub: x-user-id }\n',
  );
  const app = await startLineApp();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: review-token-forward }\nspec:\n  auth:\n    providers:\n${yaml}`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const good = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
  const cases: [string, string, string][] = [
    ['two sid cookies', '/api/x', `Cookie: sid=${good}; sid=${FORGED}\r\n`],
    ['two sid cookie fields', '/api/x', `Cookie: sid=${good}\r\nCookie: other=1; sid=${FORGED}\r\n`],
    ['two at parameters', `/api/x?at=${good}&at=${FORGED}`, ''],
    ['at spelt %61t after it', `/api/x?at=${good}&%61t=${FORGED}`, ''],
    ['header verified, forged cookie and parameter', `/api/x?at=${FORGED}`, `Authorization: Bearer ${good}\r\nCookie: sid=${FORGED}\r\n`],
  ];
  for (const [name, target, extra] of cases) {
    const n = app.heads.length;
    const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`], 300);
    await sleep(30);
    t.equal(statuses(raw)[0], 200, `${name}: forwarded (alice's token verified)`);
    const head = app.heads.slice(n)[0] ?? '';
    t.notMatch(head, FORGED.slice(0, 20), `${name}: the forged token never reached the app:\n${head}`);
    t.ok(head.includes(good), `${name}: the verified token did`);
    t.equal(head.split(good).length - 1, 1, `${name}: once`);
  }
});
