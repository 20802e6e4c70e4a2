// House rules of policy.v1.schema.json: docs are generated from it, so every property is
// described; unknown fields are errors, so every object closes its properties.
import t from 'tap';
import { JWS_ALGORITHMS, algorithmKind } from '../../policies/src/algorithms.js';
import { DURATION_FIELDS } from '../../policies/src/checks.js';
import { readSchema } from '../../policies/scripts/generate.js';

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function walk(node: unknown, path: string, visit: (n: Node, path: string) => void): void {
  if (!isNode(node)) return;
  visit(node, path);
  for (const [k, v] of Object.entries(node)) {
    if (k === 'default' || k === 'errorMessage' || k === 'const' || k === 'enum') continue;
    if (Array.isArray(v)) v.forEach((c, i) => walk(c, `${path}/${k}/${i}`, visit));
    else walk(v, `${path}/${k}`, visit);
  }
}

void t.test('every property and definition has a description', (t) => {
  const schema = readSchema();
  let count = 0;
  walk(schema, '#', (n, path) => {
    for (const group of ['properties', 'definitions'] as const) {
      const members = n[group];
      if (!isNode(members)) continue;
      for (const [name, member] of Object.entries(members)) {
        count++;
        t.ok(
          isNode(member) && typeof member.description === 'string' && member.description.length > 0,
          `${path}/${group}/${name} has a description`,
        );
      }
    }
  });
  t.ok(count > 100, `${count} properties checked`);
  t.end();
});

void t.test('every object with properties rejects unknown fields', (t) => {
  walk(readSchema(), '#', (n, path) => {
    if (isNode(n.properties)) t.equal(n.additionalProperties, false, `${path} has additionalProperties: false`);
  });
  t.end();
});

void t.test('the DESIGN contract field names are in the schema', (t) => {
  const text = JSON.stringify(readSchema());
  for (const name of [
    'upstream',
    'protocol',
    'timeout',
    'maxConcurrentRequests',
    'auth',
    'providers',
    'issuer',
    'audiences',
    'algorithms',
    'jwks',
    'uri',
    'refreshInterval',
    'staleIfError',
    'from',
    'header',
    'prefix',
    'cookie',
    'clockSkew',
    'forwardClaims',
    'rules',
    'match',
    'paths',
    'methods',
    'require',
    'claims',
    'default',
    'rateLimits',
    'key',
    'claim',
    'clientIp',
    'method',
    'route',
    'constant',
    'limit',
    'requests',
    'per',
    'burst',
    'onRedisError',
    'mode',
    'breaker',
    'consecutiveFailures',
    'openFor',
    'halfOpenRequests',
    'failureStatuses',
  ]) {
    t.ok(text.includes(`"${name}":{`), `${name} is a property`);
  }
  t.end();
});

void t.test('the semantic checks know every duration field of the schema', (t) => {
  // checks.ts refuses durations too long to count in milliseconds, field by field: a duration
  // field it does not list would reach buildPolicy unchecked (and throw there).
  const schema = readSchema() as Node;
  const definitions = isNode(schema.definitions) ? schema.definitions : {};
  const found: string[] = [];
  const visit = (n: unknown, path: string, seen: readonly string[]): void => {
    if (!isNode(n)) return;
    const ref = typeof n.$ref === 'string' ? (n.$ref.split('/').pop() ?? '') : undefined;
    if (ref !== undefined) {
      if (/^(positiveD|d)uration$/.test(ref)) {
        found.push(path);
        return;
      }
      if (!seen.includes(ref)) visit(definitions[ref], path, [...seen, ref]);
    }
    if (isNode(n.properties)) for (const [k, v] of Object.entries(n.properties)) visit(v, `${path}/${k}`, seen);
    if (n.items !== undefined) visit(n.items, `${path}/*`, seen);
    if (isNode(n.additionalProperties)) visit(n.additionalProperties, `${path}/*`, seen);
    for (const k of ['oneOf', 'anyOf', 'allOf']) if (Array.isArray(n[k])) for (const c of n[k] as unknown[]) visit(c, path, seen);
    for (const k of ['if', 'then', 'else']) visit(n[k], path, seen);
  };
  visit(schema, '', []);
  t.same([...new Set(found)].sort(), [...DURATION_FIELDS].sort());
  t.end();
});

void t.test('provider algorithms: the schema enum is the one list, the default its asymmetric part', (t) => {
  const schema = readSchema() as {
    definitions: { provider: { properties: { algorithms: { default: string[]; items: { enum: string[] } } } } };
  };
  const algorithms = schema.definitions.provider.properties.algorithms;
  t.same([...algorithms.items.enum].sort(), Object.keys(JWS_ALGORITHMS).sort(), 'enum = JWS_ALGORITHMS');
  t.same(
    [...algorithms.default].sort(),
    Object.keys(JWS_ALGORITHMS)
      .filter((a) => algorithmKind(a) === 'asymmetric')
      .sort(),
    'default: every asymmetric one',
  );
  t.end();
});
