import type { Exchange } from './protocol/exchange.js';
import { H } from './protocol/headers.js';

/**
 * The client address: the socket peer, unless `trustedHops` proxies in front append to
 * x-forwarded-for, in which case it is the entry the outermost trusted proxy appended — the
 * `trustedHops`-th from the right. Entries further left are client-supplied and never trusted;
 * with fewer entries than trusted hops the socket peer is used (as Envoy's xff_num_trusted_hops).
 */
export function clientIp(ex: Pick<Exchange, 'headers' | 'remoteAddress'>, trustedHops: number): string {
  if (trustedHops > 0) {
    const raw = ex.headers[H.forwardedFor];
    if (raw !== undefined) {
      const list = (Array.isArray(raw) ? raw.join(',') : raw)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const pick = list[list.length - trustedHops];
      if (pick !== undefined) return normalizeIp(pick);
    }
  }
  return normalizeIp(ex.remoteAddress);
}

/**
 * `::ffff:10.0.0.1` and `10.0.0.1` are one client; IPv6 case and brackets do not matter, nor a
 * port some proxies append (`10.0.0.1:5678`, `[::1]:5678`: Azure Application Gateway does).
 */
export function normalizeIp(ip: string): string {
  let s = ip.trim().toLowerCase();
  if (s.startsWith('[')) s = s.slice(1, s.indexOf(']') > 0 ? s.indexOf(']') : undefined);
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(s)) s = s.slice(0, s.indexOf(':'));
  if (s.includes(':')) s = canonicalV6(s);
  return s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s;
}

const V6_CACHE = new Map<string, string>();
const V6_CACHE_MAX = 1024;

/**
 * One spelling per IPv6 address (RFC 5952, as Node reports socket peers): `2001:DB8:0:0::1`,
 * `2001:0db8::0001` and `2001:db8::1` are one client, so a ban or a limit written in one form
 * holds for the others. IPv4-mapped addresses in any form come out dotted (`::ffff:1.2.3.4`).
 * Not an address: returned as given.
 */
function canonicalV6(s: string): string {
  const hit = V6_CACHE.get(s);
  if (hit !== undefined) return hit;
  let out: string;
  try {
    out = new URL(`http://[${s}]/`).hostname.slice(1, -1);
    const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(out);
    if (m !== null) {
      const hi = parseInt(m[1]!, 16);
      const lo = parseInt(m[2]!, 16);
      out = `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  } catch {
    out = s;
  }
  if (V6_CACHE.size >= V6_CACHE_MAX) V6_CACHE.delete(V6_CACHE.keys().next().value as string);
  V6_CACHE.set(s, out);
  return out;
}

/**
 * The client address of an exchange as the policy's trusted hops read it (the route stage sets it
 * once), else the socket peer: bans, limits, the access log and the span all use this one value.
 */
export function clientOf(ex: Pick<Exchange, 'clientAddress' | 'remoteAddress'>): string {
  return ex.clientAddress !== '' ? ex.clientAddress : normalizeIp(ex.remoteAddress);
}
