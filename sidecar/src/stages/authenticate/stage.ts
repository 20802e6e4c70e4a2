import { clientOf } from '../../client-address.js';
import type { AuthPolicy, Requirement, TokenSource } from '../../../../policies/src/types.js';
import { AuthUnavailableError, CrossTenantError, ForbiddenError, UnauthenticatedError, type SidecarError } from '../../errors.js';
import type { AuthOutcome, Exchange } from '../../protocol/exchange.js';
import type { Stage } from '../../pipeline/stage.js';
import type { Logger } from '../../telemetry/logger.js';
import { TokenCache } from './cache.js';
import { claimValue, scalarText, valueMatches } from './claims.js';
import type { KeyDeps } from './deps.js';
import { parseCompact, type ParsedToken } from './jws.js';
import type { KeyManager } from './keys/key-manager.js';
import { REASON_MESSAGES, type AuthReason } from './reasons.js';
import type { LocalRevocations, RevocationStore } from './revocation.js';
import { issuedBefore, type RevocationEntry } from '../../revocation/list.js';
import { compileRequirement, compileRules, pathSegment, type CompiledRequirement, type CompiledRule, type RuleSource } from './rules.js';
import { keepOnlyToken, readToken, stripToken } from './token-source.js';
import { ProviderRuntime, UNKNOWN_KID, verifyWith, type Verified } from './verifier.js';

export interface AuthDeps extends KeyDeps {
  /** Long-lived; built by the proxy for the policy's providers (see KeyManager). */
  readonly keys: KeyManager;
  /** Required when the policy enables revocation. */
  readonly revocation?: RevocationStore | undefined;
  /** The durable list (mounted ConfigMap): checked on every request, with or without Redis. */
  readonly revocations?: LocalRevocations | undefined;
  readonly logger: Logger;
}

const SKIPPED: AuthOutcome = Object.freeze({ result: 'skipped' });
// RFC 6750 §3.1: a request with no credentials gets the challenge without an error code.
const CHALLENGE_MISSING = 'Bearer';
const CHALLENGE_SCOPE = 'Bearer error="insufficient_scope"';
const challengeFor = (r: AuthReason): string => `Bearer error="invalid_token", error_description="${REASON_MESSAGES[r]}"`;
const REVOCATION_LOG_EVERY_MS = 10_000;

/** A token found and verified (now, or earlier: `cached`). */
interface Found {
  readonly v: Verified;
  readonly source: RuleSource;
  readonly cached: boolean;
}
/** No acceptable token: the provider label and the reason a failure would carry. */
interface Missed {
  readonly v: undefined;
  readonly provider: string;
  readonly reason: AuthReason;
}
const missed = (provider: string, reason: AuthReason): Missed => ({ v: undefined, provider, reason });

/**
 * The authenticate stage: find the rule, find the token, verify it (or take the cached verdict),
 * check the rule's claims and tenant, consult revocation, then hand the app the verified claims
 * as headers. Rejections throw the error-table classes; `respond` turns them into answers.
 */
export function authenticate(policy: AuthPolicy, deps: AuthDeps): Stage {
  const a = new Authenticator(policy, deps);
  return (next) => (ex) => {
    let p: Promise<void> | undefined;
    try {
      p = a.check(ex);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return p === undefined ? next(ex) : p.then(() => next(ex));
  };
}

/** Everything compiled once per policy version; `check` is the per-request path. */
export class Authenticator {
  readonly cache: TokenCache<Verified>;
  private readonly providers: ReadonlyMap<string, ProviderRuntime>;
  private readonly rules: readonly CompiledRule[];
  private readonly fallback: CompiledRequirement;
  /** Every forwardClaims header of every provider: removed from every request (anti-spoofing). */
  private readonly spoofable: readonly string[];
  private readonly scanUnderscores: ReadonlySet<string> | undefined;
  /** Every place any provider reads a token from (`forward: true` keeps only the verified token). */
  private readonly tokenSources: readonly TokenSource[];
  private readonly revocation: { readonly store: RevocationStore; readonly deny: boolean } | undefined;
  private readonly hit;
  private readonly miss;
  private lastRevocationLog = -Infinity;
  private suppressedRevocationLogs = 0;

  constructor(
    policy: AuthPolicy,
    private readonly deps: AuthDeps,
  ) {
    const providers = new Map<string, ProviderRuntime>();
    for (const p of policy.providers) {
      const keys = deps.keys.provider(p.name);
      if (keys === undefined) throw new Error(`the key manager has no keys for provider "${p.name}"`);
      providers.set(p.name, new ProviderRuntime(p, keys, deps.metrics.authAttempts.labels(p.name, 'success', 'ok')));
    }
    this.providers = providers;
    ({ rules: this.rules, fallback: this.fallback } = compileRules(policy, providers));
    const forwarded = [...new Set([...providers.values()].flatMap((p) => p.forward.map((f) => f.header)))];
    this.spoofable = [...new Set(forwarded.flatMap(spellings))];
    // Names with more separators than spellings() enumerates: underscored keys are checked one by one.
    this.scanUnderscores = forwarded.some((n) => n.split(/[-_]/).length > SPELLED_PARTS) ? new Set(forwarded.map(dashed)) : undefined;
    this.tokenSources = policy.providers.flatMap((p) => p.from);
    this.cache = new TokenCache(policy.cache.maxEntries);
    if (policy.revocation?.enabled === true) {
      if (deps.revocation === undefined) throw new Error('auth.revocation is enabled but no revocation store was given');
      this.revocation = { store: deps.revocation, deny: policy.revocation.onRedisError === 'deny' };
    }
    this.hit = deps.metrics.tokenCache.labels('hit');
    this.miss = deps.metrics.tokenCache.labels('miss');
  }

  /** Undefined when the request may proceed now; a promise when it must wait (keys, Redis); throws to reject. */
  check(ex: Exchange): Promise<void> | undefined {
    const headers = ex.headers;
    for (const h of this.spoofable) if (headers[h] !== undefined) headers[h] = undefined; // not `delete`: see removeHeader
    const scan = this.scanUnderscores;
    if (scan !== undefined) for (const k in headers) if (k.includes('_') && scan.has(dashed(k))) headers[k] = undefined;

    const req = this.requirementFor(ex);
    const local = this.deps.revocations;
    if (local !== undefined && local.list.size > 0) {
      const ban = local.list.banned(clientOf(ex), this.deps.clock.now());
      if (ban !== undefined) this.refuseBanned(ex, req.none ? 'none' : req.label, 'list');
    }
    if (req.none) {
      ex.auth = SKIPPED;
      return this.revocation === undefined ? undefined : this.checkBanned(ex);
    }
    const found = this.find(ex, req);
    return found instanceof Promise ? found.then((f) => this.judge(ex, req, f)) : this.judge(ex, req, found);
  }

  /**
   * Whether the request carries a token that verifies and meets `req` (its providers and claim
   * conditions), without judging the request: no auth attempt is counted and the exchange is
   * left as it is. The maintenance allow-list asks this before the request is authenticated as usual.
   */
  satisfies(ex: Exchange, req: CompiledRequirement): boolean | Promise<boolean> {
    if (req.none) return true;
    const found = this.find(ex, req);
    const meets = (f: Found | Missed): boolean =>
      f.v !== undefined && req.claims.every((c) => valueMatches(claimValue(f.v.claims, c.path), c.anyOf, c.spaceSeparated));
    return found instanceof Promise ? found.then(meets) : meets(found);
  }

  /** A token requirement outside the rules (the maintenance allow-list), compiled against this policy's providers. */
  compile(req: Requirement): CompiledRequirement {
    return compileRequirement(req, this.providers);
  }

  private requirementFor(ex: Exchange): CompiledRequirement {
    const { method, path } = ex;
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.match.matches(method, path)) {
        ex.authRule = i;
        return r.req;
      }
    }
    ex.authRule = -1;
    return this.fallback;
  }

  /**
   * Find the token `req` accepts and verify it (or take the cached verdict). Touches nothing on
   * the exchange and counts only cache lookups; `judge` (or `satisfies`) decides what follows.
   */
  private find(ex: Exchange, req: CompiledRequirement): Found | Missed | Promise<Found | Missed> {
    let token: string | undefined;
    let source: RuleSource | undefined;
    for (const s of req.sources) {
      token = readToken(s.src, ex.headers, ex.target);
      if (token !== undefined) {
        source = s;
        break;
      }
    }
    if (token === undefined || source === undefined) return missed(req.label, 'missing');

    const clock = this.deps.clock;
    const now = clock.now();
    const key = this.cache.keyOf(token);
    const cached = this.cache.get(key, now);
    if (cached !== undefined && source.providers.has(cached.provider)) {
      const keys = cached.provider.keys;
      const mono = clock.monotonic();
      if (cached.generation === keys.generation && keys.usable(mono)) {
        keys.maybeRefresh(mono);
        this.hit.inc();
        return { v: cached, source, cached: true };
      }
    }
    this.miss.inc();

    if (token.length > source.maxBytes) return missed(req.label, 'oversize');
    const parsed = parseCompact(token);
    if (typeof parsed === 'string') return missed(req.label, parsed);
    const iss = parsed.claims.iss;
    const providers = typeof iss === 'string' ? source.byIssuer.get(iss) : undefined;
    if (providers === undefined) return missed(req.label, 'issuer');

    const mono = clock.monotonic();
    let first: AuthReason | undefined;
    for (const rt of providers) {
      const v = verifyWith(rt, token, parsed, now, mono);
      if (typeof v !== 'string') return this.verified(source, key, v);
      if (v === UNKNOWN_KID) {
        const refetch = rt.keys.unknownKid(mono);
        if (refetch !== undefined) return this.afterRefetch(refetch, source, key, rt, token, parsed);
      }
      first ??= v;
    }
    return missed(providers[0]!.cfg.name, first!);
  }

  private async afterRefetch(
    refetch: Promise<boolean>,
    source: RuleSource,
    key: string,
    rt: ProviderRuntime,
    token: string,
    parsed: ParsedToken,
  ): Promise<Found | Missed> {
    await refetch;
    const v = verifyWith(rt, token, parsed, this.deps.clock.now(), this.deps.clock.monotonic());
    return typeof v === 'string' ? missed(rt.cfg.name, v) : this.verified(source, key, v);
  }

  private verified(source: RuleSource, key: string, v: Verified): Found {
    if (v.expiresAt > this.deps.clock.now()) this.cache.set(key, v);
    return { v, source, cached: false };
  }

  /** What `find` concluded, as the rule sees it: a failure (thrown), or the checks of a valid token. */
  private judge(ex: Exchange, req: CompiledRequirement, f: Found | Missed): Promise<void> | undefined {
    if (f.v === undefined) return this.fail(ex, f.provider, f.reason);
    return this.accept(ex, req, f.source, f.v, f.cached);
  }

  /** The token is valid: apply the rule's claim and tenant checks, revocation, then the headers. */
  private accept(ex: Exchange, req: CompiledRequirement, source: RuleSource, v: Verified, cached: boolean): Promise<void> | undefined {
    const name = v.provider.cfg.name;
    for (const c of req.claims) {
      if (!valueMatches(claimValue(v.claims, c.path), c.anyOf, c.spaceSeparated)) {
        return this.reject(
          ex,
          name,
          'claims',
          new ForbiddenError('insufficient_scope', `the token lacks the claim ${c.path.name} this route requires`, CHALLENGE_SCOPE),
        );
      }
    }
    const t = req.tenant;
    if (t !== undefined) {
      const mine = scalarText(claimValue(v.claims, t.path));
      const wanted = t.header !== undefined ? asString(ex.headers[t.header]) : pathSegment(ex.path, t.segment ?? 0);
      if (mine === undefined || wanted === undefined) {
        return this.reject(
          ex,
          name,
          'claims',
          new ForbiddenError('insufficient_scope', 'the tenant of the token or of the request is missing', CHALLENGE_SCOPE),
        );
      }
      if (mine !== wanted) {
        this.deps.metrics.securityViolations.inc({ kind: 'cross_tenant' });
        return this.reject(ex, name, 'cross_tenant', new CrossTenantError());
      }
    }
    const local = this.deps.revocations;
    if (local !== undefined && local.list.size > 0) {
      const hit = local.list.revoked(v.facts, this.deps.clock.now());
      if (hit !== undefined) this.refuseRevoked(ex, name, hit.kind, 'list');
    }
    if (this.revocation !== undefined) return this.checkRevoked(ex, source, v, cached);
    this.admit(ex, source, v, cached);
    return undefined;
  }

  private admit(ex: Exchange, source: RuleSource, v: Verified, cached: boolean, reason = 'ok'): void {
    const headers = ex.headers;
    // The app gets the token only with `forward: true`, and then the verified one alone: apps
    // behind a gateway decode it unverified, and would read a second cookie or parameter of that
    // name (or another source's token) that nobody verified.
    ex.target = v.provider.cfg.forward
      ? keepOnlyToken(this.tokenSources, source.src, headers, ex.target)
      : stripToken(source.src, headers, ex.target);
    const f = v.forward;
    for (let i = 0; i < f.length; i += 2) headers[f[i]!] = f[i + 1]!;
    ex.auth = cached ? v.cachedOutcome : v.outcome;
    if (reason === 'ok') v.provider.okCounter.inc();
    else this.deps.metrics.authAttempts.inc({ provider: v.provider.cfg.name, result: 'success', reason });
  }

  private async checkRevoked(ex: Exchange, source: RuleSource, v: Verified, cached: boolean): Promise<void> {
    const { store } = this.revocation!;
    const f = v.facts;
    let revoked = false;
    let banned = false;
    let cutoff: number | undefined;
    let unchecked = false;
    try {
      [revoked, banned, cutoff] = await Promise.all([
        f.jti === undefined ? false : store.isRevoked(f.jti),
        store.isBanned(clientOf(ex)),
        store.cutoff(f.iss, f.sub, this.deps.clock.now()),
      ]);
    } catch (err) {
      unchecked = this.revocationUnavailable(ex, v.provider.cfg.name, err);
    }
    const name = v.provider.cfg.name;
    if (banned) this.refuseBanned(ex, name, 'redis');
    if (revoked) this.refuseRevoked(ex, name, 'jti', 'redis');
    if (cutoff !== undefined && issuedBefore(f.iat, cutoff)) this.refuseRevoked(ex, name, 'cutoff', 'redis');
    this.admit(ex, source, v, cached, unchecked ? 'revocation_unchecked' : 'ok');
  }

  private async checkBanned(ex: Exchange): Promise<void> {
    let banned = false;
    try {
      banned = await this.revocation!.store.isBanned(clientOf(ex));
    } catch (err) {
      this.revocationUnavailable(ex, 'none', err);
      this.deps.metrics.authAttempts.inc({ provider: 'none', result: 'skipped', reason: 'revocation_unchecked' });
    }
    if (banned) this.refuseBanned(ex, 'none', 'redis');
  }

  /** 403 banned; the log line says which copy knew (`list`: the mounted ConfigMap, `redis`). */
  private refuseBanned(ex: Exchange, provider: string, copy: 'list' | 'redis'): never {
    this.deps.metrics.securityViolations.inc({ kind: 'banned_ip' });
    ex.note('revocation', copy);
    this.reject(ex, provider, 'banned', new ForbiddenError('banned', REASON_MESSAGES.banned));
  }

  /** 401 revoked, noting what revoked it (jti, issuer or subject cut-off) and which copy knew. */
  private refuseRevoked(ex: Exchange, provider: string, by: RevocationEntry['kind'] | 'cutoff', copy: 'list' | 'redis'): never {
    this.deps.metrics.securityViolations.inc({ kind: 'revoked' });
    ex.note('revocation', copy);
    ex.note('revoked_by', by);
    this.fail(ex, provider, 'revoked');
  }

  /**
   * Redis could not answer: the policy's onRedisError decides. Counted (auth attempts with reason
   * revocation_unavailable or revocation_unchecked; the store counts the Redis error itself) and
   * logged at warn at most every 10 s. Returns true when the request is admitted unchecked.
   */
  private revocationUnavailable(ex: Exchange, provider: string, err: unknown): true {
    const { logger, clock } = this.deps;
    const deny = this.revocation!.deny;
    const mono = clock.monotonic();
    if (mono - this.lastRevocationLog >= REVOCATION_LOG_EVERY_MS) {
      logger.warn(
        {
          err: err instanceof Error ? err.message : String(err),
          onRedisError: deny ? 'deny' : 'allow',
          suppressed: this.suppressedRevocationLogs,
        },
        deny ? 'auth: revocation store unavailable, refusing requests' : 'auth: revocation store unavailable, admitting requests unchecked',
      );
      this.lastRevocationLog = mono;
      this.suppressedRevocationLogs = 0;
    } else {
      this.suppressedRevocationLogs++;
    }
    if (deny)
      this.reject(
        ex,
        provider,
        'revocation_unavailable',
        new AuthUnavailableError('revocation_unavailable', REASON_MESSAGES.revocation_unavailable),
      );
    ex.note('revocation', 'unchecked');
    return true;
  }

  /** A token failure: 401 (503 when the provider has no usable keys). */
  private fail(ex: Exchange, provider: string, reason: AuthReason): never {
    if (reason === 'keys_unavailable')
      this.reject(ex, provider, reason, new AuthUnavailableError(reason, REASON_MESSAGES.keys_unavailable));
    this.reject(
      ex,
      provider,
      reason,
      new UnauthenticatedError(reason, REASON_MESSAGES[reason], reason === 'missing' ? CHALLENGE_MISSING : challengeFor(reason)),
    );
  }

  private reject(ex: Exchange, provider: string, reason: AuthReason, err: SidecarError): never {
    ex.auth = { provider, result: 'failure', reason };
    this.deps.metrics.authAttempts.inc({ provider, result: 'failure', reason });
    throw err;
  }
}

/**
 * Every spelling of a header name an app may read as that header: CGI-style gateways (WSGI, PHP,
 * Rack, nginx with underscores_in_headers) map `x_user_id` and `x-user-id` to one variable, so a
 * client's `x_user_id` would spoof the identity header as surely as `x-user-id`. Names arrive
 * lowercased from both protocols; each `-` may be `_`. (Up to 6 dashes: 64 spellings.)
 */
const SPELLED_PARTS = 7;
const dashed = (n: string): string => n.replace(/_/g, '-');

function spellings(name: string): string[] {
  const parts = name.split(/[-_]/);
  if (parts.length > SPELLED_PARTS) return [name, parts.join('-'), parts.join('_')];
  let out = [parts[0]!];
  for (const p of parts.slice(1)) out = out.flatMap((o) => [`${o}-${p}`, `${o}_${p}`]);
  return out;
}

function asString(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
