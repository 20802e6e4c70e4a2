/**
 * Overlay semantics (the three policy sources merge in order: chart defaults → policy ConfigMap →
 * annotation overlay): objects merge key by key, arrays and scalars from the overlay replace the
 * base's, and an explicit `null` in the overlay removes the key (as in JSON Merge Patch, RFC 7386),
 * e.g. `spec: { breaker: null }` turns off a breaker the defaults switched on.
 */

export type JsonObject = { [key: string]: unknown };

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets an own property even for `__proto__`, which plain assignment would turn into a prototype change. */
function setKey(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of plain objects and arrays; other values are shared (they are immutable here). */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => cloneJson(v)) as T;
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) setKey(out, k, cloneJson(v));
    return out as T;
  }
  return value;
}

/**
 * Merges `overlay` over `base` into a new document; neither input is modified nor shared with the
 * result. An overlay may be partial (no apiVersion, kind or metadata).
 */
export function mergePolicyDocuments(base: unknown, overlay: unknown): unknown {
  if (overlay === undefined) return cloneJson(base);
  if (!isPlainObject(base) || !isPlainObject(overlay)) return cloneJson(overlay);
  const out: JsonObject = cloneJson(base);
  for (const [key, value] of Object.entries(overlay)) {
    if (value === null) {
      delete out[key];
    } else if (isPlainObject(value) && isPlainObject(out[key])) {
      setKey(out, key, mergePolicyDocuments(out[key], value));
    } else {
      setKey(out, key, cloneJson(value));
    }
  }
  return out;
}
