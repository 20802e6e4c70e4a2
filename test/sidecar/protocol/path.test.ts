import t from 'tap';
import { request } from 'undici';
import { requestTarget, validAuthority } from '../../../sidecar/src/protocol/target.js';
import { startHttpApp, type Seen } from '../../helpers/apps.js';
import { startProxy } from '../../helpers/proxy.js';
import { connect } from 'node:net';

t.test('requestTarget', async (t) => {
  const ok = (target: string, path: string, full = path, method = 'GET', authority?: string): void => {
    const n = requestTarget(method, target, false);
    t.same(n.ok ? { ...n, paramPath: undefined } : n, { ok: true, path, target: full, authority, paramPath: undefined }, target);
  };
  const params = (target: string, path: string, paramPath: string): void => {
    const n = requestTarget('GET', target, false);
    t.same(n.ok ? [n.path, n.paramPath] : n, [path, paramPath], `${target}: rules see ${path}, routers that keep parameters ${paramPath}`);
  };
  ok('/a/b', '/a/b');
  ok('/a/b?x=../y', '/a/b', '/a/b?x=../y');
  ok('/public/../admin', '/admin');
  ok('/public/./x/../../admin/', '/admin/');
  ok('//admin', '/admin');
  ok('/a//b///c', '/a/b/c');
  ok('/%2e%2e/admin', '/admin');
  ok('/public/%2E%2E/admin?q=1', '/admin', '/admin?q=1');
  ok('/p%75blic/x', '/public/x');
  ok('/a%20b/%c3%a9', '/a%20b/%C3%A9');
  ok('/../../etc', '/etc');
  ok('/a/..', '/');
  ok('/a/.', '/a/');
  ok('http://host.example/p/../q?z', '/q', '/q?z', 'GET', 'host.example');
  ok('http://host.example', '/', '/', 'GET', 'host.example');
  ok('HTTPS://h:8443?x', '/', '/?x', 'GET', 'h:8443');
  ok('*', '*', '*', 'OPTIONS');
  ok('/a?b=|{}^`"<>[]\\', '/a', '/a?b=|{}^`"<>[]\\');
  ok('/admin;jsessionid=1/x', '/admin/x', '/admin;jsessionid=1/x');
  ok('/cars;color=red/x?q', '/cars/x', '/cars;color=red/x?q');
  ok('/a;p/../b', '/b');
  params('/admin;jsessionid=1/x', '/admin/x', '/admin;jsessionid=1/x');
  // A segment that is only a parameter: Tomcat drops it and merges the slashes, so do the rules.
  params('/;x/admin/secret', '/admin/secret', '/;x/admin/secret');
  params('/;/admin', '/admin', '/;/admin');
  const bad = (target: string, re: RegExp, method = 'GET', h2 = false): void => {
    const n = requestTarget(method, target, h2);
    // Escaped: a raw U+2028 in a test name breaks the TAP stream.
    t.equal(
      n.ok,
      false,
      `${method} ${JSON.stringify(target).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`,
    );
    if (!n.ok) t.match(n.reason, re);
  };
  bad('/public/..%2Fadmin', /encoded slash/);
  bad('/a%5cb', /encoded slash/);
  bad('/a\\b', /encoded slash/);
  bad('/a%zz', /percent-encoding/);
  bad('relative/path', /must start with \//);
  bad('/public/..;/admin/x', /dot segment/);
  bad('/public/.;x/../admin', /dot segment/);
  // A fragment is never part of a request target: apps would route without it (RFC 9112 §3.2).
  bad('/exact/secret#x', /fragment/);
  bad('/public/x#/../../admin', /fragment/);
  // Bytes an HTTP/1.1 request line cannot carry (llhttp's set), whichever protocol brought them.
  for (const c of [' ', '\t', '\x7f', '\xff', '\x00', '\r', '\n', '\u00e9', '\u2028']) bad(`/public/x${c}/admin/y`, /byte 0x/, 'GET', true);
  // Methods are case-sensitive tokens (RFC 9110 §9.1): only the ones the HTTP/1.1 parser knows, spelt so.
  for (const m of ['post', 'Post', 'get', 'FOO', 'G ET', '']) bad('/admin/x', /unknown method/, m, true);
  bad('/x', /CONNECT is not supported/, 'CONNECT');
  bad('*', /asterisk-form/, 'GET');
  bad('http://user@h/x', /userinfo/);
  bad('http://h/x', /must start with \//, 'GET', true);
  for (const a of ['h.example', 'h.example:8080', '10.0.0.1:80', '[::1]:8443', '[fe80::1]', '']) t.ok(validAuthority(a), `authority ${a}`);
  for (const a of ['u@h', 'h h', 'h/x', 'h\x7f', 'h:80:x', '[::1', 'h\u00e9'])
    t.notOk(validAuthority(a), `not an authority: ${JSON.stringify(a).replace(/[^\x20-\x7e]/g, '?')}`);
});

t.test('path tricks cannot dodge a path rule: the app receives the path the rule saw', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], {
    policy:
      'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  routes:\n    - { name: public, match: { paths: [/public/*] } }\n    - { name: admin, match: { paths: [/admin/*] } }\n',
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  // undici normalises some of these itself; send raw request lines.
  const rawGet = (target: string): Promise<string> =>
    new Promise((resolve) => {
      const s = connect(p.proxy.port, '127.0.0.1');
      let buf = '';
      s.on('data', (d) => {
        buf += String(d);
      });
      s.on('end', () => resolve(buf));
      s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
  for (const trick of ['/public/../admin/x', '//admin/x', '/public/%2e%2e/admin/x', '/%61dmin/x']) {
    const res = await rawGet(trick);
    const seen = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as Seen;
    t.equal(seen.url, '/admin/x', `${trick} reaches the app as /admin/x`);
  }
  await new Promise((r) => setTimeout(r, 50));
  const routes = p.logs.filter((l) => l.msg === 'request').map((l) => l.route);
  t.same(routes, ['admin', 'admin', 'admin', 'admin'], 'and was matched as the admin route');
  const enc = await rawGet('/public/..%2Fadmin/x');
  t.match(enc, /^HTTP\/1\.1 400/);
  t.match(enc, /encoded slash/);
  const r = await request(`${p.url}/public/ok`);
  t.equal(((await r.body.json()) as Seen).url, '/public/ok');
});
