import t from 'tap';
import { mint } from '../helpers/jwks.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { GET, RawH2 } from './h2raw.js';
import { inlineProvider, rawExchange, sleep, statuses } from './support.js';

/**
 * Request targets and methods at the boundary between what the sidecar judges and what the app
 * reads. The app is a raw HTTP/1.1 server recording each request head byte for byte (a node:http
 * app would refuse some of these heads itself and hide what the sidecar sent).
 */
const ISSUER = 'https://idp.hostile.test';
const exp = (): number => Math.floor(Date.now() / 1000) + 600;
const esc = (s: string): string => s.replace(/[^\x21-\x7e]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** One request on a fresh raw h2c connection: how the sidecar ended it (`status N`, `RST_STREAM ...`). */
async function h2Fate(p: RunningProxy, fields: readonly (readonly [string, string])[]): Promise<string> {
  const c = await RawH2.connect(p.proxy.port);
  c.request(1, fields);
  await c.until(() => c.fate(1) !== 'nothing');
  const fate = c.fate(1);
  c.close();
  return fate;
}

const refused = (fate: string): boolean => /^(RST_STREAM|GOAWAY|status 4\d\d)/.test(fate);

// Finding 3: a '#' in the request target (HTTP/1.1 and h2c).
t.test('a request target with a fragment (#) is refused; the app never sees it', async (t) => {
  const { yaml } = inlineProvider(ISSUER);
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: fragment }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/exact/secret] }, require: { claims: { role: admin } } }
      - { match: { paths: [/exact/*, /public/*] }, require: none }
`;
  // Apps drop the fragment when they route: '/exact/secret#x' is /exact/secret to them, which
  // needs an admin token; the sidecar matches the whole string against /exact/* (no token).
  const targets = ['/exact/secret#x', '/exact/secret#', '/public/x#/../../admin/secret', '/admin/secret#/../../public/x'];
  await t.test('HTTP/1.1 and h2c', async (t) => {
    const app = await startLineApp();
    const p = await startProxy(app.url, [], { policy });
    t.teardown(async () => {
      await p.close();
      await app.close();
    });
    for (const target of targets) {
      const n = app.lines.length;
      const raw = await rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      await sleep(30);
      t.same(app.lines.slice(n), [], `HTTP/1.1 ${target}: nothing reached the app`);
      t.equal(statuses(raw)[0], 400, `HTTP/1.1 ${target}: answered 400`);
      const m = app.lines.length;
      const fate = await h2Fate(p, GET(target));
      await sleep(30);
      t.same(app.lines.slice(m), [], `h2c ${target}: nothing reached the app`);
      t.ok(fate === 'status 400' || fate.startsWith('RST_STREAM'), `h2c ${target}: refused with 400 or a reset (${fate})`);
    }
  });
});

// Finding 4: an HTTP/2 :method in lower case must not dodge method-keyed rules and limits.
t.test('HTTP/2 :method case: post is judged as POST (or refused), never relayed past a POST rule', async (t) => {
  const { key, yaml } = inlineProvider(ISSUER);
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: method-case }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/admin/*], methods: [POST] }, require: { claims: { role: admin } } }
      - { match: { paths: [/rl/*] }, require: none }
  rateLimits:
    - { name: per-method, match: { paths: [/rl/*] }, key: [ { method: true } ], limit: { requests: 1, per: 1m }, onRedisError: local }
`;
  await t.test('HTTP/1.1 and h2c', async (t) => {
    const app = await startLineApp();
    const p = await startProxy(app.url, [], { policy });
    t.teardown(async () => {
      await p.close();
      await app.close();
    });
    const user = await mint(key, { iss: ISSUER, aud: 'hostile', sub: 'bob', role: 'user', exp: exp() });
    const auth: [string, string] = ['authorization', `Bearer ${user}`];
    const req = (method: string, path: string): (readonly [string, string])[] => [
      [':method', method],
      [':scheme', 'http'],
      [':authority', 'x'],
      [':path', path],
      auth,
    ];

    // Control: POST with a non-admin token is refused 403.
    t.equal(await h2Fate(p, req('POST', '/admin/x')), 'status 403', 'control: POST /admin/x with a user token is 403');
    for (const m of ['post', 'Post', 'pOST']) {
      const n = app.lines.length;
      const fate = await h2Fate(p, req(m, '/admin/x'));
      await sleep(30);
      t.same(app.lines.slice(n), [], `${m} /admin/x: nothing reached the app`);
      t.ok(refused(fate), `${m} /admin/x: refused 4xx or reset (${fate})`);
    }

    // One request per method and minute: spelling the method differently buys no more.
    const fates: string[] = [];
    const n = app.lines.length;
    for (const m of ['POST', 'post', 'Post', 'pOsT']) fates.push(`${m}: ${await h2Fate(p, req(m, '/rl/x'))}`);
    await sleep(30);
    const relayed = app.lines.slice(n).filter((l) => / \/rl\/x /.test(l));
    t.equal(
      relayed.length,
      1,
      `the method-keyed limit let exactly one request through (${fates.join(', ')}; app got ${JSON.stringify(relayed)})`,
    );
  });
});

// Finding 5: bytes in :path that are not valid in an HTTP/1.1 request target.
t.test('h2c :path with bytes invalid in a request target never reaches the app', async (t) => {
  const { yaml } = inlineProvider(ISSUER);
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: path-bytes }
spec:
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/public/*] }, require: none }
`;
  const paths = [
    '/public/x /admin/y',
    '/public/x HTTP/1.1',
    '/public/x\t/admin/y',
    '/public/x\x7f',
    '/public/x\xff',
    '/public/x\x80',
    '/public/x\x01',
    '/public/x\x0b',
    '/public/x\x0c',
    '/public/x\x1b',
    '/public/x\x1f',
  ];
  await t.test('HTTP/1.1 and h2c', async (t) => {
    const app = await startLineApp();
    const p = await startProxy(app.url, [], { policy });
    t.teardown(async () => {
      await p.close();
      await app.close();
    });
    t.equal(await h2Fate(p, GET('/public/ok')), 'status 200', 'control: a plain path is served');
    const outcomes: string[] = [];
    for (const path of paths) {
      const n = app.lines.length;
      const fate = await h2Fate(p, GET(path));
      await sleep(30);
      const got = app.lines.slice(n);
      outcomes.push(`${esc(path)}: ${fate}, app got ${JSON.stringify(got.map(esc))}`);
      t.same(got.map(esc), [], `${esc(path)}: no request line reached the app`);
      t.ok(refused(fate), `${esc(path)}: refused with 400 or a reset (${fate})`);
    }
    t.comment(outcomes.join('\n'));
  });
});
