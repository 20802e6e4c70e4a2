import type { Exchange } from './exchange.js';
import { H } from './headers.js';

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
      const list = (Array.isArray(raw) ? raw.join(',') : raw).split(',').map((s) => s.trim()).filter((s) => s !== '');
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
  return s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s;
}

/**
 * The client address of an exchange as the policy's trusted hops read it (the route stage sets it
 * once), else the socket peer: bans, limits, the access log and the span all use this one value.
 */
export function clientOf(ex: Pick<Exchange, 'clientAddress' | 'remoteAddress'>): string {
  return ex.clientAddress !== '' ? ex.clientAddress : normalizeIp(ex.remoteAddress);
}
