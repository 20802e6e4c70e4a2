/** The chart's values, schema and documented example values, read for the chart tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART } from './promql.js';

export type Values = Record<string, unknown>;

export const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function readValues(): Values {
  return parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Values;
}

export function readSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
}

export const EXAMPLES_DIR = join(CHART, 'examples');

/** examples/*.yaml: name → the overrides as written. */
export function readExamples(): Map<string, Values> {
  const out = new Map<string, Values>();
  for (const f of readdirSync(EXAMPLES_DIR).filter((x) => x.endsWith('.yaml')).sort()) {
    out.set(f, parse(readFileSync(join(EXAMPLES_DIR, f), 'utf8')) as Values);
  }
  return out;
}

/** Helm's coalescing: maps merge key by key, anything else (lists included) is replaced. */
export function coalesce(base: unknown, over: unknown): unknown {
  if (isMap(base) && isMap(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? coalesce(base[k], v) : v;
    return out;
  }
  return over;
}

/**
 * Dotted paths of every value a user sets: descends while the schema says the map is the chart's
 * own (closed, `additionalProperties: false`); a Kubernetes object or a free map (resources,
 * securityContext, labels) is one value.
 */
export function valuePaths(v: unknown, schema: unknown, prefix = ''): string[] {
  const closed = isMap(schema) && schema.additionalProperties === false && isMap(schema.properties);
  if (closed && isMap(v) && Object.keys(v).length > 0) {
    const props = (schema as { properties: Record<string, unknown> }).properties;
    return Object.entries(v).flatMap(([k, x]) => valuePaths(x, props[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return [prefix];
}

export function getPath(v: unknown, path: string): unknown {
  let cur: unknown = v;
  for (const k of path.split('.')) {
    if (!isMap(cur) || !(k in cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function setPath(v: Values, path: string, value: unknown): Values {
  const out = structuredClone(v);
  const keys = path.split('.');
  let cur: Record<string, unknown> = out;
  for (const k of keys.slice(0, -1)) {
    if (!isMap(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
  return out;
}
