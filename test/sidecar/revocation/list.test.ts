import t from 'tap';
import { REVOCATIONS_CONFIGMAP as INJECTED_CONFIGMAP, REVOCATIONS_FILE } from '../../../injector/src/constants.js';
import {
  RevocationList,
  formatRevocations,
  parseRevocations,
  REVOCATIONS_CONFIGMAP,
  REVOCATIONS_KEY,
  type RevocationEntry,
} from '../../../sidecar/src/revocation/index.js';

const T0 = Date.parse('2026-12-06T21:00:00Z');
const sec = (ms: number): number => Math.floor(ms / 1000);
const ISS = 'https://id.example.com';

t.test('the injector mounts the ConfigMap and key the sidecar and the CLI use', async (t) => {
  t.equal(INJECTED_CONFIGMAP, REVOCATIONS_CONFIGMAP);
  t.ok(REVOCATIONS_FILE.endsWith(`/${REVOCATIONS_KEY}`));
});

t.test('a well-formed list: every kind parsed, and formatted back to the same entries', async (t) => {
  const text = `apiVersion: sidegate.dev/v1
kind: Revocations
updated: "2026-12-06T21:00:00Z"
tokens:
  - { jti: t-1, expires: "2026-12-07T00:00:00Z", reason: leaked }
  - { issuer: "${ISS}", issuedBefore: "2026-12-06T20:00:00Z", expires: "2026-12-07T20:00:00Z" }
  - { issuer: "${ISS}", subject: alice, issuedBefore: "2026-12-06T21:00:00+01:00", expires: "2026-12-07T20:00:00Z" }
bans:
  - { ip: "::ffff:203.0.113.7", expires: "2026-12-07T00:00:00Z" }
  - { ip: "2001:DB8::1", expires: "2026-12-07T00:00:00Z" }
`;
  const r = parseRevocations(text);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.problems, []);
  t.same(
    r.entries.map((e) => e.kind),
    ['jti', 'issuer', 'subject', 'ip', 'ip'],
  );
  t.same(
    r.entries[2],
    {
      kind: 'subject',
      issuer: ISS,
      subject: 'alice',
      issuedBefore: Date.parse('2026-12-06T20:00:00Z'),
      expires: Date.parse('2026-12-07T20:00:00Z'),
    },
    'offsets honoured',
  );
  t.same(
    r.entries.filter((e) => e.kind === 'ip').map((e) => (e as { ip: string }).ip),
    ['203.0.113.7', '2001:db8::1'],
    'addresses normalized as the sidecar reads clients',
  );
  const again = parseRevocations(formatRevocations(r.entries, T0));
  t.ok(again.ok && again.problems.length === 0);
  t.same(again.ok ? again.entries : undefined, r.entries, 'round trip');
  const cm = parseRevocations(
    `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: sidegate-revocations }\ndata:\n  revocations.yaml: |\n${text
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}`,
  );
  t.same(cm.ok ? cm.entries.length : -1, 5, 'a ConfigMap manifest is unwrapped');
  const empty = parseRevocations('');
  t.same(empty, { ok: true, entries: [], problems: [], updated: 0 }, 'an empty key revokes nothing');
  t.equal(r.updated, T0, 'the time it was written');
});

t.test('bad entries are named precisely and left out; the rest applies', async (t) => {
  const r = parseRevocations(`apiVersion: sidegate.dev/v1
kind: Revocations
colour: blue
tokens:
  - { jti: good, expires: "2026-12-07T00:00:00Z" }
  - { jti: t-2 }
  - { jti: t-3, expires: tomorrow }
  - { issuer: "${ISS}", expires: "2026-12-07T00:00:00Z" }
  - { subject: alice, issuedBefore: "2026-12-06T00:00:00Z", expires: "2026-12-07T00:00:00Z" }
  - { jti: t-4, issuer: "${ISS}", issuedBefore: "2026-12-06T00:00:00Z", expires: "2026-12-07T00:00:00Z" }
  - { jti: t-5, expires: "2026-12-07", revoked: yes }
  - just-a-string
  - { issuer: "${ISS}", issuedBefore: "2026-12-06T00:00:00", expires: "2026-12-07T00:00:00Z" }
bans:
  - { ip: 10.0.0.0/8, expires: "2026-12-07T00:00:00Z" }
  - { ip: 999.1.1.1, expires: "2026-12-07T00:00:00Z" }
  - { ip: 10.1.2.3, expires: "2026-12-07T00:00:00Z" }
  - { ip: 10.1.2.4 }
`);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(
    r.entries.map((e) => (e.kind === 'jti' ? e.jti : e.kind === 'ip' ? e.ip : e.kind)),
    ['good', '10.1.2.3'],
    'only the good entries',
  );
  t.same(r.problems, [
    { path: '/colour', message: 'unknown field (expected tokens, bans, updated)' },
    { path: '/tokens/1/expires', message: 'is required: when the entry stops applying (RFC 3339)' },
    { path: '/tokens/2/expires', message: 'must be an RFC 3339 time with a zone, like 2026-12-06T21:30:00Z; found "tomorrow"' },
    { path: '/tokens/3/issuedBefore', message: 'is required with issuer: tokens issued before this time (RFC 3339) are revoked' },
    { path: '/tokens/4', message: 'needs jti, or issuer (and subject) with issuedBefore' },
    { path: '/tokens/5', message: 'jti names one token: give either jti, or issuer (and subject) with issuedBefore, not both' },
    { path: '/tokens/6/revoked', message: 'unknown field (expected jti, issuer, subject, issuedBefore, expires, reason)' },
    { path: '/tokens/7', message: 'must be a mapping with jti, or issuer (and subject) with issuedBefore; found string "just-a-string"' },
    {
      path: '/tokens/8/issuedBefore',
      message: 'must be an RFC 3339 time with a zone, like 2026-12-06T21:30:00Z; found "2026-12-06T00:00:00"',
    },
    { path: '/bans/0/ip', message: '"10.0.0.0/8" is a range: ban single addresses (CIDR ranges are not supported)' },
    { path: '/bans/1/ip', message: '"999.1.1.1" is not an IP address' },
    { path: '/bans/3/expires', message: 'is required: when the entry stops applying (RFC 3339)' },
  ]);
});

t.test('a document that is not a revocation list is refused whole', async (t) => {
  t.same(parseRevocations('apiVersion: sidegate.dev/v1\nkind: Policy\n'), {
    ok: false,
    problems: [{ path: '/kind', message: 'must be Revocations' }],
  });
  t.same(parseRevocations('- a\n- b\n'), {
    ok: false,
    problems: [{ path: '', message: 'expected a mapping (apiVersion: sidegate.dev/v1, kind: Revocations), found a list' }],
  });
  const bad = parseRevocations('tokens: [\n');
  t.equal(bad.ok, false);
  t.match(bad.problems[0]?.message, /^not YAML: /);
  t.same(parseRevocations('apiVersion: v1\nkind: ConfigMap\ndata: {}\n'), {
    ok: false,
    problems: [{ path: '/data/revocations.yaml', message: 'is required: the ConfigMap keeps the list under this key' }],
  });
  const tokens = parseRevocations('apiVersion: sidegate.dev/v1\nkind: Revocations\ntokens: { jti: x }\n');
  t.same(
    tokens.ok ? tokens.problems : undefined,
    [{ path: '/tokens', message: 'must be a list, found a mapping' }],
    'a wrong section shape is a problem, the document still a list',
  );
});

t.test('cut-offs: tokens issued before are revoked, after pass; per subject and per issuer; expiry ends them', async (t) => {
  const day = 86_400_000;
  const list = new RevocationList([
    { kind: 'issuer', issuer: ISS, issuedBefore: T0, expires: T0 + day },
    { kind: 'subject', issuer: 'https://other', subject: 'alice', issuedBefore: T0, expires: T0 + day },
    { kind: 'jti', jti: 'j-1', expires: T0 + day },
  ]);
  const now = T0 + 60_000;
  const tok = (iss: string, sub: string | undefined, iat: number | undefined, jti?: string) => ({ iss, sub, iat, jti });
  t.equal(list.revoked(tok(ISS, 'bob', sec(T0) - 1), now)?.kind, 'issuer', 'issued a second before the cut-off');
  t.equal(list.revoked(tok(ISS, 'bob', sec(T0)), now), undefined, 'issued at the cut-off second: not before');
  t.equal(list.revoked(tok(ISS, 'bob', sec(T0) + 30), now), undefined, 'issued after (re-authenticated)');
  t.equal(list.revoked(tok(ISS, 'bob', undefined), now)?.kind, 'issuer', 'no iat: cannot show it is newer');
  t.equal(list.revoked(tok('https://other', 'alice', sec(T0) - 5), now)?.kind, 'subject');
  t.equal(list.revoked(tok('https://other', 'bob', sec(T0) - 5), now), undefined, 'another subject of that issuer');
  t.equal(list.revoked(tok('https://third', 'alice', sec(T0) - 5), now), undefined, 'the same subject name at another issuer');
  t.equal(list.revoked(tok('https://third', 'x', sec(T0) + 5, 'j-1'), now)?.kind, 'jti');
  t.equal(list.revoked(tok(ISS, 'bob', sec(T0) - 1), T0 + day), undefined, 'expired entries are ignored');
  t.same(list.counts(now), { jti: 1, issuer: 1, subject: 1, ip: 0 });
  t.same(list.counts(T0 + day), { jti: 0, issuer: 0, subject: 0, ip: 0 });
});

t.test('bans, and the version that marks the Redis copy', async (t) => {
  const entries: RevocationEntry[] = [
    { kind: 'ip', ip: '10.1.2.3', expires: T0 + 1000 },
    { kind: 'jti', jti: 'a', expires: T0 + 1000 },
  ];
  const list = new RevocationList(entries);
  t.ok(list.banned('10.1.2.3', T0));
  t.notOk(list.banned('10.1.2.4', T0));
  t.notOk(list.banned('10.1.2.3', T0 + 1000), 'a ban ends at its expiry');
  t.equal(new RevocationList([...entries].reverse()).version, list.version, 'order does not change the version');
  t.not(new RevocationList(entries.slice(1)).version, list.version);
});
