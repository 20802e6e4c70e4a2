import { compilePolicy } from '../../../policies/src/compile.js';
import type { CompiledPolicy, Requirement } from '../../../policies/src/types.js';
import { hashMaterial, keyMaterial, keyPrefix, limitTag } from '../../../sidecar/src/stages/rate-limit/keys.js';
import type { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import { mint, testKey, type TestKey } from '../../helpers/jwks.js';
import type { TokenName } from './generator.js';

/**
 * The policy under test and what the suite derives from it independently of the sidecar: which
 * rule and requirement a (method, path) reading gets, which route, and the rate-limit key a
 * request's parts hash to (with the sidecar's own key functions, fed the app's reading).
 */
export const ISSUER = 'https://idp.differential.test';
export const NAMESPACE = 'diffns';
export const SERVICE = 'echo';
/** forwardClaims: claim → header the app trusts. */
export const FORWARD: Readonly<Record<string, string>> = { sub: 'x-user-id', tenant: 'x-tenant-id' };
export const IDENTITY_HEADERS: ReadonlySet<string> = new Set(Object.values(FORWARD));

export function policyDocument(key: TestKey, trustedHops: number): Record<string, unknown> {
  const huge = { requests: 1_000_000, per: '1s' };
  return {
    apiVersion: 'sidegate.dev/v1',
    kind: 'Policy',
    metadata: { name: 'differential' },
    spec: {
      logging: { successSampleRate: 1 },
      clientAddress: { trustedHops },
      routes: [
        { name: 'public', match: { paths: ['/public/*'] } },
        { name: 'admin', match: { paths: ['/admin/*'] } },
        { name: 'exact', match: { paths: ['/exact/secret'] } },
        { name: 'api', match: { paths: ['/api/*'] } },
      ],
      auth: {
        providers: [
          {
            name: 'idp',
            issuer: ISSUER,
            audiences: ['differential'],
            algorithms: ['ES256'],
            jwks: { keys: [key.jwk] },
            forwardClaims: FORWARD,
          },
        ],
        rules: [
          { match: { paths: ['/public/*'] }, require: 'none' },
          { match: { paths: ['/admin/*'], methods: ['POST', 'DELETE'] }, require: { claims: { role: ['admin'] } } },
          { match: { paths: ['/exact/secret'] }, require: { claims: { role: ['admin'] } } },
          { match: { paths: ['/api/*'] }, require: 'any' },
        ],
        default: { require: 'any' },
      },
      // Limits so high they never refuse: the suite compares keys, not counts.
      rateLimits: [
        { name: 'by-method', key: [{ method: true }], limit: huge, onRedisError: 'local' },
        { name: 'by-route-tenant', key: [{ route: true }, { header: 'x-tenant' }], limit: huge, onRedisError: 'local' },
        { name: 'by-ip', key: [{ clientIp: true }], limit: huge, onRedisError: 'local' },
      ],
    },
  };
}

export interface Tokens {
  readonly key: TestKey;
  readonly values: Readonly<Record<TokenName, string>>;
  /** sub → the claims of the token with that sub. */
  readonly claimsBySub: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** token text → its sub (only the validly signed ones). */
  readonly subByToken: ReadonlyMap<string, string>;
}

export async function mintTokens(): Promise<Tokens> {
  const key = testKey('ES256', 'diff-k1');
  const other = testKey('ES256', 'diff-k1'); // same kid, wrong key: a bad signature
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims: Record<TokenName, Record<string, unknown>> = {
    user: { iss: ISSUER, aud: 'differential', sub: 'u-1', role: 'user', tenant: 't1', exp },
    admin: { iss: ISSUER, aud: 'differential', sub: 'a-1', role: 'admin', tenant: 't2', exp },
    bad: { iss: ISSUER, aud: 'differential', sub: 'x-bad', role: 'admin', tenant: 't9', exp },
  };
  const values = {
    user: await mint(key, claims.user),
    admin: await mint(key, claims.admin),
    bad: await mint(other, claims.bad),
  };
  return {
    key,
    values,
    claimsBySub: new Map([
      [String(claims.user.sub), claims.user],
      [String(claims.admin.sub), claims.admin],
    ]),
    subByToken: new Map([
      [values.user, String(claims.user.sub)],
      [values.admin, String(claims.admin.sub)],
    ]),
  };
}

export function compiled(doc: Record<string, unknown>): CompiledPolicy {
  const r = compilePolicy(doc);
  if (!r.ok) throw new Error(`the suite's policy does not compile: ${JSON.stringify(r.problems)}`);
  return r.policy;
}

/** `rules[i]`, `default`: the label the sidecar logs in `decision.rule`. */
export function ruleFor(p: CompiledPolicy, method: string, path: string): string {
  const rules = p.auth?.rules ?? [];
  for (let i = 0; i < rules.length; i++) if (rules[i]!.match.matches(method, path)) return `rules[${i}]`;
  return 'default';
}

export function requirementOf(p: CompiledPolicy, rule: string): Requirement | undefined {
  if (rule === 'default') return p.auth?.defaultRequire;
  const m = /^rules\[(\d+)\]$/.exec(rule);
  return m === null ? undefined : p.auth?.rules[Number(m[1])]?.require;
}

/** A requirement as a comparable string: `none`, `token`, `token+role∈[admin]`... */
export function requirementText(r: Requirement | undefined): string {
  if (r === undefined) return 'unjudged';
  if (r.kind === 'none') return 'none';
  const parts = [r.kind === 'providers' ? `token from ${[...r.providers].sort().join('|')}` : 'token'];
  for (const c of [...r.claims].sort((a, b) => a.claim.localeCompare(b.claim))) parts.push(`${c.claim}∈[${[...c.anyOf].sort().join(',')}]`);
  if (r.tenant !== undefined) parts.push(`tenant ${r.tenant.claim}=${r.tenant.header ?? `segment ${r.tenant.pathSegment}`}`);
  return parts.join('+');
}

/**
 * `a` implies `b`: every request that satisfies `a` satisfies `b` (a is as strict or stricter).
 * `none` implies only `none`; a token requirement implies `none` and any token requirement whose
 * conditions are a subset of its own.
 */
export function implies(a: Requirement | undefined, b: Requirement | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (b.kind === 'none') return true;
  if (a.kind === 'none') return false;
  if (b.kind === 'providers' && (a.kind !== 'providers' || !a.providers.every((x) => b.providers.includes(x)))) return false;
  for (const c of b.claims) {
    const mine = a.claims.find((x) => x.claim === c.claim);
    if (mine === undefined || !mine.anyOf.every((v) => c.anyOf.includes(v))) return false;
  }
  if (b.tenant !== undefined && JSON.stringify(b.tenant) !== JSON.stringify(a.tenant)) return false;
  return true;
}

/** Would a request carrying these verified claims (undefined: no valid token) meet `r`? */
export function satisfies(r: Requirement | undefined, claims: Readonly<Record<string, unknown>> | undefined): boolean {
  if (r === undefined) return false;
  if (r.kind === 'none') return true;
  if (claims === undefined) return false;
  for (const c of r.claims) {
    const v = claims[c.claim];
    const vs = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(' ') : [];
    if (!vs.some((x) => c.anyOf.includes(x))) return false;
  }
  return r.tenant === undefined;
}

export function routeFor(p: CompiledPolicy, method: string, path: string): string {
  for (const r of p.routes) if (r.match.matches(method, path)) return r.name;
  return 'default';
}

/** What the app received, as the parts a limit key reads. */
export interface AppView {
  readonly method: string;
  readonly route: string;
  /** Header name (lowercase) → values in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  /** The claims of the identity the sidecar vouched for, if any. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The limit key a request with these parts hashes to, computed with the sidecar's own
 * keyMaterial/hashMaterial (the key format is the sidecar's definition) but fed the app's reading:
 * the method and headers as received, the route of the router's path, and the client address as
 * the app derives it from x-forwarded-for, where the sidecar appended its peer: trusting the
 * policy's hops plus the sidecar itself.
 */
export function limitKeyFromApp(p: CompiledPolicy, limit: string, view: AppView): string | undefined {
  const spec = p.rateLimits.find((l) => l.name === limit);
  if (spec === undefined) return undefined;
  const hdr = (n: string): string | undefined => {
    const v = view.headers.get(n);
    return v === undefined ? undefined : v.join(', ');
  };
  const xff = (hdr('x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const headers: Record<string, string | undefined> = {};
  for (const part of spec.key) if (part.kind === 'header') headers[part.name.toLowerCase()] = hdr(part.name.toLowerCase());
  headers['x-forwarded-for'] = xff.join(', ');
  const fake = {
    method: view.method,
    routeName: view.route,
    headers,
    // The entry the sidecar appended is its peer: what the sidecar falls back to.
    remoteAddress: xff.at(-1) ?? '',
    // Unset: keyMaterial reads the address from x-forwarded-for and the peer, as the app can.
    clientAddress: '',
    auth: view.claims === undefined ? undefined : { result: 'success', claims: view.claims },
  } as unknown as Exchange;
  return keyPrefix(limitTag(NAMESPACE, SERVICE, limit)) + hashMaterial(keyMaterial(spec.key, fake, p.clientAddress.trustedHops + 1));
}
