import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import t from 'tap';
import { parseInjectorConfig } from '../../injector/src/config.js';
import { compilePolicy } from '../../policies/src/index.js';
import { loadRedisConfig } from '../../sidecar/src/redis/config.js';
import { coalesce, getPath, isMap, readExamples, readSchema, readValues, setPath, valuePaths, type Values } from './chart-files.js';
import { CHART } from './promql.js';

const schema = readSchema();
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
const validate = ajv.compile(schema);
const values = readValues();
const examples = readExamples();

function errors(v: unknown): ErrorObject[] {
  return validate(v) ? [] : [...(validate.errors ?? [])];
}

t.test('values.yaml is valid against values.schema.json', async (t) => {
  t.same(errors(values), [], 'no schema errors');
});

t.test('every documented example, merged over values.yaml as helm does, is valid', async (t) => {
  t.ok(examples.size >= 5, 'examples exist');
  for (const [name, over] of examples) t.same(errors(coalesce(values, over)), [], name);
});

t.test('wrong types and unknown keys are rejected, each at its path', async (t) => {
  const cases: [string, unknown, string][] = [
    ['injector.replicas', 'two', '/injector/replicas'],
    ['injector.replicas', 0, '/injector/replicas'],
    ['webhook.failurePolicy', 'Sometimes', '/webhook/failurePolicy'],
    ['webhook.timeoutSeconds', 31, '/webhook/timeoutSeconds'],
    ['webhook.reinvocationPolicy', 'Always', '/webhook/reinvocationPolicy'],
    ['webhook.excludeNamespaces', 'monitoring', '/webhook/excludeNamespaces'],
    ['sidecar.nativeSidecar', 'yes', '/sidecar/nativeSidecar'],
    ['sidecar.interception', 'tproxy', '/sidecar/interception'],
    ['sidecar.resources.cpuRequest', '50 millicores', '/sidecar/resources/cpuRequest'],
    ['sidecar.logLevel', 'verbose', '/sidecar/logLevel'],
    ['sidecar.defaultPolicy', 'orders', '/sidecar/defaultPolicy'],
    ['redis.url', 'memcached://cache:11211', '/redis/url'],
    ['redis.passwordSecret', 'redis-auth', '/redis/passwordSecret'],
    ['redis.bundled.enabled', 'true', '/redis/bundled/enabled'],
    ['tracing.exporter', 'zipkin', '/tracing/exporter'],
    ['tracing.samplerArg', 0.1, '/tracing/samplerArg'],
    ['tracing.samplerArg', '1.5', '/tracing/samplerArg'],
    ['tls.certManager.issuerRef', { name: 'ca', kind: 'Vault' }, '/tls/certManager/issuerRef/kind'],
    ['tls.certManager.duration', '1 year', '/tls/certManager/duration'],
    ['metrics.prometheusRule.disabledAlerts', ['HighLatency'], '/metrics/prometheusRule/disabledAlerts/0'],
    ['metrics.dashboard.labels', { grafana_dashboard: 1 }, '/metrics/dashboard/labels/grafana_dashboard'],
    ['image.pullPolicy', 'Sometimes', '/image/pullPolicy'],
    ['injector.resources.limits', { memory: 'lots' }, '/injector/resources/limits/memory'],
    ['redis.urll', 'redis://x:6379', '/redis'],
    ['injector.replica', 2, '/injector'],
    ['metrics.serviceMonitor', { enabled: true }, '/metrics'],
  ];
  for (const [path, bad, where] of cases) {
    const errs = errors(setPath(values, path, bad));
    t.ok(errs.length > 0, `${path} = ${JSON.stringify(bad)} is rejected`);
    t.ok(errs.some((e) => e.instancePath === where), `${path}: an error at ${where} (got ${errs.map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ')})`);
  }
});

t.test('schema and values.yaml describe the same tree', async (t) => {
  // Every leaf of values.yaml has a schema entry with a description, and every schema property
  // is a key of values.yaml: a value can be neither undocumented nor a schema-only ghost.
  const schemaAt = (path: string): Record<string, unknown> | undefined => {
    let cur: unknown = schema;
    for (const k of path.split('.')) {
      const props = isMap(cur) && isMap(cur.properties) ? cur.properties : undefined;
      if (props === undefined || !isMap(props[k])) return undefined;
      cur = props[k];
    }
    return cur as Record<string, unknown>;
  };
  for (const p of valuePaths(values, schema)) {
    const s = schemaAt(p);
    t.ok(s, `${p} is in the schema`);
    if (s) t.ok(typeof s.description === 'string' && s.description !== '', `${p} has a description`);
  }
  const walk = (s: Record<string, unknown>, prefix: string): void => {
    if (!isMap(s.properties)) return;
    for (const [k, sub] of Object.entries(s.properties)) {
      const p = prefix === '' ? k : `${prefix}.${k}`;
      t.not(getPath(values, p), undefined, `schema property ${p} is in values.yaml`);
      const v = getPath(values, p);
      if (isMap(sub) && sub.additionalProperties === false && isMap(v) && Object.keys(v).length > 0) walk(sub, p);
    }
  };
  walk(schema, '');
});

t.test('every .Values reference in the templates exists in values.yaml', async (t) => {
  const dir = join(CHART, 'templates');
  const refs = new Set<string>();
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) refs.add(m[1]!.replace(/\.$/, ''));
  }
  t.ok(refs.size > 40, `${refs.size} references found`);
  for (const r of refs) t.not(getPath(values, r), undefined, `.Values.${r}`);
});

t.test('README lists every value with its default', async (t) => {
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `([\w.]+)` \| `([^`]*)` \|/gm)) rows.set(m[1]!, m[2]!);
  for (const p of valuePaths(values, schema)) {
    t.ok(rows.has(p), `README lists ${p}`);
    const v = getPath(values, p);
    if (rows.has(p)) t.equal(rows.get(p), JSON.stringify(v), `README default of ${p}`);
  }
  for (const k of rows.keys()) t.not(getPath(values, k), undefined, `README row ${k} is a value`);
});

t.test('examples hold configuration the sidegate code itself accepts', async (t) => {
  for (const [name, over] of examples) {
    const v = coalesce(values, over) as Values;
    const policy = getPath(v, 'sidecar.defaultPolicy');
    if (isMap(policy) && Object.keys(policy).length > 0) {
      const r = compilePolicy(policy);
      t.ok(r.ok, `${name}: defaultPolicy compiles${r.ok ? '' : `: ${r.problems.map((p) => `${p.path} ${p.message}`).join('; ')}`}`);
    }
    const url = getPath(v, 'redis.url');
    if (typeof url === 'string' && url !== '') t.doesNotThrow(() => loadRedisConfig(url, {}), `${name}: redis.url parses as the sidecar parses it`);
  }
});

t.test('sidecar defaults in values.yaml match the injector\'s built-in defaults', async (t) => {
  // An install with default values behaves like `sidegate inject` without a config file.
  const d = parseInjectorConfig({});
  const res = getPath(values, 'sidecar.resources') as Values;
  t.equal(getPath(values, 'sidecar.nativeSidecar'), d.nativeSidecar);
  t.equal(getPath(values, 'sidecar.interception'), d.interception);
  t.equal(res.cpuRequest, d.resources.cpuRequest);
  t.equal(res.memoryRequest, d.resources.memoryRequest);
  t.equal(res.memoryLimit, d.resources.memoryLimit);
  t.equal(res.cpuLimit === '' ? undefined : res.cpuLimit, d.resources.cpuLimit);
  t.equal(`${String(getPath(values, 'image.repository'))}:0.1.0`, d.image, 'image');
});
