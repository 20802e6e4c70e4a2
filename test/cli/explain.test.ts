import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { runExplain, type ExplainResult } from '../../cli/explain.js';
import { repoRoot } from '../../policies/scripts/generate.js';
import { mint, testKey } from '../helpers/jwks.js';
import { CLI } from '../helpers/spawn.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runExplain(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const examples = join(repoRoot(), 'policies/examples');
const ISSUER = 'https://id.example.com';
const key = testKey('ES256', 'k1');
const stranger = testKey('ES256', 'k1');
const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  routes: [ { name: api, match: { paths: [/api/*] } } ]
  auth:
    providers:
      - name: corp
        issuer: ${ISSUER}
        audiences: [orders]
        algorithms: [ES256]
        jwks: { uri: ${ISSUER}/jwks.json }
        forwardClaims: { sub: x-user-id }
    rules:
      - match: { paths: [/healthz] }
        require: none
      - match: { paths: [/admin/*] }
        require: { claims: { role: [admin] } }
  rateLimits:
    - name: per-user
      match: { paths: [/api/*] }
      key: [ { claim: sub }, { route: true } ]
      limit: { requests: 100, per: 1m, burst: 20 }
`;

t.test('answers: forwarded (exit 0), refused (exit 1), each stage in the output', async (t) => {
  const dir = t.testdir({ 'policy.yaml': policy, 'jwks.json': JSON.stringify({ keys: [key.jwk] }) });
  const now = Math.floor(Date.now() / 1000);
  const user = await mint(key, { iss: ISSUER, aud: 'orders', sub: 'u-1', role: 'user', iat: now, exp: now + 600 });
  const base = ['-f', join(dir, 'policy.yaml'), '--jwks', join(dir, 'jwks.json'), '--namespace', 'shop', '--service', 'orders'];

  const ok = await run([...base, '--token', user, 'GET', '/api/orders?id=1']);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /^route\s+api$/m);
  t.match(ok.out, /^auth\s+default requires a valid token from any provider\n\s+success: subject u-1, provider corp$/m);
  t.match(
    ok.out,
    /^limits\s+per-user: 100 per 60000 ms, burst 20, cost 1\n\s+key sidegate:rl:\{shop\/orders\/per-user\}:[\w-]{22}\n\s+from claim:sub = "u-1", route = "api"$/m,
  );
  t.match(ok.out, /^answer\s+forwarded to the app as GET \/api\/orders\?id=1\n\s+with x-user-id: u-1$/m);
  t.match(ok.out, /^note\s+shared rate-limit budgets are not consulted/m);

  const forbidden = await run([...base, '--token', user, 'DELETE', '/admin/users/7']);
  t.equal(forbidden.code, 1);
  t.match(
    forbidden.out,
    /^auth\s+rules\[1\] requires a valid token from any provider, claim role one of \[admin\]\n\s+failure \(claims\): provider corp$/m,
  );
  t.match(forbidden.out, /^limits\s+not reached/m);
  t.match(
    forbidden.out,
    /^answer\s+403 SIDEGATE_ERR_FORBIDDEN \(insufficient_scope\): the token lacks the claim role this route requires\n\s+www-authenticate: Bearer error="insufficient_scope"$/m,
  );

  const forged = await mint(stranger, { iss: ISSUER, aud: 'orders', sub: 'u-1', exp: now + 600 });
  t.match(
    (await run([...base, '--token', forged, '/api/x'])).out,
    /failure \(bad_signature\)/,
    'a forged token is caught with the real keys',
  );
  const before = await run([...base, '--token', user, '--at', new Date((now - 3600) * 1000).toISOString(), '/api/x']);
  t.match(before.out, /failure \(not_yet_valid\)[\s\S]*note\s+token times judged as of/, "--at moves the token's clock");
  t.match((await run([...base, '/healthz'])).out, /rules\[0\] requires none[\s\S]*forwarded/, 'no token, no keys needed');

  const twoHosts = await run([...base, '-H', 'host: a.example', '-H', 'host: b.example', '/healthz']);
  t.equal(twoHosts.code, 1, 'two Host lines are refused, as the HTTP/1.1 front refuses them');
  t.match(twoHosts.out, /^answer\s+400 SIDEGATE_ERR_BAD_REQUEST.*more than one Host header/m);
  t.equal((await run([...base, '-H', 'host: a.example', '/healthz'])).code, 0, 'one Host is fine');

  const json = await run([...base, '--json', '-X', 'POST', '/api/x']);
  const r = JSON.parse(json.out) as ExplainResult;
  t.equal(json.code, 1);
  t.match(r, {
    route: 'api',
    maintenance: 'off',
    auth: { rule: 'default', result: 'failure', reason: 'missing' },
    limitsReached: false,
    answer: { forwarded: false, status: 401, error: 'SIDEGATE_ERR_UNAUTHENTICATED', headers: { 'www-authenticate': 'Bearer' } },
  });
});

t.test('--offline: the signature is the one thing not checked, and it says so', async (t) => {
  const dir = t.testdir({ 'policy.yaml': policy });
  const now = Math.floor(Date.now() / 1000);
  const forged = await mint(stranger, { iss: ISSUER, aud: 'orders', sub: 'u-2', role: 'admin', exp: now + 600 });
  const r = await run(['-f', join(dir, 'policy.yaml'), '--offline', '--token', forged, 'POST', '/admin/x']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /success: subject u-2, provider corp/);
  t.match(r.out, /^note\s+signature NOT checked \(--offline\)/m);
  const expired = await mint(stranger, { iss: ISSUER, aud: 'orders', sub: 'u-2', exp: now - 60 });
  t.match(
    (await run(['-f', join(dir, 'policy.yaml'), '--offline', '--token', expired, '/api/x'])).out,
    /failure \(expired\)/,
    'everything else is still checked',
  );
  const wrongAud = await mint(stranger, { iss: ISSUER, aud: 'billing', sub: 'u-2', exp: now + 60 });
  t.match((await run(['-f', join(dir, 'policy.yaml'), '--offline', '--token', wrongAud, '/api/x'])).out, /failure \(audience\)/);
});

t.test('a ConfigMap manifest, maintenance, and the bundled command', async (t) => {
  const cm = await run(['-f', join(examples, 'configmap.yaml'), '/healthz']);
  t.equal(cm.code, 0);
  t.match(cm.out, /^policy\s+orders \(version [0-9a-f]{12}\)$/m);
  const m = await run(['-f', join(examples, 'maintenance.yaml'), '/api/orders']);
  t.equal(m.code, 1);
  t.match(m.out, /^maintenance on: answered 503$/m);
  t.match(m.out, /^answer\s+503 SIDEGATE_ERR_MAINTENANCE: orders is being upgraded; back by 03:00 UTC\n\s+retry-after: 600$/m);
  t.match((await run(['-f', join(examples, 'maintenance.yaml'), '/status'])).out, /^maintenance on, but this request is excepted/m);

  const bin = spawnSync(process.execPath, [CLI, 'explain', '-f', join(examples, 'maintenance.yaml'), '/healthz'], { encoding: 'utf8' });
  t.equal(bin.status, 0, bin.stderr);
  t.match(bin.stdout, /answer\s+forwarded to the app as GET \/healthz/);
});

t.test('bad input: exit 2 with a sentence that says what is wrong', async (t) => {
  const dir = t.testdir({
    'policy.yaml': policy,
    'bad.yaml': 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: bad }\nspec: { maintenance: { retryAfter: soon } }\n',
  });
  const f = join(dir, 'policy.yaml');
  const now = Math.floor(Date.now() / 1000);
  const token = await mint(key, { iss: ISSUER, aud: 'orders', sub: 'u', exp: now + 60 });
  const cases: [string[], RegExp][] = [
    [['/x'], /a policy is needed: -f FILE/],
    [['-f', f], /a target is needed/],
    [['-f', f, 'GET', '/x', 'extra'], /expected \[METHOD\] TARGET, got 3 arguments/],
    [['-f', f, '--frobnicate', '/x'], /unknown option --frobnicate/],
    [['-f', f, '-H', 'no colon', '/x'], /--header "no colon": expected NAME: VALUE/],
    [['-f', f, '--client-ip', 'localhost', '/x'], /--client-ip "localhost" is not an IPv4 or IPv6 address/],
    [['-f', f, '--at', 'noon', '/x'], /--at "noon": expected an RFC 3339 time/],
    [['-f', f, '--offline', '/x'], /--offline judges the token given with --token/],
    [['-f', f, '--offline', '--fetch-keys', '--token', token, '/x'], /--offline and --fetch-keys contradict each other/],
    [['-f', f, '--token', token, '-H', 'Authorization: Bearer x', '/x'], /--token goes in the authorization header, which -H also sets/],
    [['-f', join(dir, 'missing.yaml'), '/x'], /cannot read the policy file .*missing\.yaml/],
    [['-f', join(dir, 'bad.yaml'), '/x'], /invalid policy[\s\S]*\/spec\/maintenance\/retryAfter: must be a duration greater than zero/],
    [
      ['-f', f, '--token', token, '/api/x'],
      /the request carries a token but the keys to verify it are not available:\n {2}corp: keys are at https:\/\/id\.example\.com\/jwks\.json: pass --jwks corp=FILE, --fetch-keys, or --offline/,
    ],
    [['-f', f, '--jwks', join(dir, 'nope.json'), '--token', token, '/api/x'], /corp: ENOENT/],
  ];
  for (const [args, why] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, why, args.join(' '));
    t.equal(r.out, '', 'nothing on stdout');
  }
  t.equal((await run(['--help'])).code, 0);
});
