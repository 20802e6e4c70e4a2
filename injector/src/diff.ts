/**
 * RFC 6902 JSON Patch as a diff between two JSON documents. Objects are diffed key by key; arrays
 * of equal length element by element; arrays whose length changed are replaced whole, which keeps
 * the patch obviously correct (no index shifting) at the cost of a few bytes.
 */
import { isDeepStrictEqual } from 'node:util';

export type PatchOp =
  { op: 'add'; path: string; value: unknown } | { op: 'remove'; path: string } | { op: 'replace'; path: string; value: unknown };

/** RFC 6901 escaping: annotation keys like `sidegate.dev/status` contain `/`. */
export const pointerToken = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function walk(a: unknown, b: unknown, path: string, ops: PatchOp[]): void {
  if (isDeepStrictEqual(a, b)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) {
      if (!(k in b) || b[k] === undefined) {
        if (a[k] !== undefined) ops.push({ op: 'remove', path: `${path}/${pointerToken(k)}` });
      }
    }
    for (const [k, v] of Object.entries(b)) {
      if (v === undefined) continue;
      const p = `${path}/${pointerToken(k)}`;
      if (!(k in a) || a[k] === undefined) ops.push({ op: 'add', path: p, value: v });
      else walk(a[k], v, p, ops);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    b.forEach((v, i) => walk(a[i], v, `${path}/${i}`, ops));
    return;
  }
  ops.push({ op: 'replace', path, value: b });
}

/** The operations that turn `from` into `to`. Both must be objects (the root is never replaced). */
export function diff(from: Record<string, unknown>, to: Record<string, unknown>): PatchOp[] {
  const ops: PatchOp[] = [];
  walk(from, to, '', ops);
  return ops;
}
