/**
 * The shape of a policy document after schema validation with defaults filled in: the input of
 * the conversion to domain types. Fields the schema defaults are required here; fields without a
 * default stay optional.
 */

export type RequirementDoc =
  | 'none'
  | 'any'
  | {
      providers?: string[];
      claims?: Record<string, string | string[]>;
      tenant?: { claim: string; header?: string; pathSegment?: number };
    };

export interface MatchDoc {
  paths?: string[];
  methods?: string[];
}

export interface TokenSourceDoc {
  header?: string;
  prefix?: string;
  cookie?: string;
  query?: string;
}

export interface JwksDoc {
  uri?: string;
  discovery: boolean;
  file?: string;
  keys?: Record<string, unknown>[];
  refreshInterval: string;
  staleIfError: string;
  cooldown: string;
  timeout: string;
}

export interface ProviderDoc {
  name: string;
  issuer: string;
  audiences: string[];
  algorithms: string[];
  typ?: string;
  requireExp: boolean;
  clockSkew: string;
  maxTokenAge?: string;
  maxTokenSize: number;
  jwks?: JwksDoc;
  secret?: { file?: string; env?: string };
  from: TokenSourceDoc[];
  forwardClaims: Record<string, string>;
  forward: boolean;
}

export interface AuthDoc {
  providers: ProviderDoc[];
  rules: { match: MatchDoc; require: RequirementDoc }[];
  default?: { require?: RequirementDoc };
  revocation?: { enabled: boolean; onRedisError: 'allow' | 'deny' };
  cache: { maxEntries: number };
}

export type KeyPartDoc =
  { claim: string } | { header: string } | { clientIp: true } | { method: true } | { route: true } | { constant: string };

export interface RateLimitDoc {
  name: string;
  match: MatchDoc;
  key: KeyPartDoc[];
  limit: { requests: number; per: string; burst: number };
  cost: number;
  onRedisError: 'allow' | 'deny' | 'local';
  mode: 'enforce' | 'shadow';
}

export interface BreakerDoc {
  consecutiveFailures: number;
  failureRatio?: number;
  window: string;
  minimumRequests: number;
  openFor: string;
  maxOpenFor: string;
  halfOpenRequests: number;
  failureStatuses: number[];
}

export interface MaintenanceDoc {
  enabled: boolean;
  retryAfter: string;
  message: string;
  except: MatchDoc[];
  allow?: { providers?: string[]; claims: Record<string, string | string[]> };
}

export interface PolicyDoc {
  apiVersion: 'sidegate.dev/v1';
  kind: 'Policy';
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    upstream: { protocol?: 'http1' | 'h2c'; timeout: string; maxConcurrentRequests: number; retry: { attempts: number; backoff: string } };
    routes: { name: string; match: MatchDoc; timeout?: string }[];
    logging: { successSampleRate: number; excludePaths: string[] };
    clientAddress: { trustedHops: number };
    auth?: AuthDoc;
    rateLimits: RateLimitDoc[];
    breaker?: BreakerDoc;
    maintenance?: MaintenanceDoc;
  };
}
