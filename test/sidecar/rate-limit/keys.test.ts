import t from 'tap';
import { clientIp, hashMaterial, KeyHasher, keyMaterial, keyPrefix, limitTag } from '../../../sidecar/src/stages/rate-limit/keys.js';
import { exchange } from './fixtures.js';

void t.test('client IP: the socket peer unless trusted hops say otherwise', (t) => {
  const xff = { 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.0.0.9' };
  t.equal(
    clientIp(exchange({ remoteAddress: '::ffff:10.1.1.1', headers: xff }), 0),
    '10.1.1.1',
    'x-forwarded-for ignored without trusted hops; v4-mapped normalized',
  );
  t.equal(clientIp(exchange({ headers: xff }), 1), '10.0.0.9', 'one trusted proxy: the entry it appended');
  t.equal(clientIp(exchange({ headers: xff }), 2), '1.2.3.4', 'two trusted proxies: second from the right');
  t.equal(clientIp(exchange({ headers: xff, remoteAddress: '10.0.0.1' }), 4), '10.0.0.1', 'fewer entries than hops: the socket peer');
  t.equal(
    clientIp(exchange({ headers: { 'x-forwarded-for': ['6.6.6.6', '1.2.3.4'] } }), 1),
    '1.2.3.4',
    'repeated header lines are one list',
  );
  t.equal(clientIp(exchange({ remoteAddress: '2001:DB8::1' }), 0), '2001:db8::1');
  t.end();
});

void t.test('key material: every part kind, missing parts share one bucket, no ambiguity', (t) => {
  const ex = exchange({ method: 'POST', route: 'orders', claims: { sub: 'alice', org: { id: 7 } }, headers: { 'x-tenant': 'acme' } });
  const m = keyMaterial(
    [
      { kind: 'claim', name: 'sub' },
      { kind: 'claim', name: 'org.id' },
      { kind: 'header', name: 'X-Tenant' },
      { kind: 'clientIp' },
      { kind: 'method' },
      { kind: 'route' },
      { kind: 'constant', value: 'v1' },
    ],
    ex,
    0,
  );
  t.equal(m, '"alice"\n7\n"acme"\n"10.0.0.1"\n"POST"\n"orders"\n"v1"\n');
  const anon = keyMaterial([{ kind: 'claim', name: 'sub' }], exchange(), 0);
  t.equal(anon, 'null\n', 'no token: the shared "absent" bucket, not an exemption');
  t.not(
    keyMaterial(
      [
        { kind: 'header', name: 'a' },
        { kind: 'header', name: 'b' },
      ],
      exchange({ headers: { a: 'x\n"y"' } }),
      0,
    ),
    keyMaterial(
      [
        { kind: 'header', name: 'a' },
        { kind: 'header', name: 'b' },
      ],
      exchange({ headers: { a: 'x', b: 'y' } }),
      0,
    ),
    'values cannot forge a part boundary',
  );
  t.equal(hashMaterial(m).length, 22);
  t.equal(hashMaterial(m), hashMaterial(m));
  t.not(hashMaterial(m), hashMaterial(anon));
  t.equal(keyPrefix(limitTag('prod', 'orders', 'per-user')), 'sidegate:rl:{prod/orders/per-user}:');
  t.end();
});

void t.test('KeyHasher: the same key as prefix + hashMaterial, also once the oldest materials are forgotten', (t) => {
  const h = new KeyHasher('sidegate:rl:{ns/svc/l}:', 3);
  for (const m of ['a\n', 'b\n', 'a\n', 'c\n', 'd\n', 'a\n'])
    t.equal(h.hash(m), `sidegate:rl:{ns/svc/l}:${hashMaterial(m)}`, `material ${JSON.stringify(m)}`);
  t.end();
});
