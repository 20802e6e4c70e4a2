import { http } from './node-http.js';

const { METHODS } = http;

/**
 * The one request-line validator every front uses (HTTP/1.1, HTTP/2, TLS), before any
 * stage reads the request. Rules match the normalised path, limits key on it and the app receives
 * it, so a request can never be judged as one thing and routed by the app as another
 * (`/public/../admin`, `//admin`, `/%2e%2e/admin`, `/p%75blic`, `/exact/secret#x`, `:method: post`).
 * docs/security.md lists every normalisation and refusal made here.
 */

/**
 * Methods sidegate forwards: the ones Node's HTTP/1.1 parser (llhttp) knows, spelt exactly so
 * (methods are case-sensitive, RFC 9110 §9.1). HTTP/1.1 requests with any other method never
 * parse; HTTP/2 ones are refused here, so both protocols accept the same set.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS.filter((m) => m !== 'CONNECT'));

/** Cheap test: most paths need no work at all. */
const NEEDS_WORK = /%|\\|;|\/\/|\/\.\.?(?:\/|$)/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

export type RequestTarget =
  | {
      readonly ok: true;
      /** The path rules match: dot segments resolved, slashes merged, `;params` removed from segments. */
      readonly path: string;
      /** What the app receives: the normalised path (parameters kept) and the query as sent. */
      readonly target: string;
      /** The authority of an absolute-form target (HTTP/1.1 only), which wins over Host (RFC 9112 §3.2.2). */
      readonly authority: string | undefined;
      /**
       * The normalised path with its `;parameters`, when it has any: apps other than servlet
       * containers route on it, so the policy must reach the same verdict for it as for `path`.
       */
      readonly paramPath?: string | undefined;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Validate a request's method and target and normalise the target. `h2`: the target came from
 * HTTP/2's `:path`, which is origin-form only (RFC 9113 §8.3.1).
 */
export function requestTarget(method: string, raw: string, h2: boolean): RequestTarget {
  if (!KNOWN_METHODS.has(method)) {
    return {
      ok: false,
      reason:
        method === 'CONNECT' ? 'CONNECT is not supported: sidegate is not a forward proxy' : 'unknown method (methods are case-sensitive)',
    };
  }
  // Visible ASCII only: what llhttp accepts in an HTTP/1.1 request line, so HTTP/2 cannot carry a
  // space, tab, DEL or 8-bit byte into the request line sent to an HTTP/1.1 app.
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: `byte 0x${c.toString(16).padStart(2, '0')} in the request target` };
    // A fragment is never sent (RFC 9110 §4.2.4, RFC 9112 §3.2); apps would route without it.
    if (c === 0x23) return { ok: false, reason: 'fragment (#) in the request target' };
  }
  if (raw === '*') {
    return method === 'OPTIONS'
      ? { ok: true, path: '*', target: '*', authority: undefined }
      : { ok: false, reason: 'asterisk-form target without OPTIONS' };
  }
  let t = raw;
  let authority: string | undefined;
  if (t.charCodeAt(0) !== 47 /* / */) {
    const m = h2 ? null : /^https?:\/\/([^/?@]*)/i.exec(t);
    if (m === null) return { ok: false, reason: 'request target must start with /' };
    authority = m[1]!;
    const rest = t.slice(m[0].length);
    t = rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
    if (t.charCodeAt(0) !== 47) return { ok: false, reason: 'userinfo in the request target' };
  }
  const n = normalizePath(t);
  return n.ok ? { ok: true, path: n.path, target: n.target, authority, paramPath: n.paramPath } : n;
}

/**
 * An authority (`Host`, `:authority`, or an absolute-form target's) as RFC 3986 §3.2 allows it:
 * host (reg-name, IPv4, or IPv6 in brackets) and port, no userinfo. Apps pick virtual hosts by it.
 */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=%]*(?:\[[0-9A-Fa-f:.]+\])?(?::[0-9]*)?$/;

export function validAuthority(a: string): boolean {
  return a.length <= 255 && AUTHORITY.test(a);
}

type Normalized =
  | { readonly ok: true; readonly path: string; readonly target: string; readonly paramPath?: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Normalise an origin-form target: percent-decode unreserved characters, upper-case other escapes,
 * resolve `.` and `..`, merge repeated slashes. Encoded slashes and backslashes are refused: apps
 * disagree on what they mean.
 */
export function normalizePath(t: string): Normalized {
  const q = t.indexOf('?');
  const rawPath = q < 0 ? t : t.slice(0, q);
  if (!NEEDS_WORK.test(rawPath)) return { ok: true, path: rawPath, target: t };
  const decoded = decodeUnreserved(rawPath);
  if (decoded === undefined) return { ok: false, reason: 'malformed percent-encoding in path' };
  if (/%2f|%5c|\\/i.test(decoded)) return { ok: false, reason: 'encoded slash or backslash in path' };
  if (/(?:^|\/)\.\.?;/.test(decoded)) return { ok: false, reason: 'path parameter on a dot segment' };
  const resolved = resolveDots(decoded);
  // Servlet containers route on segments with their ;parameters removed: so do the rules. The app
  // still receives the parameters (matrix parameters, jsessionid).
  if (!resolved.includes(';')) return { ok: true, path: resolved, target: q < 0 ? resolved : resolved + t.slice(q) };
  // A segment that was only a parameter (`/;x/admin`) leaves an empty one: merged, as Tomcat does.
  const path = resolved
    .split('/')
    .map((seg) => seg.split(';', 1)[0])
    .join('/')
    .replace(/\/{2,}/g, '/');
  return { ok: true, path, target: q < 0 ? resolved : resolved + t.slice(q), paramPath: resolved };
}

function decodeUnreserved(p: string): string | undefined {
  if (!p.includes('%')) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = p.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const ch = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

function resolveDots(p: string): string {
  const segs = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '' && i < segs.length - 1) continue; // merge repeated slashes
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}
