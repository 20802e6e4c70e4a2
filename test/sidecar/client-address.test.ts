import t from 'tap';
import { normalizeIp } from '../../sidecar/src/client-address.js';
import { parseRevocations, RevocationList } from '../../sidecar/src/revocation/index.js';

/** One spelling per client address: bans, limits and logs compare these strings. */
t.test('addresses in every spelling come out as one', async (t) => {
  const same: [string, string][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.1:5678', '10.0.0.1'],
    [' 10.0.0.1 ', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['0:0:0:0:0:ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:0a00:0001', '10.0.0.1'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[::1]', '::1'],
  ];
  for (const [given, want] of same) t.equal(normalizeIp(given), want, given);
  t.equal(normalizeIp('not:an address'), 'not:an address', 'not an address: as given');
});

t.test('a ban written in a long IPv6 form holds for the address a socket reports', async (t) => {
  const now = Date.parse('2026-12-06T21:00:00Z');
  const r = parseRevocations(`apiVersion: sidegate.dev/v1
kind: Revocations
bans:
  - { ip: "2001:0DB8:0:0:0:0:0:0001", expires: "2099-01-01T00:00:00Z" }
  - { ip: "0:0:0:0:0:ffff:203.0.113.7", expires: "2099-01-01T00:00:00Z" }
`);
  t.ok(r.ok);
  if (!r.ok) return;
  const list = new RevocationList(r.entries, r.updated);
  t.ok(list.banned('2001:db8::1', now) !== undefined, 'the long form bans 2001:db8::1');
  t.ok(list.banned('203.0.113.7', now) !== undefined, 'the mapped form bans 203.0.113.7');
});
