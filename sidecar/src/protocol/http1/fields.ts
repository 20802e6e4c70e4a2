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
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** Lowercase an ASCII field name without allocating when it already is (the common case for h2 and most clients). */
export function lowerName(name: string): string {
  const known = KNOWN.get(name);
  if (known !== undefined) return known;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}

/**
 * Common field names in the spellings peers use (lowercase, Title-Case, a few irregular ones),
 * mapped to one lowercase constant. Names from the parser are fresh strings: used as property
 * keys each would be looked up in V8's string table on every access; the constants are already
 * there, so the headers objects built from them take the fast paths.
 */
const KNOWN: ReadonlyMap<string, string> = (() => {
  const names = [
    'accept',
    'accept-encoding',
    'accept-language',
    'accept-ranges',
    'age',
    'authorization',
    'cache-control',
    'connection',
    'content-encoding',
    'content-language',
    'content-length',
    'content-type',
    'cookie',
    'date',
    'etag',
    'expect',
    'expires',
    'host',
    'if-modified-since',
    'if-none-match',
    'keep-alive',
    'last-modified',
    'location',
    'origin',
    'pragma',
    'referer',
    'retry-after',
    'server',
    'set-cookie',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'user-agent',
    'vary',
    'via',
    'www-authenticate',
    'x-forwarded-for',
    'x-forwarded-host',
    'x-forwarded-proto',
    'x-request-id',
    'traceparent',
    'tracestate',
    'grpc-status',
    'grpc-message',
    'strict-transport-security',
    'x-content-type-options',
    'access-control-allow-origin',
  ];
  const m = new Map<string, string>();
  const title = (n: string): string =>
    n
      .split('-')
      .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
      .join('-');
  for (const n of names) {
    m.set(n, n);
    m.set(title(n), n);
    m.set(n.toUpperCase(), n);
  }
  for (const [odd, n] of [
    ['ETag', 'etag'],
    ['WWW-Authenticate', 'www-authenticate'],
    ['TE', 'te'],
    ['X-Request-ID', 'x-request-id'],
  ] as const)
    m.set(odd, n);
  return m;
})();

/** Add one raw field to a headers object with node:http's repeated-field rules. */
export function addField(out: IncomingHttpHeaders, rawName: string, value: string): void {
  addLowered(out, lowerName(rawName), value);
}

/** `addField` for a name already lowercased (`lowerName`). */
export function addLowered(out: IncomingHttpHeaders, name: string, value: string): void {
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

/**
 * How many field lines of a raw [name, value, ...] list are Host: RFC 9112 §3.2 wants 400 for
 * more than one (and for none in HTTP/1.1), so the app never picks a Host the sidecar did not read.
 */
export function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

/** The 400's reason for more than one Host line (the front and `sidegate explain` alike). */
export const TWO_HOSTS = 'more than one Host header';
