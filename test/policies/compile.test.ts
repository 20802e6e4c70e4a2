import t, { type Test } from 'tap';
import { compilePolicy } from '../../policies/src/compile.js';
import type { CompiledPolicy, PolicyProblem } from '../../policies/src/types.js';

const head = { apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' } };

function ok(t: Test, base: unknown, overlay?: unknown): CompiledPolicy {
  const r = compilePolicy(base, overlay);
  if (!r.ok) {
    t.fail(`expected a valid policy, got:\n${r.problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
    throw new Error('invalid policy');
  }
  return r.policy;
}

function problems(base: unknown, overlay?: unknown): readonly PolicyProblem[] {
  const r = compilePolicy(base, overlay);
  return r.ok ? [] : r.problems;
}

const orders = {
  ...head,
  spec: {
    upstream: { protocol: 'http1', timeout: '15s', maxConcurrentRequests: 1024 },
    auth: {
      providers: [
        {
          name: 'corp',
          issuer: 'https://id.example.com',
          audiences: ['orders'],
          algorithms: ['RS256', 'ES256'],
          jwks: { uri: 'https://id.example.com/jwks.json', refreshInterval: '5m', staleIfError: '24h' },
          from: [{ header: 'Authorization', prefix: 'Bearer ' }, { cookie: 'session_token' }],
          clockSkew: '30s',
          forwardClaims: { sub: 'X-User-Id', tenant: 'x-tenant-id' },
        },
      ],
      rules: [
        { match: { paths: ['/healthz', '/public/*'] }, require: 'none' },
        {
          match: { paths: ['/admin/*'], methods: ['POST', 'delete'] },
          require: { providers: ['corp'], claims: { role: ['admin'], scope: 'orders.write' } },
        },
        { match: { paths: ['/tenants/*'] }, require: { claims: { 'realm.roles': 'user' }, tenant: { claim: 'tenant', pathSegment: 1 } } },
        { match: { paths: ['/org/*'] }, require: { tenant: { claim: 'org', header: 'X-Org' } } },
      ],
      default: { require: 'any' },
    },
    rateLimits: [
      {
        name: 'per-user',
        match: { paths: ['/api/*'] },
        key: [{ claim: 'sub' }, { header: 'X-Api-Key' }, { clientIp: true }, { method: true }, { route: true }, { constant: 'v1' }],
        limit: { requests: 100, per: '1m', burst: 20 },
        onRedisError: 'local',
        mode: 'enforce',
      },
      { name: 'shadow', key: [{ clientIp: true }], limit: { requests: 5, per: '10s' }, cost: 2, onRedisError: 'deny', mode: 'shadow' },
    ],
    breaker: { consecutiveFailures: 5, openFor: '30s', halfOpenRequests: 2, failureStatuses: [502, 503, 504] },
  },
};

void t.test('an empty or absent spec is a pass-through policy with every default filled in', (t) => {
  for (const doc of [head, { ...head, spec: {} }]) {
    const p = ok(t, doc);
    t.equal(p.name, 'orders');
    t.match(p.version, /^[0-9a-f]{12}$/);
    t.same(p.upstream, { protocol: undefined, timeoutMs: 15_000, maxConcurrentRequests: 1024, retry: { attempts: 0, backoffMs: 25 } });
    t.same(p.routes, []);
    t.same(p.rateLimits, []);
    t.equal(p.auth, undefined);
    t.equal(p.breaker, undefined);
    t.same(p.logging, { successSampleRate: 1, exclude: undefined });
    t.same(p.clientAddress, { trustedHops: 0 });
  }
  t.end();
});

void t.test('the DESIGN example compiles to the domain types', (t) => {
  const p = ok(t, orders);
  t.same(p.upstream, { protocol: 'http1', timeoutMs: 15_000, maxConcurrentRequests: 1024, retry: { attempts: 0, backoffMs: 25 } });
  const auth = p.auth!;
  const corp = auth.providers[0]!;
  t.same(
    { ...corp, jwks: undefined },
    {
      name: 'corp',
      issuer: 'https://id.example.com',
      audiences: ['orders'],
      algorithms: ['RS256', 'ES256'],
      typ: undefined,
      requireExp: true,
      clockSkewMs: 30_000,
      maxTokenAgeMs: undefined,
      maxTokenBytes: 8192,
      jwks: undefined,
      secret: undefined,
      from: [
        { kind: 'header', name: 'authorization', prefix: 'Bearer ' },
        { kind: 'cookie', name: 'session_token', prefix: '' },
      ],
      forwardClaims: { sub: 'x-user-id', tenant: 'x-tenant-id' },
      forward: false,
    },
  );
  t.same(corp.jwks, {
    uri: 'https://id.example.com/jwks.json',
    discovery: false,
    file: undefined,
    inline: undefined,
    refreshIntervalMs: 300_000,
    staleIfErrorMs: 86_400_000,
    cooldownMs: 30_000,
    timeoutMs: 5_000,
  });
  t.same(
    auth.rules.map((r) => r.require),
    [
      { kind: 'none' },
      {
        kind: 'providers',
        providers: ['corp'],
        claims: [
          { claim: 'role', anyOf: ['admin'] },
          { claim: 'scope', anyOf: ['orders.write'] },
        ],
        tenant: undefined,
      },
      {
        kind: 'any',
        providers: [],
        claims: [{ claim: 'realm.roles', anyOf: ['user'] }],
        tenant: { claim: 'tenant', header: undefined, pathSegment: 1 },
      },
      { kind: 'any', providers: [], claims: [], tenant: { claim: 'org', header: 'x-org', pathSegment: undefined } },
    ],
  );
  t.ok(auth.rules[0]!.match.matches('GET', '/public/a.css'));
  t.ok(auth.rules[1]!.match.matches('DELETE', '/admin/x'));
  t.notOk(auth.rules[1]!.match.matches('GET', '/admin/x'));
  t.same(auth.defaultRequire, { kind: 'any', providers: [], claims: [], tenant: undefined });
  t.equal(auth.revocation, undefined);
  t.same(auth.cache, { maxEntries: 10_000 });

  const [perUser, shadow] = p.rateLimits;
  t.same(
    { ...perUser!, match: undefined },
    {
      name: 'per-user',
      match: undefined,
      key: [
        { kind: 'claim', name: 'sub' },
        { kind: 'header', name: 'x-api-key' },
        { kind: 'clientIp' },
        { kind: 'method' },
        { kind: 'route' },
        { kind: 'constant', value: 'v1' },
      ],
      requests: 100,
      perMs: 60_000,
      burst: 20,
      cost: 1,
      onRedisError: 'local',
      mode: 'enforce',
    },
  );
  t.ok(perUser!.match.matches('GET', '/api/x'));
  t.notOk(perUser!.match.matches('GET', '/other'));
  t.same(
    { ...shadow!, match: undefined, key: undefined },
    {
      name: 'shadow',
      match: undefined,
      key: undefined,
      requests: 5,
      perMs: 10_000,
      burst: 0,
      cost: 2,
      onRedisError: 'deny',
      mode: 'shadow',
    },
  );
  t.equal(shadow!.match.anyPath, true);

  const b = p.breaker!;
  t.same(
    { ...b, failureStatuses: [...b.failureStatuses] },
    {
      consecutiveFailures: 5,
      failureRatio: undefined,
      windowMs: 10_000,
      minimumRequests: 20,
      openForMs: 30_000,
      maxOpenForMs: 300_000,
      halfOpenRequests: 2,
      failureStatuses: [502, 503, 504],
    },
  );
  t.end();
});

void t.test('section defaults: breaker {}, auth without rules, routes, logging, revocation', (t) => {
  const p = ok(t, {
    ...head,
    spec: {
      breaker: {},
      routes: [{ name: 'api', match: { paths: ['/api/*'] }, timeout: '2s' }, { name: 'rest' }],
      logging: { successSampleRate: 0.1, excludePaths: ['/healthz'] },
      auth: { providers: [{ name: 'hs', issuer: 'jobs', algorithms: ['HS256'], secret: { env: 'JWT_SECRET' } }], revocation: {} },
    },
  });
  t.same([...p.breaker!.failureStatuses], [502, 503, 504]);
  t.equal(p.breaker!.consecutiveFailures, 5);
  t.equal(p.routes[0]!.timeoutMs, 2_000);
  t.equal(p.routes[1]!.timeoutMs, undefined);
  t.equal(p.routes[1]!.match.anyPath, true);
  t.equal(p.logging.successSampleRate, 0.1);
  t.ok(p.logging.exclude!.matches('GET', '/healthz'));
  t.notOk(p.logging.exclude!.matches('GET', '/api'));
  t.same(p.auth!.defaultRequire.kind, 'any', 'default require is any when providers exist');
  t.same(p.auth!.revocation, { enabled: true, onRedisError: 'allow' });
  t.same(p.auth!.providers[0]!.secret, { env: 'JWT_SECRET' });
  t.same(p.auth!.providers[0]!.from, [{ kind: 'header', name: 'authorization', prefix: 'Bearer ' }]);
  const noProviders = ok(t, { ...head, spec: { auth: { rules: [{ match: { paths: ['/x'] }, require: 'none' }] } } });
  t.same(noProviders.auth!.defaultRequire, { kind: 'none' }, 'default require is none without providers');
  t.end();
});

void t.test('the compiled policy is deeply frozen', (t) => {
  const p = ok(t, orders);
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    t.ok(Object.isFrozen(v), `${path} is frozen`);
    if (v instanceof Set) {
      t.throws(() => (v as Set<unknown>).add('x'), TypeError, `${path} cannot grow`);
      return;
    }
    for (const [k, child] of Object.entries(v)) walk(child, `${path}.${k}`);
  };
  walk(p, 'policy');
  t.throws(() => {
    (p.upstream as { timeoutMs: number }).timeoutMs = 1;
  }, TypeError);
  t.throws(() => (p.rateLimits as unknown[]).push({}), TypeError);
  t.equal(p.upstream.timeoutMs, 15_000);
  t.end();
});

void t.test('inputs are never modified (defaults go into a copy)', (t) => {
  const base = structuredClone(orders);
  const overlay = { spec: { breaker: { openFor: '1m' }, logging: {} } };
  const [baseBefore, overlayBefore] = [JSON.stringify(base), JSON.stringify(overlay)];
  ok(t, base, overlay);
  ok(t, base);
  t.equal(JSON.stringify(base), baseBefore);
  t.equal(JSON.stringify(overlay), overlayBefore);
  t.end();
});

void t.test('version: stable, independent of key order and of spelled-out defaults, changes with the policy', (t) => {
  const v = (doc: unknown, overlay?: unknown): string => ok(t, doc, overlay).version;
  t.equal(v(orders), v(structuredClone(orders)));
  const reordered = { spec: orders.spec, metadata: orders.metadata, kind: orders.kind, apiVersion: orders.apiVersion };
  t.equal(v(reordered), v(orders));
  t.equal(v({ ...head, spec: {} }), v({ ...head, spec: { upstream: { timeout: '15s' }, rateLimits: [] } }));
  t.not(v({ ...head, spec: {} }), v({ ...head, spec: { upstream: { timeout: '16s' } } }));
  t.not(v(orders), v(orders, { spec: { breaker: { openFor: '31s' } } }));
  t.not(v(head), v({ ...head, metadata: { name: 'other' } }));
  t.end();
});

void t.test('an overlay merges over the base; problems point into the merged document', (t) => {
  const p = ok(t, orders, {
    spec: {
      upstream: { timeout: '2s' },
      rateLimits: [{ name: 'annotation', key: [{ clientIp: true }], limit: { requests: 100, per: '1s', burst: 20 } }],
    },
  });
  t.equal(p.upstream.timeoutMs, 2_000);
  t.equal(p.upstream.maxConcurrentRequests, 1024, 'untouched fields survive');
  t.same(
    p.rateLimits.map((l) => l.name),
    ['annotation'],
    'arrays are replaced',
  );
  t.ok(p.auth, 'other sections survive');
  t.equal(
    compilePolicy(orders, { spec: { breaker: null } }).ok &&
      (compilePolicy(orders, { spec: { breaker: null } }) as { policy: CompiledPolicy }).policy.breaker,
    undefined,
  );
  t.same(problems(orders, { spec: { auth: { rules: [{ require: { providers: ['nope'] } }] } } }), [
    { path: '/spec/auth/rules/0/require/providers/0', message: 'unknown provider "nope" (known: "corp")' },
  ]);
  t.end();
});

void t.test('every problem is reported, in document order', (t) => {
  const found = problems({
    ...head,
    spec: {
      upstream: { timeout: 'soon', extra: 1 },
      auth: { providers: [{ name: 'p', issuer: 'i', algorithms: ['RS256', 'HS256'], jwks: { uri: 'https://x/j' } }] },
      rateLimits: [{ name: 'a', key: [{ clientIp: true }], limit: { requests: 1, per: '1s' }, cost: 5 }],
    },
  });
  t.same(
    found.map((p) => p.path),
    ['/spec/upstream/timeout', '/spec/upstream/extra', '/spec/auth/providers/0/algorithms/1', '/spec/rateLimits/0/cost'],
  );
  t.ok(Object.isFrozen(found));
  t.end();
});

void t.test('non-documents are problems, not exceptions', (t) => {
  for (const doc of [undefined, null, 42, 'policy', []]) {
    const found = problems(doc);
    t.same(found, [{ path: '', message: found[0]?.message }], JSON.stringify(doc) ?? 'undefined');
    t.match(found[0]?.message, /^must be an object/);
  }
  t.end();
});

void t.test('a duration too long to count in milliseconds is a problem, not an exception', (t) => {
  // Seen while writing the policy fuzz target (test/fuzz/regressions/policy/duration-too-long):
  // the schema checks a duration's syntax only; buildPolicy threw on what parseDuration refused.
  const long = '99999999999999999999h';
  const doc = {
    ...head,
    spec: {
      upstream: { timeout: long, retry: { backoff: '9007199254740992ms' } },
      routes: [
        { name: 'a', timeout: '1h' },
        { name: 'b', timeout: long },
      ],
      breaker: { window: long, openFor: '1s', maxOpenFor: `${long}1h` },
    },
  };
  const message = 'is too long: durations are at most 2501999792h';
  t.same(problems(doc), [
    { path: '/spec/upstream/timeout', message },
    { path: '/spec/upstream/retry/backoff', message },
    { path: '/spec/routes/1/timeout', message },
    { path: '/spec/breaker/window', message },
    { path: '/spec/breaker/maxOpenFor', message },
  ]);
  ok(t, { ...head, spec: { breaker: { window: '2501999792h' } } });
  t.end();
});

void t.test('a timeout or backoff too long for a timer is a problem (Node fires those at once)', (t) => {
  // Found by reading while writing the policy fuzz target: setTimeout fires a delay of 2^31 ms
  // or more after 1 ms, so `timeout: 600h` timed every request out at once.
  const message = 'is too long for a timeout: at most 596h';
  t.same(
    problems({
      ...head,
      spec: { upstream: { timeout: '600h', retry: { backoff: '2147483648ms' } }, routes: [{ name: 'a', timeout: '597h' }] },
    }),
    [
      { path: '/spec/upstream/timeout', message },
      { path: '/spec/upstream/retry/backoff', message },
      { path: '/spec/routes/0/timeout', message },
    ],
  );
  ok(t, { ...head, spec: { upstream: { timeout: '596h', retry: { backoff: '2147483647ms' } }, routes: [{ name: 'a', timeout: '596h' }] } });
  // Not a timer: a breaker's window is compared with the clock.
  ok(t, { ...head, spec: { breaker: { window: '1000h' } } });
  t.end();
});

void t.test('problems quote the names they echo: one line, no control characters', (t) => {
  // Found with the annotations fuzz target's finding (the same messages, from policy files):
  // `sidegate validate` prints one problem per line.
  const provider = { name: 'corp', issuer: 'https://id.example.com', jwks: { discovery: true } };
  const found = problems({
    ...head,
    spec: {
      routes: [{ name: 'a\nb' }, { name: 'a\nb' }],
      auth: { providers: [provider], rules: [{ require: { providers: ['x\u2028y'] } }] },
    },
  });
  t.ok(
    found.some((p) => p.message === 'duplicate route name "a\\nb" (first used at /spec/routes/0/name)'),
    'duplicate name, quoted',
  );
  t.ok(
    found.some((p) => p.message === 'unknown provider "x\\u2028y" (known: "corp")'),
    'unknown provider, quoted',
  );
  t.ok(
    found.every((p) => !/[\n\u2028]/.test(p.message)),
    'every message on one line',
  );
  t.end();
});

void t.test('compiling is fast enough for start and reload', (t) => {
  ok(t, orders);
  const n = 200;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) ok(t, orders);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / n;
  t.ok(ms < 20, `${ms.toFixed(3)} ms per compile`);
  t.end();
});

void t.test('an unknown field of any length costs about the same to report', (t) => {
  // Found by the policy fuzz target (test/fuzz/regressions/policy/): "did you mean" compared
  // every unknown field with every allowed name, character by character: ~150 ms for one
  // 16 KB field name. Names too far apart in length are no longer compared.
  const provider = (field: string): unknown => ({
    ...head,
    spec: { auth: { providers: [{ name: 'a', issuer: 'https://id.example.com', jwks: { discovery: true }, [field]: 1 }] } },
  });
  t.same(problems(provider('isuer')), [{ path: '/spec/auth/providers/0/isuer', message: 'unknown field (did you mean "issuer"?)' }]);
  t.same(problems(provider('forwardClaimz')), [
    { path: '/spec/auth/providers/0/forwardClaimz', message: 'unknown field (did you mean "forwardClaims"?)' },
  ]);
  t.match(problems(provider('q'.repeat(40))), [{ message: /^unknown field \(allowed: name, issuer, / }]);
  const start = process.hrtime.bigint();
  const found = problems(provider('q'.repeat(64 * 1024)));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.match(found, [{ message: /^unknown field \(allowed: / }]);
  t.ok(ms < 50, `${ms.toFixed(1)} ms for a 64 KiB field name`);
  t.end();
});

void t.test('upstream.retry compiles to attempts and a backoff in ms', (t) => {
  const p = ok(t, { ...head, spec: { upstream: { retry: { attempts: 2, backoff: '100ms' } } } });
  t.same(p.upstream.retry, { attempts: 2, backoffMs: 100 });
  const bad = compilePolicy({ ...head, spec: { upstream: { retry: { attempts: 3 } } } });
  t.equal(bad.ok, false, 'at most 2 retries');
  t.end();
});

void t.test('maintenance: defaults, rounding, the three sources, the allow-list', async (t) => {
  t.equal(ok(t, head).maintenance, undefined, 'absent: no maintenance section, off');
  const on = ok(t, { ...head, spec: { maintenance: {} } }).maintenance;
  t.same(
    on && { enabled: on.enabled, retryAfterSeconds: on.retryAfterSeconds, message: on.message, except: on.except.length, allow: on.allow },
    { enabled: true, retryAfterSeconds: 60, message: 'the service is down for maintenance', except: 0, allow: undefined },
    'an empty section is on, with the defaults',
  );
  t.equal(
    ok(t, { ...head, spec: { maintenance: { retryAfter: '1500ms' } } }).maintenance?.retryAfterSeconds,
    2,
    'Retry-After rounds up to whole seconds',
  );
  t.equal(ok(t, { ...head, spec: { maintenance: { retryAfter: '100ms' } } }).maintenance?.retryAfterSeconds, 1, 'and is never 0');

  // Chart defaults switch every service on; one service's ConfigMap switches itself off; an
  // annotation overlay wins over both.
  const clusterOn = { ...head, spec: { maintenance: { enabled: true, message: 'cluster upgrade' } } };
  const fileOff = { ...head, spec: { maintenance: { enabled: false } } };
  const merged = ok(t, clusterOn, { spec: fileOff.spec }).maintenance;
  t.equal(merged?.enabled, false, 'a later source turns it off');
  t.equal(merged?.message, 'cluster upgrade', 'and keeps the fields it did not set');

  const withAuth = {
    ...orders,
    spec: {
      ...orders.spec,
      maintenance: {
        except: [{ paths: ['/healthz'] }, { methods: ['GET'] }],
        allow: { providers: ['corp'], claims: { groups: ['sre', 'oncall'] } },
      },
    },
  };
  const m = ok(t, withAuth).maintenance!;
  t.ok(m.except[0]!.matches('POST', '/healthz'), 'an excepted path');
  t.ok(m.except[1]!.matches('HEAD', '/api/x'), 'an excepted method (GET includes HEAD)');
  t.notOk(
    m.except.some((x) => x.matches('POST', '/api/x')),
    'anything else is not excepted',
  );
  t.same(m.allow, { kind: 'providers', providers: ['corp'], claims: [{ claim: 'groups', anyOf: ['sre', 'oncall'] }], tenant: undefined });
  t.same(
    problems({ ...head, spec: { maintenance: { allow: { claims: { groups: 'sre' } } } } }).map((p) => `${p.path}: ${p.message}`),
    ['/spec/maintenance/allow: requires a token, but spec.auth.providers is empty'],
    'an allow-list needs a provider to verify tokens',
  );
});
