import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Exchange } from '../protocol/exchange.js';
import { addSidecarHeaders, H, HOP_BY_HOP, VIA_NAME } from '../protocol/headers.js';
import { addLowered, lowerName } from '../protocol/http1/fields.js';
import { fieldLines } from '../protocol/http1/head.js';

/**
 * Headers never sent to the app besides hop-by-hop ones: `expect` is answered by the sidecar
 * itself (100-continue) and `host` is rebuilt from the authority.
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'expect', 'host']);

/**
 * Headers only a proxy sets, naming the client's scheme, host or address: kept only when the
 * proxies in front are trusted (`trustedHops` > 0), else the client's own words would reach the
 * app as the proxy's. `x-forwarded-proto` and `-host` are then set by the sidecar; `forwarded`
 * (RFC 7239: Rack 3 prefers it to `x-forwarded-for`), `x-real-ip` (gin, echo, chi) and
 * `true-client-ip` (chi) are not: the app falls back to `x-forwarded-for`, which ends with the
 * address the sidecar judged.
 */
const FROM_TRUSTED_PROXIES: ReadonlySet<string> = new Set([H.forwardedProto, H.forwardedHost, 'forwarded', 'x-real-ip', 'true-client-ip']);

function connectionListed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const c = headers[H.connection];
  if (c === undefined) return undefined;
  const names = new Set<string>();
  for (const part of c.split(',')) {
    const n = part.trim().toLowerCase();
    if (n !== '' && n !== 'close' && n !== 'keep-alive') names.add(n);
  }
  return names.size > 0 ? names : undefined;
}

function appendClientIp(prior: string | string[] | undefined, ip: string): string {
  const clean = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (prior === undefined || prior === '') return clean;
  return `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clean}`;
}

/**
 * The header set sent to the app: the client's minus hop-by-hop ones, plus the forwarding
 * headers. `h2`: the app speaks HTTP/2, so `te: trailers` (gRPC) survives and `host` becomes
 * `:authority` (set by the caller).
 */
export function requestHeadersForApp(ex: Exchange, h2: boolean): Record<string, string | string[]> {
  // Headers the client listed in Connection were already dropped when the request arrived.
  const src = ex.headers;
  const out: Record<string, string | string[]> = {};
  const trust = ex.trustForwarded;
  for (const name in src) {
    if (NOT_FORWARDED.has(name)) continue;
    if (!trust && FROM_TRUSTED_PROXIES.has(name)) continue;
    const v = src[name];
    if (v !== undefined) out[name] = v;
  }
  if (h2) {
    const te = src[H.te];
    if (te !== undefined && te.includes('trailers')) out[H.te] = 'trailers';
  } else {
    out[H.host] = ex.authority;
  }
  out[H.forwardedFor] = appendClientIp(src[H.forwardedFor], ex.remoteAddress);
  // The client's own x-forwarded-proto/-host are kept only when proxies in front are trusted.
  if (out[H.forwardedProto] === undefined) out[H.forwardedProto] = ex.scheme;
  if (out[H.forwardedHost] === undefined && ex.authority !== '') out[H.forwardedHost] = ex.authority;
  const via = ex.protocol === 'h2' ? `2 ${VIA_NAME}` : `1.1 ${VIA_NAME}`;
  const prior = src[H.via];
  out[H.via] = prior === undefined ? via : `${prior}, ${via}`;
  out[H.requestId] = ex.requestId;
  return out;
}

/** The app's response headers as sent to the client: hop-by-hop removed, request id and stage headers added. */
export function responseHeadersForClient(ex: Exchange, src: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(src);
  const out: OutgoingHttpHeaders = {};
  for (const name in src) {
    if (HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name)) || name.charCodeAt(0) === 58) continue;
    out[name] = src[name];
  }
  addSidecarHeaders(out, ex);
  return out;
}

/** Rebuilt by `requestHead` rather than copied. */
const REBUILT: ReadonlySet<string> = new Set([H.forwardedFor, H.via, H.requestId]);

/**
 * The HTTP/1.1 request head for the app, as one string: the same fields `requestHeadersForApp`
 * gives (client's minus hop-by-hop, forwarding headers added), written without an intermediate
 * object. `chunked`: the body's length is unknown (chunked or HTTP/2 without content-length), so
 * it is sent with chunked encoding.
 */
export function requestHead(ex: Exchange, chunked: boolean, upgrade?: string): string {
  const src = ex.headers;
  let out = `${ex.method} ${ex.target} HTTP/1.1\r\nhost: ${ex.authority}\r\n`;
  const trust = ex.trustForwarded;
  for (const name in src) {
    if (NOT_FORWARDED.has(name) || REBUILT.has(name)) continue;
    if (!trust && FROM_TRUSTED_PROXIES.has(name)) continue;
    const v = src[name];
    if (v !== undefined) out += fieldLines(name, v);
  }
  out += `x-forwarded-for: ${appendClientIp(src[H.forwardedFor], ex.remoteAddress)}\r\n`;
  if (!trust || src[H.forwardedProto] === undefined) out += `x-forwarded-proto: ${ex.scheme}\r\n`;
  if ((!trust || src[H.forwardedHost] === undefined) && ex.authority !== '') out += `x-forwarded-host: ${ex.authority}\r\n`;
  const via = ex.protocol === 'h2' ? `2 ${VIA_NAME}` : `1.1 ${VIA_NAME}`;
  const prior = src[H.via];
  out += `via: ${prior === undefined ? via : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${via}`}\r\n`;
  out += `x-request-id: ${ex.requestId}\r\n`;
  if (chunked) out += 'transfer-encoding: chunked\r\n';
  if (upgrade !== undefined) out += fieldLines('upgrade', upgrade) + 'connection: upgrade\r\n';
  return `${out}\r\n`;
}

/**
 * The app's response fields (llhttp's flat list) as sent to the client: hop-by-hop ones and the
 * ones the app listed in Connection removed, repeated fields combined as node:http does (so an
 * HTTP/2 client never gets two of a field that may occur once), request id and stage headers added.
 */
export function responseHeadersFromFields(ex: Exchange, raw: readonly string[]): OutgoingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lowerName(raw[i]!);
    if (HOP_BY_HOP.has(name)) {
      if (name === H.connection) connection = connection === undefined ? raw[i + 1]! : `${connection}, ${raw[i + 1]!}`;
      continue;
    }
    addLowered(kept, name, raw[i + 1]!);
  }
  if (connection !== undefined) {
    for (const part of connection.split(',')) {
      const n = part.trim().toLowerCase();
      if (n !== '') delete kept[n];
    }
  }
  const out = kept as OutgoingHttpHeaders;
  addSidecarHeaders(out, ex);
  return out;
}
