import t from 'tap';
import { mergePolicyDocuments } from '../../policies/src/merge.js';

const base = {
  apiVersion: 'sidegate.dev/v1',
  kind: 'Policy',
  metadata: { name: 'defaults' },
  spec: {
    upstream: { timeout: '15s', maxConcurrentRequests: 1024 },
    rateLimits: [{ name: 'a', key: [{ clientIp: true }], limit: { requests: 1, per: '1s' } }],
    breaker: { consecutiveFailures: 5 },
    logging: { excludePaths: ['/healthz', '/readyz'] },
  },
};

void t.test('objects merge deeply; scalars and arrays from the overlay win', (t) => {
  const overlay = {
    spec: {
      upstream: { timeout: '30s' },
      rateLimits: [{ name: 'b', key: [{ constant: 'x' }], limit: { requests: 2, per: '1m' } }],
      logging: { excludePaths: ['/ping'] },
    },
  };
  const merged = mergePolicyDocuments(base, overlay);
  t.same(merged, {
    apiVersion: 'sidegate.dev/v1',
    kind: 'Policy',
    metadata: { name: 'defaults' },
    spec: {
      upstream: { timeout: '30s', maxConcurrentRequests: 1024 },
      rateLimits: [{ name: 'b', key: [{ constant: 'x' }], limit: { requests: 2, per: '1m' } }],
      breaker: { consecutiveFailures: 5 },
      logging: { excludePaths: ['/ping'] },
    },
  });
  t.end();
});

void t.test('an overlay may omit apiVersion, kind and metadata, or rename the policy', (t) => {
  const merged = mergePolicyDocuments(base, { metadata: { name: 'orders' } }) as { metadata: { name: string }; kind: string };
  t.equal(merged.metadata.name, 'orders');
  t.equal(merged.kind, 'Policy');
  t.end();
});

void t.test('null in the overlay removes a key', (t) => {
  const merged = mergePolicyDocuments(base, { spec: { breaker: null } }) as { spec: Record<string, unknown> };
  t.notOk('breaker' in merged.spec);
  t.ok('upstream' in merged.spec);
  t.end();
});

void t.test('an object replaces a non-object and vice versa', (t) => {
  t.same(mergePolicyDocuments({ a: 1 }, { a: { b: 2 } }), { a: { b: 2 } });
  t.same(mergePolicyDocuments({ a: { b: 2 } }, { a: [1] }), { a: [1] });
  t.same(mergePolicyDocuments({ a: 1 }, 'x'), 'x');
  t.same(mergePolicyDocuments(undefined, { a: 1 }), { a: 1 });
  t.end();
});

void t.test('inputs are neither modified nor shared with the result', (t) => {
  const before = JSON.stringify(base);
  const overlay = { spec: { logging: { excludePaths: ['/ping'] } } };
  const merged = mergePolicyDocuments(base, overlay) as typeof base;
  merged.spec.upstream.timeout = '1s';
  merged.spec.logging.excludePaths.push('/mutated');
  merged.spec.rateLimits[0]!.limit.requests = 99;
  t.equal(JSON.stringify(base), before);
  t.same(overlay, { spec: { logging: { excludePaths: ['/ping'] } } });
  const copy = mergePolicyDocuments(base, undefined) as typeof base;
  t.not(copy, base);
  t.not(copy.spec, base.spec);
  t.same(copy, base);
  t.end();
});

void t.test('__proto__ keys stay plain data', (t) => {
  const overlay = JSON.parse('{"spec":{"__proto__":{"polluted":true}}}') as unknown;
  const merged = mergePolicyDocuments(base, overlay) as { spec: Record<string, unknown> };
  t.equal(Object.getPrototypeOf(merged.spec), Object.prototype);
  t.ok(Object.hasOwn(merged.spec, '__proto__'));
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  t.end();
});
