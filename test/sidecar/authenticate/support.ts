import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type {
  AuthPolicy,
  AuthProvider,
  AuthRule,
  ClaimCondition,
  JwksSource,
  RequestMatcher,
  Requirement,
  TenantCondition,
} from '../../../policies/src/types.js';
import { ManualClock, type Clock } from '../../../sidecar/src/clock.js';
import { SidecarError } from '../../../sidecar/src/errors.js';
import { Exchange, type ResponseSink } from '../../../sidecar/src/protocol/exchange.js';
import { compose, type Handler } from '../../../sidecar/src/pipeline/stage.js';
import { authenticate, KeyManager, type KeySource, type RevocationStore } from '../../../sidecar/src/stages/authenticate/index.js';
import type { Logger } from '../../../sidecar/src/telemetry/logger.js';
import type { LocalRevocations } from '../../../sidecar/src/stages/authenticate/revocation.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';

/** Compiled-policy builders: the shapes compilePolicy() produces, written by hand. */

export function matcher(paths?: readonly string[], methods?: readonly string[]): RequestMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  let anyPath = paths === undefined || paths.length === 0;
  for (const p of paths ?? []) {
    if (p === '*' || p === '/*') anyPath = true;
    else if (p.endsWith('/*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  const m = new Set((methods ?? []).map((x) => x.toUpperCase()));
  return {
    exactPaths: exact,
    prefixes,
    anyPath,
    methods: m,
    matches(method: string, path: string): boolean {
      if (m.size > 0 && !m.has(method)) return false;
      if (anyPath || exact.has(path)) return true;
      return prefixes.some((pre) => path.startsWith(pre) || path === pre.slice(0, -1));
    },
  };
}

export function jwks(over: Partial<JwksSource> = {}): JwksSource {
  return {
    uri: undefined,
    discovery: false,
    file: undefined,
    inline: undefined,
    refreshIntervalMs: 300_000,
    staleIfErrorMs: 86_400_000,
    cooldownMs: 30_000,
    timeoutMs: 2_000,
    ...over,
  };
}

export function provider(over: Partial<AuthProvider> & { name?: string; issuer: string }): AuthProvider {
  return {
    name: 'corp',
    audiences: ['orders'],
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    typ: undefined,
    requireExp: true,
    clockSkewMs: 30_000,
    maxTokenAgeMs: undefined,
    maxTokenBytes: 8192,
    jwks: undefined,
    secret: undefined,
    from: [{ kind: 'header', name: 'authorization', prefix: 'Bearer ' }],
    forwardClaims: {},
    forward: false,
    ...over,
  };
}

export const requireNone: Requirement = { kind: 'none' };
export function requireAny(claims: readonly ClaimCondition[] = [], tenant?: TenantCondition): Requirement {
  return { kind: 'any', providers: [], claims, tenant };
}
export function requireProviders(
  providers: readonly string[],
  claims: readonly ClaimCondition[] = [],
  tenant?: TenantCondition,
): Requirement {
  return { kind: 'providers', providers, claims, tenant };
}
export function rule(paths: readonly string[] | undefined, require: Requirement, methods?: readonly string[]): AuthRule {
  return { match: matcher(paths, methods), require };
}

export function authPolicy(over: Partial<AuthPolicy> & { providers: readonly AuthProvider[] }): AuthPolicy {
  return { rules: [], defaultRequire: requireAny(), revocation: undefined, cache: { maxEntries: 10_000 }, ...over };
}

/** A sink that records what would have been answered; the stage under test never writes to it. */
export function nullSink(): ResponseSink {
  return {
    headersSent: false,
    bytesOut: 0,
    closed: false,
    writeHead: () => undefined,
    write: () => true,
    onDrain: () => undefined,
    end: () => undefined,
    abort: () => undefined,
    onClose: () => undefined,
  };
}

export interface ExchangeInit {
  method?: string;
  target?: string;
  headers?: IncomingHttpHeaders;
  remoteAddress?: string;
}

/** A real Exchange as the HTTP/1.1 front would build it. */
export function exchange(init: ExchangeInit = {}): Exchange {
  return Exchange.create(
    'http/1.1',
    init.method ?? 'GET',
    init.target ?? '/api/orders',
    'app.local',
    'http',
    { ...(init.headers ?? {}) },
    init.remoteAddress ?? '10.0.0.7',
    Readable.from([]),
    false,
    nullSink(),
    'req-1',
    0,
  );
}

export const bearer = (token: string): IncomingHttpHeaders => ({ authorization: `Bearer ${token}` });

/** A logger that keeps lines for assertions. */
export class MemoryLogger implements Logger {
  readonly lines: { level: string; obj: object; msg: string | undefined }[] = [];
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj, msg });
  }
}

export interface Harness {
  readonly km: KeyManager;
  readonly metrics: Metrics;
  readonly logger: MemoryLogger;
  readonly clock: Clock;
  readonly handler: Handler;
  /** Requests that reached the app: their headers as the forwarder would send them. */
  readonly seen: IncomingHttpHeaders[];
  run(init: ExchangeInit): Promise<Result>;
  close(): void;
}

export interface Result {
  readonly ex: Exchange;
  readonly passed: boolean;
  readonly error: SidecarError | undefined;
}

/** KeyManager + stage + a recording app, the way the proxy assembles them. Waits for readiness unless told not to. */
export async function harness(
  policy: AuthPolicy,
  opts: {
    clock?: Clock;
    revocation?: RevocationStore;
    revocations?: LocalRevocations;
    sourceFor?: (p: AuthProvider) => KeySource;
    waitReady?: boolean;
  } = {},
): Promise<Harness> {
  const metrics = new Metrics({ processMetrics: false });
  const logger = new MemoryLogger();
  const clock = opts.clock ?? new ManualClock(Date.now(), 0);
  const km = new KeyManager(policy.providers, { metrics, logger, clock }, opts.sourceFor ? { sourceFor: opts.sourceFor } : {});
  km.start();
  if (opts.waitReady !== false && !(await km.whenReady(5000))) throw new Error(`key manager not ready: ${JSON.stringify(logger.lines)}`);
  const seen: IncomingHttpHeaders[] = [];
  const app: Handler = (ex) => {
    seen.push({ ...ex.headers });
    return Promise.resolve();
  };
  const handler = compose(
    [authenticate(policy, { metrics, logger, clock, keys: km, revocation: opts.revocation, revocations: opts.revocations })],
    app,
  );
  return {
    km,
    metrics,
    logger,
    clock,
    handler,
    seen,
    async run(init) {
      const ex = exchange(init);
      try {
        await handler(ex);
        return { ex, passed: true, error: undefined };
      } catch (err) {
        if (!(err instanceof SidecarError)) throw err;
        return { ex, passed: false, error: err };
      }
    },
    close() {
      km.close();
    },
  };
}

/** Current value of a counter/gauge sample with exactly these labels (0 when absent). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const data = await m.get();
  const want = Object.entries(labels);
  const sample = data.values.find((v) => want.every(([k, val]) => v.labels[k] === val));
  return sample?.value ?? 0;
}

export const nowSeconds = (clock: Clock): number => Math.floor(clock.now() / 1000);
