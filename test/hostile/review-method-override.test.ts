import t from 'tap';
import { mint } from '../helpers/jwks.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { POST, RawH2 } from './h2raw.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Review finding (2026-12-06, third review): method override. Express's `method-override`,
 * Rack::MethodOverride (Rails), Symfony and Laravel, gorilla/handlers and others let a POST act
 * as the method named in `X-HTTP-Method-Override` (or `X-HTTP-Method`, `X-Method-Override`, a
 * `_method` parameter). The sidecar judged the request as the POST it was sent as; the app ran
 * the DELETE handler the policy reserves for admins. Whichever method the app acts on, it must
 * be the verdict the sidecar reached: when the overriding method would get another route, auth
 * rule or limits, the request is refused.
 */
const ISSUER = 'https://idp.hostile.test';
const { key, yaml } = inlineProvider(ISSUER);
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-method-override }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/items/*], methods: [DELETE, PATCH] }, require: { claims: { role: admin } } }
      - { match: { paths: ['/*'] }, require: none }
`;

const request = (target: string, lines: readonly string[]): string =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`;

async function h2Fate(p: RunningProxy, path: string, extra: readonly (readonly [string, string])[]): Promise<string> {
  const c = await RawH2.connect(p.proxy.port);
  c.request(1, POST(path, extra));
  await c.until(() => c.fate(1) !== 'nothing');
  const fate = c.fate(1);
  c.close();
  return fate;
}

t.test('a method override cannot take a request out of the rule for the method the app acts on', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });

  const overrides: [string, string, string[]][] = [
    ['X-HTTP-Method-Override', '/items/1', ['X-HTTP-Method-Override: DELETE']],
    ['lowercase value', '/items/1', ['x-http-method-override: delete']],
    ['a list (Express reads the first)', '/items/1', ['X-HTTP-Method-Override: DELETE, POST']],
    ['X-HTTP-Method', '/items/1', ['X-HTTP-Method: PATCH']],
    ['X-Method-Override', '/items/1', ['X-Method-Override: DELETE']],
    ['underscore spelling (CGI, WSGI, Rack)', '/items/1', ['X_HTTP_METHOD_OVERRIDE: DELETE']],
    ['_method query parameter', '/items/1?_method=DELETE', []],
    ['_method query parameter, encoded name', '/items/1?%5Fmethod=delete', []],
    ['_method query parameter, encoded value', '/items/1?x=1&_method=DEL%45TE', []],
    // PHP (Laravel, Symfony) turns '.', ' ' and an unmatched '[' in a parameter name into '_'.
    ['_method as PHP reads ".method"', '/items/1?.method=DELETE', []],
    ['_method as PHP reads "%2Emethod"', '/items/1?%2Emethod=DELETE', []],
    ['_method as PHP reads " method" and "[method"', '/items/1?+method=DELETE&%5Bmethod=PATCH', []],
    // Express routes case-insensitively: DELETE /ITEMS/1 runs the /items/:id handler.
    ['an override on a path in capitals', '/ITEMS/1', ['X-HTTP-Method-Override: DELETE']],
  ];
  for (const [name, target, lines] of overrides) {
    const n = app.heads.length;
    const raw = await rawExchange(p.proxy.port, [request(target, lines)], 300);
    await sleep(30);
    t.same(app.lines.slice(n), [], `HTTP/1.1 ${name}: nothing reached the app`);
    t.equal(statuses(raw)[0], 400, `HTTP/1.1 ${name}: refused 400 (got ${JSON.stringify(statuses(raw))})`);
  }

  const h2: [string, string, [string, string][]][] = [
    ['x-http-method-override', '/items/1', [['x-http-method-override', 'DELETE']]],
    ['x_http_method', '/items/1', [['x_http_method', 'patch']]],
    ['_method', '/items/1?_method=DELETE', []],
  ];
  for (const [name, path, extra] of h2) {
    const n = app.heads.length;
    const fate = await h2Fate(p, path, extra);
    await sleep(30);
    t.same(app.lines.slice(n), [], `h2c ${name}: nothing reached the app`);
    t.equal(fate, 'status 400', `h2c ${name}: refused 400`);
  }

  await t.test('control: an override with the same verdict is forwarded as sent', async (t) => {
    for (const [target, lines] of [
      ['/items/1', ['X-HTTP-Method-Override: PUT']],
      ['/other', ['X-HTTP-Method-Override: DELETE']],
      ['/items/1?_method=GET', []],
      ['/items/1?x_method=DELETE', []],
      ['/items/1?.methodx=DELETE', []],
    ] as const) {
      const n = app.heads.length;
      const raw = await rawExchange(p.proxy.port, [request(target, lines)], 300);
      await sleep(30);
      t.equal(statuses(raw)[0], 200, `${target} ${lines.join(' ')}: forwarded`);
      t.equal(app.lines.slice(n)[0], `POST ${target} HTTP/1.1`, `${target}: the app got it`);
      for (const l of lines) t.match(app.heads.at(-1) ?? '', new RegExp(l, 'i'), 'with the override header');
    }
  });

  await t.test('control: a DELETE itself still needs the admin token, and gets through with it', async (t) => {
    const raw = await rawExchange(p.proxy.port, ['DELETE /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 300);
    t.equal(statuses(raw)[0], 401, 'no token: 401');
    const token = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'root', role: 'admin', exp: Math.floor(Date.now() / 1000) + 600 });
    const ok = await rawExchange(
      p.proxy.port,
      [`DELETE /items/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`],
      300,
    );
    t.equal(statuses(ok)[0], 200, 'admin token: 200');
  });
});
