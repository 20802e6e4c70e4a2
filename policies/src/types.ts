/**
 * The compiled, frozen policy: what `compilePolicy()` returns and every stage reads. Durations are
 * milliseconds, matchers are prebuilt, defaults are filled in. Nothing here is `unknown`.
 */

/** Matches a request by path (exact, or prefix written `/x/*`) and method. Prebuilt once. */
export interface RequestMatcher {
  /** Empty means any path. Exact entries. */
  readonly exactPaths: ReadonlySet<string>;
  /** Prefixes from `/x/*` entries, stored as `/x/` (and `/x` itself also matches). */
  readonly prefixes: readonly string[];
  /** True when `paths` was absent or contained `/*` or `*`. */
  readonly anyPath: boolean;
  /** Upper-case methods; empty means any method. */
  readonly methods: ReadonlySet<string>;
  matches(method: string, path: string): boolean;
}

export type UpstreamProtocol = 'http1' | 'h2c';

export interface UpstreamPolicy {
  /** Undefined: take the protocol from the --upstream URL scheme. */
  readonly protocol: UpstreamProtocol | undefined;
  readonly timeoutMs: number;
  readonly maxConcurrentRequests: number;
  /** Retry of idempotent, bodiless requests refused before reaching the app (0 attempts: off). */
  readonly retry: { readonly attempts: number; readonly backoffMs: number };
}

export interface RoutePolicy {
  readonly name: string;
  readonly match: RequestMatcher;
  /** Upstream timeout for this route; falls back to spec.upstream.timeout. */
  readonly timeoutMs: number | undefined;
}

export interface TokenSource {
  readonly kind: 'header' | 'cookie' | 'query';
  /** Header name (lowercase), cookie name or query parameter name. */
  readonly name: string;
  /** Only for headers: the prefix to strip, e.g. "Bearer ". */
  readonly prefix: string;
}

export interface JwksSource {
  readonly uri: string | undefined;
  /** OpenID discovery: fetch `<issuer>/.well-known/openid-configuration` for the jwks_uri. */
  readonly discovery: boolean;
  readonly file: string | undefined;
  readonly inline: readonly Readonly<Record<string, unknown>>[] | undefined;
  readonly refreshIntervalMs: number;
  readonly staleIfErrorMs: number;
  readonly cooldownMs: number;
  readonly timeoutMs: number;
}

export interface AuthProvider {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly typ: string | undefined;
  readonly requireExp: boolean;
  readonly clockSkewMs: number;
  readonly maxTokenAgeMs: number | undefined;
  readonly maxTokenBytes: number;
  readonly jwks: JwksSource | undefined;
  /** HS* only: where the shared secret comes from. Never alongside asymmetric keys. */
  readonly secret: { readonly file?: string; readonly env?: string } | undefined;
  readonly from: readonly TokenSource[];
  /** claim path (dot-separated) → header name sent to the app. */
  readonly forwardClaims: Readonly<Record<string, string>>;
  /** Keep the token on the request sent to the app. */
  readonly forward: boolean;
}

export interface ClaimCondition {
  /** Dot-separated path into the claims, e.g. `realm_access.roles`. */
  readonly claim: string;
  /** The claim (or one of its array elements, or one of its space-separated words for `scope`) must be one of these. */
  readonly anyOf: readonly string[];
}

export interface TenantCondition {
  readonly claim: string;
  /** The request attribute the claim must equal. */
  readonly header: string | undefined;
  /** Zero-based index of the path segment, e.g. 1 for `/tenants/{id}/...` → segment 1. */
  readonly pathSegment: number | undefined;
}

export type Requirement =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'any' | 'providers';
      /** Empty for `any`. */
      readonly providers: readonly string[];
      readonly claims: readonly ClaimCondition[];
      readonly tenant: TenantCondition | undefined;
    };

export interface AuthRule {
  readonly match: RequestMatcher;
  readonly require: Requirement;
}

export interface AuthPolicy {
  readonly providers: readonly AuthProvider[];
  readonly rules: readonly AuthRule[];
  readonly defaultRequire: Requirement;
  readonly revocation: { readonly enabled: boolean; readonly onRedisError: 'allow' | 'deny' } | undefined;
  readonly cache: { readonly maxEntries: number };
}

export type KeyPart =
  | { readonly kind: 'claim'; readonly name: string }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'clientIp' }
  | { readonly kind: 'method' }
  | { readonly kind: 'route' }
  | { readonly kind: 'constant'; readonly value: string };

export interface RateLimitPolicy {
  readonly name: string;
  readonly match: RequestMatcher;
  readonly key: readonly KeyPart[];
  readonly requests: number;
  readonly perMs: number;
  readonly burst: number;
  /** Cost of one request (default 1). */
  readonly cost: number;
  readonly onRedisError: 'allow' | 'deny' | 'local';
  readonly mode: 'enforce' | 'shadow';
}

export interface BreakerPolicy {
  readonly consecutiveFailures: number;
  /** Failure ratio over the rolling window that opens the breaker; undefined disables the ratio trigger. */
  readonly failureRatio: number | undefined;
  readonly windowMs: number;
  readonly minimumRequests: number;
  readonly openForMs: number;
  readonly maxOpenForMs: number;
  readonly halfOpenRequests: number;
  readonly failureStatuses: ReadonlySet<number>;
}

/** Maintenance mode (spec.maintenance): requests answered 503 instead of reaching the app. */
export interface MaintenancePolicy {
  readonly enabled: boolean;
  /** Retry-After, whole seconds (at least 1). */
  readonly retryAfterSeconds: number;
  readonly message: string;
  /** Requests served as usual whatever the switch says (health checks, a status page). */
  readonly except: readonly RequestMatcher[];
  /** Identities served as usual: a token requirement (`any` or `providers`, with claims). */
  readonly allow: Requirement | undefined;
}

export interface LoggingPolicy {
  /** Fraction of successful (status < 400) requests that get a log line; errors always do. */
  readonly successSampleRate: number;
  /** Paths never logged (health checks), matched like rule paths. */
  readonly exclude: RequestMatcher | undefined;
}

export interface CompiledPolicy {
  readonly name: string;
  /** Short content hash of the validated document: changes exactly when the policy changes. */
  readonly version: string;
  /** That document (the sources merged, defaults filled in), frozen: what GET /debug/policy shows. */
  readonly document: Readonly<Record<string, unknown>>;
  readonly upstream: UpstreamPolicy;
  readonly routes: readonly RoutePolicy[];
  readonly auth: AuthPolicy | undefined;
  readonly rateLimits: readonly RateLimitPolicy[];
  readonly breaker: BreakerPolicy | undefined;
  /** Undefined when the policy has no maintenance section (off). */
  readonly maintenance: MaintenancePolicy | undefined;
  readonly logging: LoggingPolicy;
  readonly clientAddress: ClientAddressPolicy;
}

/** One validation problem: where (JSON path into the document) and what. */
export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}

export interface ClientAddressPolicy {
  /**
   * How many proxies in front of the pod are trusted to append to `x-forwarded-for`. 0 (default):
   * the client IP is the socket's peer address and `x-forwarded-for` is ignored for decisions.
   */
  readonly trustedHops: number;
}
