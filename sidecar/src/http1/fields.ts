import type { IncomingHttpHeaders } from 'node:http';

/**
 * Header fields as llhttp hands them over: a flat `[name, value, name, value, ...]` list with the
 * names as sent. Turned into the lowercase-keyed object every stage reads, with node:http's rules
 * for repeated fields (so behaviour does not change with the engine): for fields that cannot be
 * lists the first one wins, `cookie` joins with "; ", `set-cookie` stays a list, the rest join
 * with ", ". Values are latin1 strings, byte for byte what was sent (llhttp refused CR, LF, NUL).
 */

/** Fields a message may carry once; later copies are ignored (node:http's list). */
const SINGLE: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/** Lowercase an ASCII field name without allocating when it already is (the common case for h2 and most clients). */
export function lowerName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}

/** Add one raw field to a headers object with node:http's repeated-field rules. */
export function addField(out: IncomingHttpHeaders, rawName: string, value: string): void {
  const name = lowerName(rawName);
  const prior = out[name];
  if (prior === undefined) {
    out[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    (prior as string[]).push(value);
  } else if (!SINGLE.has(name)) {
    out[name] = `${prior as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
}

/** The headers object for a raw field list. */
export function fieldsToHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) addField(out, raw[i]!, raw[i + 1]!);
  return out;
}
