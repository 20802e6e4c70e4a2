import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import * as errors from '../../sidecar/src/errors.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';

/** Rows of the first markdown table in a docs file whose header starts with `first`. */
function tableRows(file: string, first: string): string[][] {
  const lines = readFileSync(join(process.cwd(), 'docs', file), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} `));
  if (start < 0) throw new Error(`docs/${file} has no table starting with "${first}"`);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim().replace(/^`|`$/g, '')),
    );
  }
  return rows;
}

t.test('docs/errors.md lists every error code with its status and class, and nothing else', async (t) => {
  const rows = tableRows('errors.md', 'code');
  const classByCode = new Map<string, string>();
  for (const [name, v] of Object.entries(errors)) {
    if (typeof v === 'function' && v.prototype instanceof errors.SidecarError) {
      const e = new (v as unknown as new (...a: unknown[]) => errors.SidecarError)('x', 'y', 'z');
      t.notOk(classByCode.has(e.code), `${e.code} has one class only`);
      classByCode.set(e.code, name);
      t.equal(e.status, errors.ERROR_TABLE[e.code].status, `${name} answers its code's status`);
    }
  }
  t.same(rows.map((r) => r[0]).sort(), Object.keys(errors.ERROR_TABLE).sort(), 'same codes');
  for (const [code, status, cls] of rows) {
    const spec = errors.ERROR_TABLE[code as errors.ErrorCode];
    t.equal(Number(status), spec.status, `${code} status`);
    t.equal(cls, classByCode.get(code!), `${code} class`);
  }
  t.equal(classByCode.size, Object.keys(errors.ERROR_TABLE).length, 'every code has a class');
});

t.test('docs/metrics.md lists every metric with its type and labels, and nothing else', async (t) => {
  const m = new Metrics({ processMetrics: false });
  const rows = tableRows('metrics.md', 'metric');
  const json = await m.registry.getMetricsAsJSON();
  t.same(rows.map((r) => r[0]).sort(), json.map((x) => x.name).sort(), 'same metric names');
  for (const [name, type, labels] of rows) {
    const metric = m.registry.getSingleMetric(name!) as unknown as { labelNames?: string[] } | undefined;
    t.equal(type, json.find((x) => x.name === name)?.type, `${name} type`);
    const documented = labels === '—' ? [] : labels!.split(',').map((l) => l.trim().replace(/`/g, ''));
    t.same(documented, metric?.labelNames ?? [], `${name} labels`);
  }
});

t.test('docs/metrics.md lists every injector metric', async (t) => {
  const m = new InjectorMetrics();
  const rows = tableRows('metrics.md', 'injector metric');
  const json = (await m.registry.getMetricsAsJSON()).filter((x) => x.name.startsWith('sidegate_'));
  t.same(rows.map((r) => r[0]).sort(), json.map((x) => x.name).sort());
  for (const [name, type] of rows) t.equal(type, json.find((x) => x.name === name)?.type, `${name} type`);
});
