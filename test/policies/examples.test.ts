import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compilePolicy, loadPolicyFile } from '../../policies/src/index.js';
import type { CompiledPolicy } from '../../policies/src/index.js';
import { runValidate } from '../../cli/validate.js';
import { readSchema, repoRoot } from '../../policies/scripts/generate.js';

const dir = join(repoRoot(), 'policies/examples');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

async function compileExample(file: string): Promise<{ raw: unknown; policy: CompiledPolicy }> {
  const loaded = await loadPolicyFile(join(dir, file));
  if (!loaded.ok) throw new Error(`${file}: ${JSON.stringify(loaded.problems)}`);
  const r = compilePolicy(loaded.doc);
  if (!r.ok) throw new Error(`${file}:\n${r.problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
  return { raw: loaded.doc, policy: r.policy };
}

void t.test('the promised examples exist', (t) => {
  for (const f of [
    'passthrough.yaml',
    'orders.yaml',
    'jwt-only.yaml',
    'rate-limit.yaml',
    'full.yaml',
    'demo.yaml',
    'configmap.yaml',
    'maintenance.yaml',
  ]) {
    t.ok(files.includes(f), f);
  }
  t.end();
});

for (const file of files) {
  void t.test(`${file} compiles`, async (t) => {
    const { policy } = await compileExample(file);
    t.ok(policy.name);
  });
}

void t.test('sidegate validate accepts every example', async (t) => {
  const out: string[] = [];
  const code = await runValidate(
    files.map((f) => join(dir, f)),
    { out: (l) => out.push(l), err: (l) => out.push(l) },
  );
  t.equal(code, 0, out.join('\n'));
  t.equal(out.filter((l) => / ok \(policy /.test(l)).length, files.length);
});

void t.test('passthrough.yaml is an empty pass-through', async (t) => {
  const { policy } = await compileExample('passthrough.yaml');
  t.equal(policy.auth, undefined);
  t.equal(policy.breaker, undefined);
  t.same(policy.rateLimits, []);
});

void t.test('demo.yaml: /public/* open, 5 per 10 s per client IP on /api/*', async (t) => {
  const { policy } = await compileExample('demo.yaml');
  t.ok(policy.routes.some((r) => r.name === 'public' && r.match.matches('GET', '/public/hello')));
  const publicRule = policy.auth?.rules.find((r) => r.match.matches('GET', '/public/hello'));
  t.same(publicRule?.require, { kind: 'none' });
  t.equal(policy.auth?.defaultRequire.kind, 'any');
  const limit = policy.rateLimits.find((l) => l.match.matches('GET', '/api/orders'));
  t.same(limit && { requests: limit.requests, perMs: limit.perMs, burst: limit.burst, key: limit.key }, {
    requests: 5,
    perMs: 10_000,
    burst: 0,
    key: [{ kind: 'clientIp' }],
  });
  t.notOk(limit?.match.matches('GET', '/public/hello'));
});

void t.test('maintenance.yaml: on, 10 minutes Retry-After, health and status served, SREs allowed', async (t) => {
  const { policy } = await compileExample('maintenance.yaml');
  const m = policy.maintenance;
  t.equal(m?.enabled, true);
  t.equal(m?.retryAfterSeconds, 600);
  t.ok(
    m?.except.some((x) => x.matches('GET', '/status')),
    'the status page is excepted',
  );
  t.notOk(
    m?.except.some((x) => x.matches('GET', '/api/orders')),
    'the API is not',
  );
  t.same(m?.allow, { kind: 'any', providers: [], claims: [{ claim: 'groups', anyOf: ['sre'] }], tenant: undefined });
});

void t.test('full.yaml uses every section and every field of the schema', async (t) => {
  const { raw, policy } = await compileExample('full.yaml');
  const used = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null)
      for (const [k, c] of Object.entries(v)) {
        used.add(k);
        walk(c);
      }
  };
  walk(raw);
  const schema = readSchema() as {
    definitions: Record<string, { properties?: Record<string, unknown>; else?: { properties?: Record<string, unknown> } }>;
  };
  // One provider uses one key source; the alternatives each appear in other examples.
  const elsewhere = new Set(['discovery', 'file', 'env', 'kid', 'use', 'key_ops', 'n', 'e', 'x5c', 'x5t', 'x5t#S256', 'annotations']);
  for (const def of [
    'upstream',
    'route',
    'logging',
    'clientAddress',
    'auth',
    'provider',
    'jwks',
    'tokenSource',
    'rateLimit',
    'keyPart',
    'breaker',
    'match',
    'requirement',
    'maintenance',
    'maintenanceAllow',
  ]) {
    const d = schema.definitions[def];
    for (const prop of Object.keys(d?.properties ?? d?.else?.properties ?? {})) {
      if (!elsewhere.has(prop)) t.ok(used.has(prop), `${def}.${prop} appears in full.yaml`);
    }
  }
  t.ok(policy.auth && policy.breaker && policy.rateLimits.length > 0 && policy.routes.length > 0);
  t.equal(policy.maintenance?.enabled, false, 'the full example is not in maintenance');
});
