import type { IncomingHttpHeaders } from 'node:http';
import type { TokenSource } from '../../../../policies/src/types.js';

/**
 * Reading the token from where a provider says it is, and removing it before the request goes
 * to the app. No allocation beyond the token string itself on the common paths.
 */

export function readToken(src: TokenSource, headers: IncomingHttpHeaders, target: string): string | undefined {
  switch (src.kind) {
    case 'header':
      return fromHeader(headers[src.name], src.prefix);
    case 'cookie':
      return fromCookie(headers.cookie, src.name);
    case 'query':
      return fromQuery(target, src.name);
  }
}

function fromHeader(v: string | string[] | undefined, prefix: string): string | undefined {
  if (typeof v !== 'string') return undefined;
  const n = prefix.length;
  if (v.length <= n) return undefined;
  // Auth schemes are case-insensitive (RFC 9110 §11.1): "bearer x" is as good as "Bearer x".
  if (n > 0 && !v.startsWith(prefix) && v.slice(0, n).toLowerCase() !== prefix.toLowerCase()) return undefined;
  return n === 0 ? v : v.slice(n);
}

function fromCookie(cookie: string | undefined, name: string): string | undefined {
  if (cookie === undefined) return undefined;
  let i = 0;
  const len = cookie.length;
  while (i < len) {
    while (i < len && (cookie.charCodeAt(i) === 0x20 || cookie.charCodeAt(i) === 0x3b)) i++;
    let end = cookie.indexOf(';', i);
    if (end === -1) end = len;
    const eq = cookie.indexOf('=', i);
    if (eq !== -1 && eq < end && eq - i === name.length && cookie.startsWith(name, i)) {
      let v = cookie.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1);
      return v === '' ? undefined : v;
    }
    i = end + 1;
  }
  return undefined;
}

function fromQuery(target: string, name: string): string | undefined {
  const q = target.indexOf('?');
  if (q === -1) return undefined;
  for (const part of target.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq === name.length && part.startsWith(name)) {
      const raw = part.slice(eq + 1);
      try {
        return raw === '' ? undefined : decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

/** Take the token off the request: header, cookie, or query parameter (the new target is returned). */
export function stripToken(src: TokenSource, headers: IncomingHttpHeaders, target: string): string {
  if (src.kind === 'query') return withoutQueryParam(target, src.name);
  if (src.kind === 'header') {
    headers[src.name] = undefined; // not `delete`: see removeHeader in headers.ts
  } else if (src.kind === 'cookie') {
    const cookie = headers.cookie;
    if (cookie === undefined) return target;
    // Every cookie of that name as cookie parsers read names (trimmed: `sid =x` is `sid`).
    const kept = cookie
      .split(';')
      .filter((c) => {
        const eq = c.indexOf('=');
        return (eq < 0 ? c : c.slice(0, eq)).trim() !== src.name;
      })
      .map((c) => c.trim())
      .filter((c) => c !== '');
    if (kept.length === 0) headers.cookie = undefined;
    else headers.cookie = kept.join('; ');
  }
  return target;
}

/**
 * For a provider with `forward: true`: the request keeps the token that was verified (read from
 * `found`, the first one there) once, where it was, and no token anywhere else any provider reads
 * one from: every other cookie or parameter of that name, in any spelling, and every other source
 * are removed. The new target is returned.
 */
export function keepOnlyToken(all: readonly TokenSource[], found: TokenSource, headers: IncomingHttpHeaders, target: string): string {
  const token = readToken(found, headers, target);
  let t = target;
  for (const s of all) {
    if (s.kind === found.kind && s.name === found.name) continue;
    t = stripToken(s, headers, t);
  }
  if (token === undefined || found.kind === 'header') return t; // a header holds one value: the verified one
  t = stripToken(found, headers, t);
  if (found.kind === 'cookie') {
    const c = headers.cookie;
    headers.cookie = c === undefined ? `${found.name}=${token}` : `${c}; ${found.name}=${token}`;
    return t;
  }
  return `${t}${t.includes('?') ? '&' : '?'}${encodeURIComponent(found.name)}=${encodeURIComponent(token)}`;
}

/** Every parameter of that name as query parsers decode names (`%61t` and `a+t` spellings too). */
function withoutQueryParam(target: string, name: string): string {
  const q = target.indexOf('?');
  if (q === -1) return target;
  const kept = target
    .slice(q + 1)
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      const raw = eq < 0 ? part : part.slice(0, eq);
      if (raw === name) return false;
      if (!raw.includes('%') && !raw.includes('+')) return true;
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' ')) !== name;
      } catch {
        return true;
      }
    });
  return kept.length === 0 ? target.slice(0, q) : `${target.slice(0, q)}?${kept.join('&')}`;
}
