/**
 * Turns ajv's errors into problems an operator can act on: one line per problem, pointing at the
 * field (JSON pointer into the document), saying what is wrong and what was found. Problems are
 * sorted in document order so `sidegate validate` reads top to bottom like the file.
 */
import type { ErrorObject } from 'ajv';
import type { PolicyProblem } from './types.js';
import { isPlainObject } from './merge.js';

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * A text from a document or a pod, quoted for a problem message: JSON string syntax, with the
 * controls and line breaks JSON leaves raw (DEL, C1, U+2028, U+2029) escaped too. A message
 * stays one line (kubectl and `sidegate validate` print one per line) and no control character
 * reaches a terminal as it is.
 */
export function quote(text: string): string {
  return escapeControls(JSON.stringify(text));
}

/** `text` with every control character and line break written as a `\uXXXX` escape. */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A short rendering of a found value for "(got ...)". */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'an object';
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? quote(value) : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Edit distance counting a swap of neighbours as one edit ("brust" → "burst"), case-insensitive. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] ?? [])[j] = best;
    }
  }
  return at(x.length, y.length);
}

function unknownField(field: string, allowed: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  // A name is suggested only within max(1, a quarter of its length) edits. A name whose length
  // alone differs by more than the largest such bound is further than that, and so is never the
  // closest name when one qualifies: it is not compared, and a long field costs no more than a
  // short one (the distance is quadratic).
  const reach = Math.max(1, ...allowed.map((name) => Math.floor(name.length / 4)));
  for (const name of allowed) {
    if (Math.abs(name.length - field.length) > reach) continue;
    const d = editDistance(field, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // Short names are too close to everything for a suggestion to mean anything.
  if (best !== undefined && best.length >= 4 && bestDistance <= Math.max(1, Math.floor(best.length / 4))) {
    return `unknown field (did you mean "${best}"?)`;
  }
  return allowed.length > 0 ? `unknown field (allowed: ${allowed.join(', ')})` : 'unknown field';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Per-keyword messages the schema gives in `errorMessage` (ajv-errors convention). */
function schemaMessage(e: ErrorObject): string | undefined {
  const m: unknown = e.parentSchema?.errorMessage;
  if (typeof m === 'string') return m;
  const byKeyword = isPlainObject(m) ? m[e.keyword] : undefined;
  return typeof byKeyword === 'string' ? byKeyword : undefined;
}

/** One problem for one ajv error (generated with verbose: true), or undefined for wrappers. */
function toProblem(e: ErrorObject): PolicyProblem | undefined {
  const got = (): string => ` (got ${describe(e.data)})`;
  const params = e.params as Record<string, unknown>;
  const at = (path: string, message: string): PolicyProblem => ({ path, message });
  const override = schemaMessage(e);

  if (e.propertyName !== undefined) {
    // A propertyNames failure: point at the offending key itself.
    return at(
      `${e.instancePath}/${escapePointer(e.propertyName)}`,
      `${override ?? e.message ?? 'invalid name'} (got ${describe(e.propertyName)})`,
    );
  }
  switch (e.keyword) {
    case 'if':
    case 'propertyNames':
      return undefined;
    case 'required':
      return at(`${e.instancePath}/${escapePointer(String(params.missingProperty))}`, 'is required');
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      if (override !== undefined) return at(`${e.instancePath}/${escapePointer(field)}`, override);
      const properties: unknown = e.parentSchema?.properties;
      const allowed = isPlainObject(properties) ? Object.keys(properties) : [];
      return at(`${e.instancePath}/${escapePointer(field)}`, unknownField(field, allowed));
    }
    case 'type': {
      const types = Array.isArray(params.type) ? (params.type as string[]) : String(params.type).split(',');
      const names = types.map((t) => TYPE_NAMES[t] ?? t);
      const expected = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0];
      return at(e.instancePath, `${override ?? `must be ${expected}`}${got()}`);
    }
    case 'enum': {
      const values = (params.allowedValues as unknown[]).map((v) => String(v)).join(', ');
      return at(e.instancePath, `${override ?? `must be one of: ${values}`}${got()}`);
    }
    case 'const':
      return at(e.instancePath, `must be ${JSON.stringify(params.allowedValue)}${got()}`);
    case 'pattern':
      return at(e.instancePath, `${override ?? `must match ${String(params.pattern)}`}${got()}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return at(e.instancePath, `must be ${String(params.comparison)} ${String(params.limit)}${got()}`);
    case 'minItems':
      return at(e.instancePath, params.limit === 1 ? 'must not be empty' : `must have at least ${plural(Number(params.limit), 'item')}`);
    case 'maxItems':
      return at(e.instancePath, `must have at most ${plural(Number(params.limit), 'item')}`);
    case 'uniqueItems': {
      const [first, second] = [Number(params.i), Number(params.j)].sort((a, b) => a - b);
      const dup: unknown = Array.isArray(e.data) ? e.data[second ?? 0] : undefined;
      return at(`${e.instancePath}/${second}`, `duplicates item ${first} (${describe(dup)})`);
    }
    case 'minProperties':
    case 'maxProperties':
      return at(
        e.instancePath,
        override ?? `must have ${e.keyword === 'minProperties' ? 'at least' : 'at most'} ${plural(Number(params.limit), 'field')}`,
      );
    default:
      return at(e.instancePath, e.message ?? `fails ${e.keyword}`);
  }
}

export function schemaProblems(errors: readonly ErrorObject[]): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  for (const e of errors) {
    const p = toProblem(e);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** Pre-order positions of every value in the document: the order a reader meets them. */
function documentOrder(doc: unknown): Map<string, number> {
  const order = new Map<string, number>();
  const walk = (value: unknown, path: string): void => {
    order.set(path, order.size);
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}/${i}`));
    else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) walk(v, `${path}/${escapePointer(k)}`);
  };
  walk(doc, '');
  return order;
}

/** Removes duplicates and sorts problems in document order (a missing field sorts with its parent). */
export function orderProblems(problems: readonly PolicyProblem[], doc: unknown): PolicyProblem[] {
  const order = documentOrder(doc);
  const position = (path: string): number => {
    for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const found = order.get(p);
      if (found !== undefined) return found;
      if (p === '') return -1;
    }
  };
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const key = `${p.path}\n${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique
    .map((p, i) => ({ p, i, pos: position(p.path) }))
    .sort((a, b) => a.pos - b.pos || a.i - b.i)
    .map(({ p }) => p);
}
