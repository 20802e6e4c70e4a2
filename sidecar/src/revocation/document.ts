/**
 * The durable revocation list as text: the `revocations.yaml` key of the `sidegate-revocations`
 * ConfigMap, mounted into every injected pod and written by `sidegate revoke`/`ban`. This is the
 * edge where it is `unknown`: a bad entry is a problem naming its path and is left out, the rest
 * is applied; only a document that is not a revocation list at all is refused whole (the sidecar
 * then keeps the list it had).
 *
 *   apiVersion: sidegate.dev/v1
 *   kind: Revocations
 *   tokens:
 *     - { jti: 5f0c…, expires: "2026-12-07T10:00:00Z", reason: "leaked in ticket 4411" }
 *     - { issuer: https://id.example.com, issuedBefore: "2026-12-06T21:30:00Z", expires: "2026-12-07T21:30:00Z" }
 *     - { issuer: https://id.example.com, subject: alice, issuedBefore: "…", expires: "…" }
 *   bans:
 *     - { ip: 203.0.113.7, expires: "2026-12-07T21:30:00Z", reason: "credential stuffing" }
 */
import { isIP } from 'node:net';
import { parse, stringify } from 'yaml';
import { normalizeIp } from '../client-address.js';
import { iso, type RevocationEntry } from './list.js';

export const REVOCATIONS_API_VERSION = 'sidegate.dev/v1';
export const REVOCATIONS_KIND = 'Revocations';
/** The ConfigMap (per namespace) and its key. */
export const REVOCATIONS_CONFIGMAP = 'sidegate-revocations';
export const REVOCATIONS_KEY = 'revocations.yaml';

export interface RevocationProblem {
  readonly path: string;
  readonly message: string;
}

export type ParsedRevocations =
  /** `updated`: when `sidegate revoke`/`ban` last wrote the list (ms; 0 when absent), which orders lists. */
  | {
      readonly ok: true;
      readonly entries: readonly RevocationEntry[];
      readonly problems: readonly RevocationProblem[];
      readonly updated: number;
    }
  | { readonly ok: false; readonly problems: readonly RevocationProblem[] };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const TOKEN_FIELDS = new Set(['jti', 'issuer', 'subject', 'issuedBefore', 'expires', 'reason']);
const BAN_FIELDS = new Set(['ip', 'expires', 'reason']);
const MAX_TEXT = 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse the text of `revocations.yaml` (a ConfigMap manifest holding it is unwrapped). */
export function parseRevocations(text: string): ParsedRevocations {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `not YAML: ${(err as Error).message.split('\n')[0]}` }] };
  }
  if (doc === null || doc === undefined) return { ok: true, entries: [], problems: [], updated: 0 }; // an empty key: nothing revoked
  if (isObject(doc) && doc.kind === 'ConfigMap') {
    const inner = isObject(doc.data) ? doc.data[REVOCATIONS_KEY] : undefined;
    if (typeof inner !== 'string')
      return {
        ok: false,
        problems: [{ path: `/data/${REVOCATIONS_KEY}`, message: 'is required: the ConfigMap keeps the list under this key' }],
      };
    return parseRevocations(inner);
  }
  if (!isObject(doc))
    return {
      ok: false,
      problems: [
        {
          path: '',
          message: `expected a mapping (apiVersion: ${REVOCATIONS_API_VERSION}, kind: ${REVOCATIONS_KIND}), found ${describe(doc)}`,
        },
      ],
    };
  if (doc.apiVersion !== REVOCATIONS_API_VERSION)
    return { ok: false, problems: [{ path: '/apiVersion', message: `must be ${REVOCATIONS_API_VERSION}` }] };
  if (doc.kind !== REVOCATIONS_KIND) return { ok: false, problems: [{ path: '/kind', message: `must be ${REVOCATIONS_KIND}` }] };

  const problems: RevocationProblem[] = [];
  const entries: RevocationEntry[] = [];
  let updated = 0;
  if (doc.updated !== undefined) {
    const u = parseTime(doc.updated);
    if (typeof u === 'number') updated = u;
    else problems.push({ path: '/updated', message: u.message });
  }
  for (const k of Object.keys(doc)) {
    if (!['apiVersion', 'kind', 'metadata', 'updated', 'tokens', 'bans'].includes(k))
      problems.push({ path: `/${k}`, message: 'unknown field (expected tokens, bans, updated)' });
  }
  for (const [field, one] of [
    ['tokens', tokenEntry],
    ['bans', banEntry],
  ] as const) {
    const list = doc[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      problems.push({ path: `/${field}`, message: `must be a list, found ${describe(list)}` });
      continue;
    }
    list.forEach((raw: unknown, i) => {
      const r = one(raw, `/${field}/${i}`);
      if (typeof r === 'string') problems.push({ path: `/${field}/${i}`, message: r });
      else if (Array.isArray(r)) problems.push(...r);
      else entries.push(r);
    });
  }
  return { ok: true, entries, problems, updated };
}

function tokenEntry(raw: unknown, path: string): RevocationEntry | string | RevocationProblem[] {
  if (!isObject(raw)) return `must be a mapping with jti, or issuer (and subject) with issuedBefore; found ${describe(raw)}`;
  const bad = fields(raw, TOKEN_FIELDS, path);
  if (bad.length > 0) return bad;
  const expires = time(raw, 'expires', path);
  const reason = text(raw, 'reason', path, false);
  const errs = [expires, reason].filter((x): x is RevocationProblem => typeof x === 'object');
  if (raw.jti !== undefined) {
    if (raw.issuer !== undefined || raw.subject !== undefined || raw.issuedBefore !== undefined)
      return 'jti names one token: give either jti, or issuer (and subject) with issuedBefore, not both';
    const jti = text(raw, 'jti', path, true);
    if (typeof jti === 'object') errs.push(jti);
    if (errs.length > 0) return errs;
    return withReason({ kind: 'jti', jti: jti as string, expires: expires as number }, reason as string | undefined);
  }
  if (raw.issuer === undefined) return 'needs jti, or issuer (and subject) with issuedBefore';
  const issuer = text(raw, 'issuer', path, true);
  const subject = raw.subject === undefined ? undefined : text(raw, 'subject', path, true);
  const before =
    raw.issuedBefore === undefined
      ? { path: `${path}/issuedBefore`, message: 'is required with issuer: tokens issued before this time (RFC 3339) are revoked' }
      : time(raw, 'issuedBefore', path);
  for (const x of [issuer, subject, before]) if (typeof x === 'object') errs.push(x);
  if (errs.length > 0) return errs;
  return withReason(
    subject === undefined
      ? { kind: 'issuer', issuer: issuer as string, issuedBefore: before as number, expires: expires as number }
      : {
          kind: 'subject',
          issuer: issuer as string,
          subject: subject as string,
          issuedBefore: before as number,
          expires: expires as number,
        },
    reason as string | undefined,
  );
}

function banEntry(raw: unknown, path: string): RevocationEntry | string | RevocationProblem[] {
  if (!isObject(raw)) return `must be a mapping with ip and expires; found ${describe(raw)}`;
  const bad = fields(raw, BAN_FIELDS, path);
  if (bad.length > 0) return bad;
  const expires = time(raw, 'expires', path);
  const reason = text(raw, 'reason', path, false);
  const ip = parseIp(raw.ip);
  const errs = [expires, reason].filter((x): x is RevocationProblem => typeof x === 'object');
  if (typeof ip === 'object') errs.push({ path: `${path}/ip`, message: ip.message });
  if (errs.length > 0) return errs;
  return withReason({ kind: 'ip', ip: ip as string, expires: expires as number }, reason as string | undefined);
}

/** A client address as the sidecar compares it (normalized), or why it is not one. */
export function parseIp(v: unknown): string | { message: string } {
  if (v === undefined) return { message: 'is required: the client address to ban' };
  if (typeof v !== 'string') return { message: `must be an IP address, found ${describe(v)}` };
  if (v.includes('/')) return { message: `"${clip(v)}" is a range: ban single addresses (CIDR ranges are not supported)` };
  const ip = normalizeIp(v);
  return isIP(ip) === 0 ? { message: `"${clip(v)}" is not an IP address` } : ip;
}

/** An RFC 3339 time with its offset (`2026-12-06T21:30:00Z`), in ms. */
export function parseTime(v: unknown): number | { message: string } {
  if (typeof v !== 'string' || !RFC3339.test(v))
    return {
      message: `must be an RFC 3339 time with a zone, like 2026-12-06T21:30:00Z; found ${typeof v === 'string' ? `"${clip(v)}"` : describe(v)}`,
    };
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : { message: `"${clip(v)}" is not a valid time` };
}

function time(raw: Record<string, unknown>, k: string, path: string): number | RevocationProblem {
  if (raw[k] === undefined) return { path: `${path}/${k}`, message: 'is required: when the entry stops applying (RFC 3339)' };
  const t = parseTime(raw[k]);
  return typeof t === 'number' ? t : { path: `${path}/${k}`, message: t.message };
}

function text(raw: Record<string, unknown>, k: string, path: string, required: boolean): string | undefined | RevocationProblem {
  const v = raw[k];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') return { path: `${path}/${k}`, message: `must be a non-empty string, found ${describe(v)}` };
  if (v.length > MAX_TEXT) return { path: `${path}/${k}`, message: `is longer than ${MAX_TEXT} characters` };
  return v;
}

function fields(raw: Record<string, unknown>, allowed: ReadonlySet<string>, path: string): RevocationProblem[] {
  return Object.keys(raw)
    .filter((k) => !allowed.has(k))
    .map((k) => ({ path: `${path}/${k}`, message: `unknown field (expected ${[...allowed].join(', ')})` }));
}

function withReason<T extends RevocationEntry>(e: T, reason: string | undefined): T {
  return reason === undefined ? e : { ...e, reason };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${clip(JSON.stringify(v) ?? typeof v)}`;
}

const clip = (s: string): string => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

/** The list as `revocations.yaml` text: what `sidegate revoke`/`ban` write. */
export function formatRevocations(entries: readonly RevocationEntry[], updated: number): string {
  const tokens = entries
    .filter((e) => e.kind !== 'ip')
    .map((e) => {
      const base =
        e.kind === 'jti'
          ? { jti: e.jti }
          : e.kind === 'issuer'
            ? { issuer: e.issuer, issuedBefore: iso(e.issuedBefore) }
            : e.kind === 'subject'
              ? { issuer: e.issuer, subject: e.subject, issuedBefore: iso(e.issuedBefore) }
              : {};
      return { ...base, expires: iso(e.expires), ...(e.reason === undefined ? {} : { reason: e.reason }) };
    });
  const bans = entries
    .filter((e) => e.kind === 'ip')
    .map((e) => ({ ip: e.ip, expires: iso(e.expires), ...(e.reason === undefined ? {} : { reason: e.reason }) }));
  return stringify(
    { apiVersion: REVOCATIONS_API_VERSION, kind: REVOCATIONS_KIND, updated: iso(updated), tokens, bans },
    { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 },
  );
}
