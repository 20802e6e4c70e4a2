import { connect as h2connect } from 'node:http2';
import t from 'tap';
import { h2request } from '../helpers/h2.js';
import { mint } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { inlineProvider, rawExchange, startRecordingApp, statuses } from './support.js';

/**
 * Path tricks against path-based auth rules, over HTTP/1.1 and HTTP/2: whatever reaches the app
 * must be a path whose rule was actually applied. The app side is judged with the readings real
 * apps use: WHATWG URL parsing (dots, %2e, backslashes), percent-decoding, repeated slashes merged.
 */
const ISSUER = 'https://idp.paths.test';
const { key, yaml } = inlineProvider(ISSUER);
const POLICY = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: paths }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/public/*] }, require: none }
      - { match: { paths: [/admin/*] }, require: { claims: { role: [admin] } } }
`;

const TRICKS = [
  '//admin/x',
  '///admin/x',
  '/./admin/x',
  '/public/../admin/x',
  '/public/./../admin/x',
  '/public/%2e%2e/admin/x',
  '/public/%2E%2E/admin/x',
  '/public/.%2e/admin/x',
  '/public/%2e./admin/x',
  '/%61dmin/x',
  '/%2561dmin/x',
  '/public/..%2fadmin/x',
  '/public/..%2Fadmin/x',
  '/public/..%5cadmin/x',
  '/public\\..\\admin/x',
  '/public/..\\admin/x',
  '/public/%252e%252e/admin/x',
  '/public/..;/admin/x',
  '/public/x/../../admin/x',
  '/public/x#/../../admin/x',
  '/public/x?/../../admin/x',
  '/public/%00/../admin/x',
  '/public/%2e%2e%2fadmin/x',
  '/public/..%252fadmin/x',
  '/admin',
  '/admin/',
  '/public/..',
  '/public/../admin',
  '/admin;/x',
  '/admin;jsessionid=1/x',
  '/public/.;/../admin/x',
];

/** The path an app would route on, under the readings apps commonly apply (each decodes at most once). */
function appReadings(target: string): Record<string, string> {
  const path = target.split('?')[0]!;
  const parse = (p: string): string => {
    try {
      return new URL(p, 'http://x').pathname;
    } catch {
      return p;
    }
  };
  const decode = (p: string): string => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  };
  return {
    raw: path,
    'WHATWG URL (Node, Go, browsers)': parse(path),
    'URL then percent-decoded (Express params, Flask)': decode(parse(path)),
    'slashes merged (nginx merge_slashes, Spring)': parse(path.replace(/\/{2,}/g, '/')),
    // Servlet containers drop ;params from every segment before resolving dots (Tomcat, Jetty).
    'servlet path parameters removed (Tomcat, Spring)': parse(
      path
        .split('/')
        .map((seg) => seg.split(';')[0])
        .join('/'),
    ),
  };
}
const adminReading = (target: string): string | undefined =>
  Object.entries(appReadings(target)).find(([, p]) => /^\/admin(?:\/|$)/i.test(p))?.[0];

t.test('path tricks cannot reach /admin without the admin role', async (t) => {
  const app = await startRecordingApp();
  const p = await startProxy(app.url, [], { policy: POLICY });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const user = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'u', role: 'user', exp });
  const admin = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'a', role: 'admin', exp });
  const s = h2connect(p.url);
  t.teardown(() => s.close());

  const summary: string[] = [];
  for (const trick of TRICKS) {
    for (const [who, tok] of [
      ['anonymous', undefined],
      ['user', user],
    ] as const) {
      const n = app.received.length;
      const auth = tok === undefined ? '' : `Authorization: Bearer ${tok}\r\n`;
      const h1 = statuses(await rawExchange(p.proxy.port, [`GET ${trick} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`]))[0];
      let h2: number | string;
      try {
        const r = await h2request(s, { ':path': trick, ...(tok === undefined ? {} : { authorization: `Bearer ${tok}` }) });
        h2 = Number(r.headers[':status']);
      } catch (err) {
        h2 = `refused (${(err as { code?: string }).code ?? 'error'})`;
      }
      const got = app.received.slice(n).map((r) => r.url);
      summary.push(`${trick} as ${who}: h1 ${h1}, h2 ${h2}, app got [${got.join(', ')}]`);
      for (const url of got) {
        const reading = adminReading(url);
        t.equal(
          reading,
          undefined,
          `${trick} as ${who}: the app got ${url}${reading === undefined ? ', which no app reads as /admin' : `, read as /admin by: ${reading}`}`,
        );
      }
      // Where sidegate's own reading (dots resolved, unreserved escapes decoded) is /admin, the admin rule must apply.
      if (/^\/admin(?:\/|$)/.test(appReadings(trick)['WHATWG URL (Node, Go, browsers)']!)) {
        t.ok(h1 === 400 || h1 === 401 || h1 === 403, `${trick} as ${who} (HTTP/1.1): refused (${h1})`);
        t.ok(typeof h2 === 'string' || h2 === 400 || h2 === 401 || h2 === 403, `${trick} as ${who} (HTTP/2): refused (${h2})`);
      }
    }
  }
  t.comment(summary.join('\n'));

  // The admin role does get through, with the path the rule saw.
  const n = app.received.length;
  const ok = await rawExchange(p.proxy.port, [
    `GET /public/../admin/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nConnection: close\r\n\r\n`,
  ]);
  t.equal(statuses(ok)[0], 200, 'an admin passes');
  t.same(
    app.received.slice(n).map((r) => r.url),
    ['/admin/x'],
    'and the app receives the normalised path',
  );
});
