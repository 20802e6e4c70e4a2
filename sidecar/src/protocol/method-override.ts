import type { IncomingHttpHeaders } from 'node:http';

/**
 * Other readings of a request than its request line, which some apps act on. Method override: many frameworks let a request act as another method than the one it was sent
 * with, named in a header or a parameter (Express's `method-override`, Rack::MethodOverride,
 * Symfony, Laravel, gorilla/handlers, ASP.NET's HttpMethodOverride). A POST the sidecar judged as
 * POST then runs the app's DELETE handler. The route stage asks for the same verdict under every
 * method the app may act on (`sidecar/src/stages/route/index.ts`); docs/security.md says which
 * spellings are read.
 */

/** A header name in every spelling CGI-style servers (WSGI, Rack, PHP) read as it: each `-` may be `_`. */
export function dashSpellings(name: string): string[] {
  const parts = name.split('-');
  let out = [parts[0]!];
  for (const p of parts.slice(1)) out = out.flatMap((o) => [`${o}-${p}`, `${o}_${p}`]);
  return out;
}

/** Header names frameworks read an override from. */
const HEADER_SPELLINGS: readonly string[] = ['x-http-method-override', 'x-http-method', 'x-method-override'].flatMap(dashSpellings);

/**
 * Header names some apps route on instead of the request line: Symfony before its 2018 fix
 * (CVE-2018-14773), Zend Framework, apps behind IIS's URL Rewrite.
 */
const REWRITE_SPELLINGS: readonly string[] = ['x-original-url', 'x-rewrite-url'].flatMap(dashSpellings);

/** Every spelling of both lists. */
const NAMED: ReadonlySet<string> = new Set([...HEADER_SPELLINGS, ...REWRITE_SPELLINGS]);

/**
 * Whether `headers` has any override or URL rewrite header, in any spelling: one pass over the
 * names a request has (most have none of these) instead of a lookup per spelling (24) on each.
 */
export function namesOtherReading(headers: IncomingHttpHeaders): boolean {
  for (const k in headers) if (k.charCodeAt(0) === 120 /* x */ && NAMED.has(k)) return true;
  return false;
}

/** The targets a request's URL rewrite headers name, as sent; undefined when it has none. */
export function rewriteTargets(headers: IncomingHttpHeaders): string[] | undefined {
  let out: string[] | undefined;
  for (const name of REWRITE_SPELLINGS) {
    const v = headers[name];
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) (out ??= []).push(one);
  }
  return out;
}

const PARAM = '_method';

/**
 * The methods a request names as overrides (upper-cased, as frameworks compare them), other than
 * its own; undefined when it names none. Every comma-separated item of every override header
 * counts (Express reads the first, others the whole value or the last field), and every `_method`
 * query parameter in any spelling a query parser decodes to that name (`%5Fmethod`, values
 * percent-encoded or with `+`). A `_method` in a form body is not read: see docs/security.md.
 */
export function overrideMethods(method: string, headers: IncomingHttpHeaders | undefined, target: string): string[] | undefined {
  let out: string[] | undefined;
  // `headers` undefined: the caller knows it names no override (namesOtherReading).
  if (headers !== undefined)
    for (const name of HEADER_SPELLINGS) {
      const v = headers[name];
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) for (const item of one.split(',')) out = addOverride(out, method, item);
    }
  const q = target.indexOf('?');
  if (q >= 0) {
    const query = target.slice(q + 1);
    if (query.includes('method') || query.includes('%')) {
      // `;` separated parameters too, as older parsers (Python before 3.9.2, Go before 1.17) read them.
      for (const part of query.split(/[&;]/)) {
        const eq = part.indexOf('=');
        if (eq < 0 || !namesParam(decode(part.slice(0, eq)))) continue;
        out = addOverride(out, method, decode(part.slice(eq + 1)));
      }
    }
  }
  return out;
}

/** `out` with `v` (upper-cased, trimmed) added unless empty, the request's own method or already there. */
function addOverride(out: string[] | undefined, method: string, v: string): string[] | undefined {
  const m = v.trim().toUpperCase();
  if (m !== '' && m !== method && (out === undefined || !out.includes(m))) (out ??= []).push(m);
  return out;
}

/**
 * Whether a decoded query parameter name reaches an app as `_method`: as written, or as PHP
 * (Laravel, Symfony) names it: leading spaces dropped, then `.`, ` ` and an unmatched `[` made `_`
 * (`?.method=DELETE` is `$_GET['_method']`).
 */
function namesParam(name: string): boolean {
  if (name === PARAM) return true;
  const php = name
    .replace(/^ +/, '')
    .replace(/[. ]/g, '_')
    .replace(/\[(?![^\]]*\])/, '_');
  return php === PARAM;
}

/** A query component as `application/x-www-form-urlencoded` parsers decode it (as sent if malformed, as `qs` does). */
function decode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
