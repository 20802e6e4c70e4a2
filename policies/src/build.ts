/**
 * Converts a validated, defaulted policy document into the domain types of types.ts: durations in
 * milliseconds, header names lower-cased, matchers prebuilt, requirements normalized. Runs only
 * after the schema and the semantic checks passed, so it trusts the document's shape.
 */
import { createHash } from 'node:crypto';
import type {
  AuthPolicy,
  AuthProvider,
  BreakerPolicy,
  CompiledPolicy,
  KeyPart,
  MaintenancePolicy,
  RateLimitPolicy,
  Requirement,
  TokenSource,
} from './types.js';
import type {
  AuthDoc,
  BreakerDoc,
  KeyPartDoc,
  MaintenanceDoc,
  PolicyDoc,
  ProviderDoc,
  RateLimitDoc,
  RequirementDoc,
  TokenSourceDoc,
} from './document.js';
import { durationMs } from './duration.js';
import { compileMatcher } from './matcher.js';
import { FrozenSet, deepFreeze } from './frozen.js';
import { isPlainObject } from './merge.js';

/** JSON with object keys sorted, so equal documents hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** First 12 hex digits of the SHA-256 of the canonical document. */
export function policyVersion(doc: unknown): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex').slice(0, 12);
}

function requirement(doc: RequirementDoc): Requirement {
  if (doc === 'none') return { kind: 'none' };
  if (doc === 'any') return { kind: 'any', providers: [], claims: [], tenant: undefined };
  const providers = doc.providers ?? [];
  return {
    kind: providers.length > 0 ? 'providers' : 'any',
    providers,
    claims: Object.entries(doc.claims ?? {}).map(([claim, v]) => ({ claim, anyOf: typeof v === 'string' ? [v] : v })),
    tenant:
      doc.tenant === undefined
        ? undefined
        : { claim: doc.tenant.claim, header: doc.tenant.header?.toLowerCase(), pathSegment: doc.tenant.pathSegment },
  };
}

function tokenSource(s: TokenSourceDoc): TokenSource {
  if (s.header !== undefined) return { kind: 'header', name: s.header.toLowerCase(), prefix: s.prefix ?? '' };
  if (s.cookie !== undefined) return { kind: 'cookie', name: s.cookie, prefix: '' };
  return { kind: 'query', name: s.query ?? '', prefix: '' };
}

function provider(p: ProviderDoc): AuthProvider {
  const j = p.jwks;
  return {
    name: p.name,
    issuer: p.issuer,
    audiences: p.audiences,
    algorithms: p.algorithms,
    typ: p.typ,
    requireExp: p.requireExp,
    clockSkewMs: durationMs(p.clockSkew),
    maxTokenAgeMs: p.maxTokenAge === undefined ? undefined : durationMs(p.maxTokenAge),
    maxTokenBytes: p.maxTokenSize,
    jwks:
      j === undefined
        ? undefined
        : {
            uri: j.uri,
            discovery: j.discovery,
            file: j.file,
            inline: j.keys,
            refreshIntervalMs: durationMs(j.refreshInterval),
            staleIfErrorMs: durationMs(j.staleIfError),
            cooldownMs: durationMs(j.cooldown),
            timeoutMs: durationMs(j.timeout),
          },
    secret: p.secret,
    from: p.from.map(tokenSource),
    forwardClaims: Object.fromEntries(Object.entries(p.forwardClaims).map(([claim, h]) => [claim, h.toLowerCase()])),
    forward: p.forward,
  };
}

function auth(a: AuthDoc): AuthPolicy {
  const providers = a.providers.map(provider);
  return {
    providers,
    rules: a.rules.map((r) => ({ match: compileMatcher(r.match), require: requirement(r.require) })),
    defaultRequire: requirement(a.default?.require ?? (providers.length > 0 ? 'any' : 'none')),
    revocation: a.revocation,
    cache: a.cache,
  };
}

function keyPart(k: KeyPartDoc): KeyPart {
  if ('claim' in k) return { kind: 'claim', name: k.claim };
  if ('header' in k) return { kind: 'header', name: k.header.toLowerCase() };
  if ('constant' in k) return { kind: 'constant', value: k.constant };
  if ('clientIp' in k) return { kind: 'clientIp' };
  if ('method' in k) return { kind: 'method' };
  return { kind: 'route' };
}

function rateLimit(l: RateLimitDoc): RateLimitPolicy {
  return {
    name: l.name,
    match: compileMatcher(l.match),
    key: l.key.map(keyPart),
    requests: l.limit.requests,
    perMs: durationMs(l.limit.per),
    burst: l.limit.burst,
    cost: l.cost,
    onRedisError: l.onRedisError,
    mode: l.mode,
  };
}

function breaker(b: BreakerDoc): BreakerPolicy {
  return {
    consecutiveFailures: b.consecutiveFailures,
    failureRatio: b.failureRatio,
    windowMs: durationMs(b.window),
    minimumRequests: b.minimumRequests,
    openForMs: durationMs(b.openFor),
    maxOpenForMs: durationMs(b.maxOpenFor),
    halfOpenRequests: b.halfOpenRequests,
    failureStatuses: new FrozenSet(b.failureStatuses),
  };
}

function maintenance(m: MaintenanceDoc): MaintenancePolicy {
  return {
    enabled: m.enabled,
    retryAfterSeconds: Math.max(1, Math.ceil(durationMs(m.retryAfter) / 1000)),
    message: m.message,
    except: m.except.map((x) => compileMatcher(x)),
    allow: m.allow === undefined ? undefined : requirement(m.allow),
  };
}

/** The frozen compiled policy for a document that passed validation. */
export function buildPolicy(doc: PolicyDoc): CompiledPolicy {
  const { spec } = doc;
  const policy: CompiledPolicy = {
    name: doc.metadata.name,
    version: policyVersion(doc),
    document: doc as unknown as Record<string, unknown>,
    upstream: {
      protocol: spec.upstream.protocol,
      timeoutMs: durationMs(spec.upstream.timeout),
      maxConcurrentRequests: spec.upstream.maxConcurrentRequests,
      retry: { attempts: spec.upstream.retry.attempts, backoffMs: durationMs(spec.upstream.retry.backoff) },
    },
    routes: spec.routes.map((r) => ({
      name: r.name,
      match: compileMatcher(r.match),
      timeoutMs: r.timeout === undefined ? undefined : durationMs(r.timeout),
    })),
    auth: spec.auth === undefined ? undefined : auth(spec.auth),
    rateLimits: spec.rateLimits.map(rateLimit),
    breaker: spec.breaker === undefined ? undefined : breaker(spec.breaker),
    maintenance: spec.maintenance === undefined ? undefined : maintenance(spec.maintenance),
    logging: {
      successSampleRate: spec.logging.successSampleRate,
      exclude: spec.logging.excludePaths.length > 0 ? compileMatcher({ paths: spec.logging.excludePaths }) : undefined,
    },
    clientAddress: { trustedHops: spec.clientAddress.trustedHops },
  };
  return deepFreeze(policy);
}
