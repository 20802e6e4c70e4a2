import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { AuthProvider, CompiledPolicy, Requirement } from '../../../policies/src/types.js';
import { systemClock, type Clock } from '../clock.js';
import { SidecarError } from '../errors.js';
import { Exchange, type Protocol, type ResponseSink } from '../protocol/exchange.js';
import { dropConnectionListed } from '../protocol/headers.js';
import { fieldsToHeaders, hostLines, TWO_HOSTS } from '../protocol/http1/fields.js';
import { authStages, decisionStages } from '../inbound/pipeline.js';
import { compose, type Handler } from '../pipeline/stage.js';
import { AuthRuntime, type KeySource, type RevocationStore } from '../stages/authenticate/index.js';
import { keyMaterial, type LimitDecider, type RateItem, type Verdict } from '../stages/rate-limit/index.js';
import { respond } from '../stages/respond/index.js';
import { Metrics } from '../telemetry/metrics.js';

/**
 * `sidegate explain`'s engine: a request run through the sidecar's own deciding stages
 * (decisionStages: route, maintenance, authenticate, rate limits) and its one error boundary
 * (respond), built from the policy by the same code the proxy uses. Only what cannot be known
 * offline is stood in for: the app (a request that gets past the stages is "forwarded"), shared
 * rate-limit budgets (Redis: every limit answers "allowed"), revocation and bans (Redis: none).
 */

/** One request as a client sends it: the request line, header fields as written, the peer. */
export interface ExplainRequest {
  readonly method: string;
  /** Request target as sent (origin-form, or absolute-form on HTTP/1.1). */
  readonly target: string;
  /** Header fields in order, names as written. Repeated fields combine as the HTTP/1.1 front does. */
  readonly headers: readonly (readonly [string, string])[];
  /** The socket peer's address (x-forwarded-for counts only through the policy's trustedHops). */
  readonly clientIp: string;
  readonly protocol: Protocol;
}

export interface LimitExplanation {
  readonly name: string;
  /** The Redis key: what the sidecar's debug access log shows in decision.limits. */
  readonly key: string;
  readonly mode: 'enforce' | 'shadow';
  /** Each key part and the value it read from the request (null: absent, one shared bucket). */
  readonly parts: readonly { readonly part: string; readonly value: unknown }[];
  readonly limit: string;
}

export interface Explanation {
  readonly policy: { readonly name: string; readonly version: string };
  readonly request: {
    readonly method: string;
    readonly target: string;
    readonly path: string;
    readonly clientIp: string;
    readonly invalid: string | undefined;
  };
  readonly route: string;
  /** off, or what the maintenance stage did: refused, excepted, allowed; `not reached` when refused earlier. */
  readonly maintenance: 'off' | 'refused' | 'excepted' | 'allowed' | 'not reached';
  readonly auth: {
    /** `rules[i]`, `default`, or `none` when no rule was judged: the access log's decision.rule. */
    readonly rule: string;
    readonly requires: string;
    readonly result: 'success' | 'failure' | 'skipped' | 'not reached';
    readonly provider: string | undefined;
    readonly reason: string | undefined;
    readonly subject: string | undefined;
  };
  /** False when the request was answered before the rate-limit stage (then `limits` is empty). */
  readonly limitsReached: boolean;
  readonly limits: readonly LimitExplanation[];
  readonly answer: {
    /** Past every deciding stage: the app answers (through the breaker and the upstream timeout). */
    readonly forwarded: boolean;
    /** The status sidegate answers with itself, when not forwarded. */
    readonly status: number | undefined;
    readonly error: string | undefined;
    readonly reason: string | undefined;
    readonly message: string | undefined;
    readonly headers: Readonly<Record<string, string>>;
    /** What the app would receive as the target (a token in the query removed) and the identity headers set. */
    readonly forwardedTarget: string | undefined;
    readonly identityHeaders: Readonly<Record<string, string>>;
  };
}

export interface ExplainerOptions {
  readonly namespace: string;
  readonly service: string;
  readonly clock?: Clock;
  /** Where each provider's keys come from (default: the policy's own source). */
  readonly keySource?: (p: AuthProvider) => KeySource;
  /** How long to wait for keys to load; 0 when no request will carry a token. */
  readonly keysWaitMs?: number;
  readonly log: Logger;
}

/** Redis' shared state is not consulted: every limit answers as if its budget had room. */
const roomEverywhere: LimitDecider = {
  decide: (items: readonly RateItem[]): Promise<readonly Verdict[]> =>
    Promise.resolve(items.map(() => ({ outcome: 'allowed', source: 'redis', remaining: undefined, resetMs: undefined, retryAfterMs: 0 }))),
};

/** Revocation and bans live in Redis: offline, nothing is revoked and nobody is banned. */
const nothingRevoked: RevocationStore = {
  isRevoked: () => Promise.resolve(false),
  isBanned: () => Promise.resolve(false),
  cutoff: () => Promise.resolve(undefined),
};

export class Explainer {
  private readonly forwarded = new WeakSet<Exchange>();

  private constructor(
    readonly policy: CompiledPolicy,
    private readonly handler: Handler,
    private readonly auth: AuthRuntime,
    private readonly clock: Clock,
  ) {}

  /** The deciding pipeline for `policy`, with its keys loaded (up to `keysWaitMs`). */
  static async create(policy: CompiledPolicy, o: ExplainerOptions): Promise<Explainer> {
    const clock = o.clock ?? systemClock;
    const metrics = new Metrics({ processMetrics: false });
    const auth = new AuthRuntime({
      metrics,
      logger: o.log,
      clock,
      revocation: nothingRevoked,
      keyManagerOptions: o.keySource === undefined ? undefined : { sourceFor: o.keySource },
    });
    const stages = await authStages(auth, policy, o.keysWaitMs ?? 5000);
    const services = { metrics, log: o.log, clock, limiter: roomEverywhere, identity: { namespace: o.namespace, service: o.service } };
    const self: { e?: Explainer } = {};
    const forward: Handler = (ex) => {
      self.e!.forwarded.add(ex);
      return Promise.resolve();
    };
    const handler = compose([respond, ...decisionStages(policy, services, stages)], forward);
    return (self.e = new Explainer(policy, handler, auth, clock));
  }

  /** True when every provider's keys are loaded (tokens can be verified). */
  get keysReady(): boolean {
    return this.auth.ready();
  }

  close(): void {
    this.auth.close();
  }

  async explain(req: ExplainRequest): Promise<Explanation> {
    const ex = this.exchange(req);
    await this.handler(ex);
    return this.describe(ex, req);
  }

  /** The Exchange the front would make: target validated and normalised, Connection-listed fields dropped. */
  private exchange(req: ExplainRequest): Exchange {
    const raw = req.headers.flat();
    const headers = fieldsToHeaders(raw);
    dropConnectionListed(headers, headers.connection);
    const ex = Exchange.create(
      req.protocol,
      req.method,
      req.target,
      headers.host ?? '',
      'http',
      headers,
      req.clientIp,
      Readable.from([]),
      false,
      new RecordingSink(),
      'explain',
      this.clock.monotonic(),
    );
    // As the HTTP/1.1 front does; a missing Host is not judged: explain's requests rarely name one.
    if (req.protocol === 'http/1.1' && hostLines(raw) > 1) ex.invalid ??= TWO_HOSTS;
    return ex;
  }

  private describe(ex: Exchange, req: ExplainRequest): Explanation {
    const p = this.policy;
    const forwarded = this.forwarded.has(ex);
    const err = ex.error instanceof SidecarError ? ex.error : undefined;
    const sink = ex.sink as RecordingSink;
    const rule = ex.authRule >= 0 ? `rules[${ex.authRule}]` : ex.authRule === -1 ? 'default' : 'none';
    const requirement = ex.authRule >= 0 ? p.auth?.rules[ex.authRule]?.require : ex.authRule === -1 ? p.auth?.defaultRequire : undefined;
    const note = ex.notes?.maintenance;
    const identityHeaders: Record<string, string> = {};
    if (forwarded) {
      for (const pr of p.auth?.providers ?? []) {
        for (const h of Object.values(pr.forwardClaims)) {
          const v = ex.headers[h];
          if (typeof v === 'string') identityHeaders[h] = v;
        }
      }
    }
    return {
      policy: { name: p.name, version: p.version },
      request: {
        method: ex.method,
        target: req.target,
        path: ex.path,
        clientIp: ex.clientAddress !== '' ? ex.clientAddress : req.clientIp,
        invalid: ex.invalid,
      },
      route: ex.routeName,
      maintenance:
        p.maintenance?.enabled !== true ? 'off' : typeof note === 'string' ? (note as 'refused' | 'excepted' | 'allowed') : 'not reached',
      auth: {
        rule,
        requires:
          p.auth === undefined ? 'nothing (no auth section)' : requirement === undefined ? '(not judged)' : requirementText(requirement),
        result: ex.auth?.result ?? 'not reached',
        provider: ex.auth?.provider,
        reason: ex.auth?.reason,
        subject: ex.auth?.subject,
      },
      // The rate-limit stage is the last one that decides: reaching it means passing it or being refused by it.
      limitsReached: forwarded || err?.code === 'SIDEGATE_ERR_RATE_LIMITED' || err?.code === 'SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE',
      limits: (ex.limitKeys ?? []).map((it) => {
        const spec = p.rateLimits.find((l) => l.name === it.spec.name)!;
        const values = keyMaterial(spec.key, ex, p.clientAddress.trustedHops)
          .split('\n')
          .slice(0, -1)
          .map((l) => JSON.parse(l) as unknown);
        return {
          name: spec.name,
          key: it.key,
          mode: spec.mode,
          parts: spec.key.map((k, i) => ({
            part:
              k.kind === 'claim' || k.kind === 'header' ? `${k.kind}:${k.name}` : k.kind === 'constant' ? `constant:${k.value}` : k.kind,
            value: values[i],
          })),
          limit: `${spec.requests} per ${spec.perMs} ms, burst ${spec.burst}, cost ${spec.cost}`,
        };
      }),
      answer: {
        forwarded,
        status: forwarded ? undefined : ex.status,
        error: err?.code,
        reason: err?.reason,
        message: err?.message,
        headers: forwarded ? {} : stringHeaders(sink.headers),
        forwardedTarget: forwarded ? ex.target : undefined,
        identityHeaders,
      },
    };
  }
}

/** A requirement in words, as `sidegate explain` prints it. */
export function requirementText(r: Requirement): string {
  if (r.kind === 'none') return 'none (no token needed)';
  const parts = [r.kind === 'providers' ? `a valid token from ${r.providers.join(' or ')}` : 'a valid token from any provider'];
  for (const c of r.claims) parts.push(`claim ${c.claim} one of [${c.anyOf.join(', ')}]`);
  if (r.tenant !== undefined)
    parts.push(
      `claim ${r.tenant.claim} equal to ${r.tenant.header !== undefined ? `header ${r.tenant.header}` : `path segment ${r.tenant.pathSegment}`}`,
    );
  return parts.join(', ');
}

function stringHeaders(h: OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h))
    if (v !== undefined && k !== 'content-length') out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

/** Where `respond` writes a refusal: kept, not sent. */
class RecordingSink implements ResponseSink {
  headersSent = false;
  bytesOut = 0;
  closed = false;
  status = 0;
  headers: OutgoingHttpHeaders = {};
  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false): void {
    this.headersSent = true;
    this.status = status;
    this.headers = headers;
    if (endStream) this.closed = true;
  }
  write(): boolean {
    return true;
  }
  onDrain(): void {
    /* never full */
  }
  end(): void {
    this.closed = true;
  }
  abort(): void {
    this.closed = true;
  }
  onClose(): void {
    /* nothing to release */
  }
}
