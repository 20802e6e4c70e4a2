/**
 * One path for matching and forwarding. Rules match the normalised path and the app receives the
 * same normalised path, so a rule can never be dodged with a spelling the app reads differently
 * (`/public/../admin`, `//admin`, `/%2e%2e/admin`, `/p%75blic`).
 */

/** Cheap test: most paths need no work at all. */
const NEEDS_WORK = /%|\\|;|\/\/|\/\.\.?(?:\/|$)/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

export type NormalizedTarget =
  | { readonly ok: true; readonly path: string; readonly target: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Normalise a request target (origin-form or absolute-form): percent-decode unreserved characters,
 * upper-case other escapes, resolve `.` and `..`, merge repeated slashes. Encoded slashes and
 * backslashes are refused: apps disagree on what they mean.
 */
export function normalizeTarget(target: string): NormalizedTarget {
  if (target === '*') return { ok: true, path: '*', target };
  let t = target;
  if (t.charCodeAt(0) !== 47 /* / */) {
    if (!/^https?:\/\//i.test(t)) return { ok: false, reason: 'request target must start with /' };
    const slash = t.indexOf('/', t.indexOf('//') + 2);
    t = slash < 0 ? '/' : t.slice(slash);
  }
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
  const path = resolved.includes(';') ? resolved.split('/').map((seg) => seg.split(';', 1)[0]).join('/') : resolved;
  return { ok: true, path, target: q < 0 ? resolved : resolved + t.slice(q) };
}

function decodeUnreserved(p: string): string | undefined {
  if (!p.includes('%')) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c !== '%') { out += c; continue; }
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
    if (s === '.') { if (i === segs.length - 1) out.push(''); continue; }
    if (s === '..') { out.pop(); if (i === segs.length - 1) out.push(''); continue; }
    out.push(s);
  }
  return `/${out.join('/')}`;
}
