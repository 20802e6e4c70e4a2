import { METHODS } from 'node:http';
import { createRequire } from 'node:module';
import { requestTarget, validAuthority, type RequestTarget } from '../../../sidecar/src/protocol/target.js';
import { goPathClean, goPathUnescape } from '../../hostile/differential/routers.js';
import { must, timeBoundedSync } from '../property.js';

/**
 * The request-line validator every front shares (`sidecar/src/protocol/target.ts`): a method and
 * a target (bytes as the fronts hand them over, one char per byte), read as HTTP/1.1 and as
 * HTTP/2 `:path`; and an authority (Host, `:authority`). Checked on every input:
 * - nothing throws;
 * - an accepted target's path (what rules match) starts with `/` (or is `*`, for OPTIONS only),
 *   is visible ASCII without `#`, `?`, `\`, `;`, `//` or dot segments; its escapes are
 *   well-formed, upper-case, and never of an unreserved byte, `/` or `\`; the parameter-keeping
 *   path (`paramPath`) likewise but for `;`; the target the app gets is that path plus the query
 *   exactly as sent;
 * - idempotent: the normalised target, validated again, is accepted unchanged;
 * - HTTP/1.1 and HTTP/2 agree on every target that is not absolute-form (HTTP/2 refuses those);
 * - routers read the forwarded target as the path the rules matched: Express (the real
 *   parseurl, as test/hostile/differential does) exactly; Go (unescape, then path.Clean, the
 *   differential suite's model) and the WHATWG URL parser up to percent-encoding and a trailing
 *   slash: no reader that decodes finds a segment the rules did not see;
 * - an accepted authority is at most 255 bytes of the characters RFC 3986 allows, no userinfo.
 * Time per input as in property.ts.
 */

export const maxLen = 4096;
export const sync = true;

type ParseUrl = (req: { url: string }) => { pathname: string | null } | undefined;
const parseurl = createRequire(import.meta.url)('parseurl') as ParseUrl;

const NAMES = [...METHODS, 'get', 'Get', 'FOO', '', 'OPTIONS', 'GET', 'POST'];
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX2 = /^[0-9A-F]{2}$/;

/** Every `%XX` replaced by its byte (the escapes were checked well-formed). */
const decodeAll = (p: string): string => p.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

function checkPath(p: string, what: string, params: boolean): void {
  must(p.charCodeAt(0) === 0x2f, () => `${what} ${JSON.stringify(p)} does not start with /`);
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    must(
      c > 0x20 && c < 0x7f && c !== 0x23 && c !== 0x3f && c !== 0x5c && (params || c !== 0x3b),
      () => `${what} ${JSON.stringify(p)} has byte 0x${c.toString(16)}`,
    );
    if (c === 0x25) {
      const hex = p.slice(i + 1, i + 3);
      must(HEX2.test(hex), () => `${what} ${JSON.stringify(p)}: escape %${hex} is not two upper-case hex digits`);
      const ch = String.fromCharCode(parseInt(hex, 16));
      must(!UNRESERVED.test(ch) && ch !== '/' && ch !== '\\', () => `${what} ${JSON.stringify(p)}: %${hex} escapes ${JSON.stringify(ch)}`);
      i += 2;
    }
  }
  must(!p.includes('//'), () => `${what} ${JSON.stringify(p)} has an empty segment`);
  const segs = p.split('/');
  must(!segs.some((s) => s === '.' || s === '..'), () => `${what} ${JSON.stringify(p)} has a dot segment`);
}

function checkAccepted(method: string, raw: string, h2: boolean, r: Extract<RequestTarget, { ok: true }>): void {
  const show = `${method} ${JSON.stringify(raw)} (${h2 ? 'h2' : 'h1'})`;
  if (r.path === '*' || r.target === '*') {
    must(raw === '*' && r.path === '*' && r.target === '*' && method === 'OPTIONS', () => `${show} → asterisk form ${JSON.stringify(r)}`);
    return;
  }
  checkPath(r.path, `${show}: path`, false);
  const sent = r.paramPath ?? r.path;
  if (r.paramPath !== undefined) {
    checkPath(r.paramPath, `${show}: paramPath`, true);
    const stripped = r.paramPath
      .split('/')
      .map((s) => s.split(';', 1)[0])
      .join('/')
      .replace(/\/{2,}/g, '/');
    must(stripped === r.path, () => `${show}: paramPath ${r.paramPath} without parameters is ${stripped}, path is ${r.path}`);
  } else must(!r.path.includes(';'), () => `${show}: path ${r.path} has parameters but no paramPath`);
  must(
    r.target.startsWith(sent) && (r.target.length === sent.length || r.target[sent.length] === '?'),
    () => `${show}: target ${JSON.stringify(r.target)} is not the path ${JSON.stringify(sent)} plus a query`,
  );
  const query = r.target.slice(sent.length);
  must(
    raw.endsWith(query) && (query === '' || raw.length - query.length === raw.indexOf('?')),
    () => `${show}: the query became ${JSON.stringify(query)}`,
  );
  if (r.authority !== undefined) {
    must(!h2, () => `${show}: an authority from an HTTP/2 :path`);
    must(!/[/?#@]/.test(r.authority), () => `${show}: authority ${JSON.stringify(r.authority)}`);
  }

  // Idempotent: what the app is sent is a target the validator takes as it is.
  const again = requestTarget(method, r.target, h2);
  must(
    again.ok && again.path === r.path && again.target === r.target && again.paramPath === r.paramPath && again.authority === undefined,
    () => `${show} → ${JSON.stringify(r)}, which validates as ${JSON.stringify(again)}`,
  );

  // The routers' readings of what the app receives.
  const express = parseurl({ url: r.target })?.pathname;
  must(
    express === sent,
    () =>
      `${show}: Express (parseurl) routes ${JSON.stringify(r.target)} as ${JSON.stringify(express)}, the rules matched ${JSON.stringify(sent)}`,
  );
  const unescaped = goPathUnescape(sent);
  must(unescaped !== undefined, () => `${show}: Go cannot unescape ${JSON.stringify(sent)}`);
  const clean = goPathClean(unescaped);
  must(
    clean === unescaped || `${clean}/` === unescaped,
    () => `${show}: Go reads ${JSON.stringify(sent)} as ${JSON.stringify(clean)} (unescaped ${JSON.stringify(unescaped)})`,
  );
  const whatwg = new URL(r.target, 'http://x').pathname;
  must(
    decodeAll(whatwg) === decodeAll(sent),
    () =>
      `${show}: the WHATWG URL parser reads ${JSON.stringify(r.target)} as ${JSON.stringify(whatwg)}, the rules matched ${JSON.stringify(sent)}`,
  );
}

function once(data: Buffer): void {
  const op = data[0] ?? 0;
  const raw = data.toString('latin1', 1);
  if (op >= 0xf0) {
    // An authority (Host, :authority).
    const ok = validAuthority(raw);
    if (ok)
      must(
        raw.length <= 255 && /^[A-Za-z0-9\-._~!$&'()*+,;=%[\]:]*$/.test(raw) && !raw.includes('@'),
        () => `authority ${JSON.stringify(raw)} accepted`,
      );
    return;
  }
  const method = NAMES[op % NAMES.length]!;
  const h1 = requestTarget(method, raw, false);
  const h2 = requestTarget(method, raw, true);
  for (const [r, isH2] of [
    [h1, false],
    [h2, true],
  ] as const) {
    if (r.ok) checkAccepted(method, raw, isH2, r);
    else must(typeof r.reason === 'string' && r.reason !== '', () => `${method} ${JSON.stringify(raw)}: refused without a reason`);
  }
  if (raw.charCodeAt(0) === 0x2f || raw === '*') {
    must(
      JSON.stringify(h1) === JSON.stringify(h2),
      () => `${method} ${JSON.stringify(raw)}: HTTP/1.1 ${JSON.stringify(h1)}, HTTP/2 ${JSON.stringify(h2)}`,
    );
  } else must(!h2.ok, () => `${method} ${JSON.stringify(raw)}: HTTP/2 accepted a :path not starting with /`);
}

export function fuzz(data: Buffer): void {
  timeBoundedSync(data, () => once(data));
}

/** Seed inputs (test/fuzz/corpus/request-target/, written by test/fuzz/seeds.ts): the shapes docs/security.md lists. */
export function seeds(): Buffer[] {
  const get = NAMES.indexOf('GET');
  const options = NAMES.indexOf('OPTIONS');
  const targets: [number, string][] = [
    [get, '/a/b?x=../y'],
    [get, '/public/../admin'],
    [get, '//admin'],
    [get, '/%2e%2e/admin'],
    [get, '/p%75blic/x'],
    [get, '/a%20b/%c3%a9'],
    [get, 'http://host.example/p/../q?z'],
    [get, 'HTTPS://h:8443?x'],
    [options, '*'],
    [get, '/admin;jsessionid=1/x'],
    [get, '/;x/admin/secret'],
    [get, '/public/..%2Fadmin'],
    [get, '/a\\b'],
    [get, '/a#x'],
    [get, '/..;/admin'],
    [get, '/a/.%2e/b/./c/'],
    [NAMES.indexOf('CONNECT'), 'a:443'],
    [NAMES.indexOf('get'), '/'],
    [0xf0, 'example.com:8080'],
    [0xf0, '[::1]:443'],
    [0xf0, 'user@host'],
  ];
  return targets.map(([op, t]) => Buffer.concat([Buffer.from([op]), Buffer.from(t, 'latin1')]));
}
