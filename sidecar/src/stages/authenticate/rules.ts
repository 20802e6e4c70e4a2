import type { AuthPolicy, Requirement, RequestMatcher, TokenSource } from '../../../../policies/src/types.js';
import { claimPath, type ClaimPath } from './claims.js';
import type { ProviderRuntime } from './verifier.js';

/** One place a token may be, with the providers (of this rule) that accept tokens from it. */
export interface RuleSource {
  readonly src: TokenSource;
  readonly providers: ReadonlySet<ProviderRuntime>;
  /** issuer → providers with that issuer, in policy order. */
  readonly byIssuer: ReadonlyMap<string, readonly ProviderRuntime[]>;
  /** Largest token any of them accepts: the size check that runs before any parsing. */
  readonly maxBytes: number;
}

export interface ClaimCheck {
  readonly path: ClaimPath;
  readonly anyOf: ReadonlySet<string>;
  readonly spaceSeparated: boolean;
}

export interface TenantCheck {
  readonly path: ClaimPath;
  readonly header: string | undefined;
  readonly segment: number | undefined;
}

/** A requirement compiled for the request path. `sources` is empty for `none`. */
export interface CompiledRequirement {
  readonly none: boolean;
  readonly sources: readonly RuleSource[];
  /** Provider label for failures before a provider is known: the only candidate, or "unknown". */
  readonly label: string;
  readonly claims: readonly ClaimCheck[];
  readonly tenant: TenantCheck | undefined;
}

export interface CompiledRule {
  readonly match: RequestMatcher;
  readonly req: CompiledRequirement;
}

export function compileRules(
  policy: AuthPolicy,
  providers: ReadonlyMap<string, ProviderRuntime>,
): { rules: readonly CompiledRule[]; fallback: CompiledRequirement } {
  return {
    rules: policy.rules.map((r) => ({ match: r.match, req: compileRequirement(r.require, providers) })),
    fallback: compileRequirement(policy.defaultRequire, providers),
  };
}

export function compileRequirement(req: Requirement, providers: ReadonlyMap<string, ProviderRuntime>): CompiledRequirement {
  if (req.kind === 'none') return { none: true, sources: [], label: 'none', claims: [], tenant: undefined };
  const candidates =
    req.kind === 'any' || req.providers.length === 0
      ? [...providers.values()]
      : req.providers.map((name) => {
          const p = providers.get(name);
          if (p === undefined) throw new Error(`auth rule names unknown provider "${name}"`);
          return p;
        });
  if (candidates.length === 0) throw new Error('auth rule requires a token but no provider is configured');

  const sources: RuleSource[] = [];
  for (const p of candidates) {
    for (const src of p.cfg.from) {
      if (sources.some((s) => sameSource(s.src, src))) continue;
      const users = candidates.filter((c) => c.cfg.from.some((f) => sameSource(f, src)));
      const byIssuer = new Map<string, ProviderRuntime[]>();
      for (const u of users) {
        const list = byIssuer.get(u.cfg.issuer);
        if (list) list.push(u);
        else byIssuer.set(u.cfg.issuer, [u]);
      }
      sources.push({
        src,
        providers: new Set(users),
        byIssuer,
        maxBytes: Math.max(...users.map((u) => u.cfg.maxTokenBytes)),
      });
    }
  }
  return {
    none: false,
    sources,
    label: candidates.length === 1 ? candidates[0]!.cfg.name : 'unknown',
    claims: req.claims.map((c) => {
      const path = claimPath(c.claim);
      const last = path.parts[path.parts.length - 1];
      return { path, anyOf: new Set(c.anyOf), spaceSeparated: last === 'scope' || last === 'scp' };
    }),
    tenant:
      req.tenant === undefined
        ? undefined
        : { path: claimPath(req.tenant.claim), header: req.tenant.header?.toLowerCase(), segment: req.tenant.pathSegment },
  };
}

function sameSource(a: TokenSource, b: TokenSource): boolean {
  return a.kind === b.kind && a.name === b.name && a.prefix === b.prefix;
}

/** Zero-based path segment (`/tenants/acme/x`, 1 → "acme"), percent-decoded; undefined when absent or undecodable. */
export function pathSegment(path: string, index: number): string | undefined {
  let start = path.charCodeAt(0) === 0x2f ? 1 : 0;
  for (let i = 0; i < index; i++) {
    const slash = path.indexOf('/', start);
    if (slash === -1) return undefined;
    start = slash + 1;
  }
  let end = path.indexOf('/', start);
  if (end === -1) end = path.length;
  if (end === start) return undefined;
  const raw = path.slice(start, end);
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
