import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import type { CompiledPolicy, UpstreamProtocol } from '../../policies/src/types.js';
import { debugPolicy } from './inbound/admin/debug-policy.js';
import { AdminServer, type ReadinessCheck } from './inbound/admin/server.js';
import { parseAppProbes } from './inbound/admin/probes.js';
import { systemClock, type Clock } from './clock.js';
import type { ProxyConfig } from './config.js';
import type { Exchange } from './protocol/exchange.js';
import { checkFastPath, checkParser } from './protocol/http1/llhttp.js';
import { Drainer } from './lifecycle/drain.js';
import { authStages, buildPipeline, buildWaiting, type PipelineServices } from './inbound/pipeline.js';
import type { Handler } from './pipeline/stage.js';
import { MaintenanceNotice } from './policy/maintenance-notice.js';
import { PolicySource } from './policy/source.js';
import { loadRedisConfig } from './redis/config.js';
import { describeEntry } from './revocation/list.js';
import { RevocationSeeder } from './revocation/seeder.js';
import { RevocationSource } from './revocation/source.js';
import type { RedisConnection } from './redis/connection.js';
import { InboundListener } from './inbound/listener.js';
import { AuthRuntime, ConnectionRevocationStore } from './stages/authenticate/index.js';
import { BreakerRegistry } from './stages/breaker/index.js';
import { forward } from './stages/forward.js';
import { RateLimiter } from './stages/rate-limit/index.js';
import { metricsLeaseRecorder } from './stages/rate-limit/lease/metrics.js';
import { createLogger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import type { Tracing } from './telemetry/tracing.js';
import { tracingEnv } from './telemetry/tracing-config.js';
import { H2cUpstream } from './upstream/h2c.js';
import { Http1Upstream } from './upstream/http1.js';
import type { Upstream } from './upstream/upstream.js';

/** GET /debug/revocations (loopback only): the list in force, its problems and the copies' ages. */
function revocationsView(src: RevocationSource, seeder: RevocationSeeder | undefined, now: number): unknown {
  const age = (a: number | undefined): number | null => (a === undefined || !Number.isFinite(a) ? null : Math.round(a * 10) / 10);
  return {
    file: src.file ?? null,
    version: src.list.version,
    fileAgeSeconds: age(src.ageSeconds()),
    redisAgeSeconds: age(seeder?.ageSeconds()),
    inForce: src.list.inForce(now).map(describeEntry),
    problems: src.problems,
  };
}

/** Reported in traces (service.version) and logs. */
export const SIDEGATE_VERSION = '0.1.0';

export interface ProxyDeps {
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Where JSON log lines go (tests capture them); stdout by default. */
  readonly logStream?: DestinationStream;
  /** Process metrics (CPU, memory, event loop) on /metrics; off in tests that start many proxies. */
  readonly processMetrics?: boolean;
  /** OTEL_* and SIDEGATE_REDIS_* secrets (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
}

/** What outlives policy versions: connections, key sets, limiter and breaker state, tracing. */
interface Services {
  readonly config: ProxyConfig;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  readonly tracing: Tracing | undefined;
  readonly redis: RedisConnection | undefined;
  readonly auth: AuthRuntime;
  readonly limiter: RateLimiter;
  readonly breakers: BreakerRegistry;
  readonly maintenance: MaintenanceNotice;
  readonly revocations: RevocationSource;
  readonly seeder: RevocationSeeder | undefined;
}

function upstreamProtocol(cfg: ProxyConfig, policy: CompiledPolicy | undefined): UpstreamProtocol {
  return policy?.upstream.protocol ?? (cfg.upstream.protocol === 'h2c:' ? 'h2c' : 'http1');
}

/**
 * The sidecar assembled: inbound listener → pipeline (rebuilt per policy version) → app, plus
 * the admin server, policy reloads and drain. Start with `Proxy.start()`.
 */
export class Proxy {
  private handler: Handler = () => Promise.resolve();
  private upstream: Upstream;
  private readonly drainer: Drainer;
  private inboundAddr: AddressInfo | undefined;
  private adminAddr: AddressInfo | undefined;
  private readonly checks: readonly ReadinessCheck[];
  private reloads: Promise<void> = Promise.resolve();
  private shutdownDone: Promise<{ forced: boolean }> | undefined;
  private onShutdown: ((r: { forced: boolean }) => void) | undefined;
  private readonly shutDown = new Promise<{ forced: boolean }>((resolve) => {
    this.onShutdown = resolve;
  });

  private constructor(
    private readonly s: Services,
    private readonly policySource: PolicySource,
    private readonly listener: InboundListener,
    private readonly admin: AdminServer,
    policy: CompiledPolicy | undefined,
  ) {
    this.upstream = this.createUpstream(policy);
    this.drainer = new Drainer(
      {
        stopAccepting: () => {
          void listener.stopAccepting();
        },
        closeIdle: () => listener.closeIdle(),
        // The telemetry stage counts every exchange in and out (sidegate_inflight_requests).
        busy: () => ({ inflight: s.metrics.inflightNow, connections: listener.openConnections }),
        destroyAll: () => listener.destroyAll(),
      },
      s.config.drainDelayMs,
      s.config.drainTimeoutMs,
    );
    this.checks = [
      { name: 'policy', ready: () => policySource.loaded },
      { name: 'auth-keys', ready: () => s.auth.ready() },
      { name: 'draining', ready: () => !this.drainer.draining },
    ];
  }

  static async start(cfg: ProxyConfig, deps: ProxyDeps = {}): Promise<Proxy> {
    const env = deps.env ?? process.env;
    const clock = deps.clock ?? systemClock;
    const metrics = new Metrics({ processMetrics: deps.processMetrics, eventLoopResolutionMs: cfg.eventLoopLagResolutionMs });
    const log = createLogger(cfg.logLevel, deps.logStream);
    const policySource = new PolicySource({ file: cfg.policyFile, defaults: cfg.policyDefaults, overlay: cfg.policyOverlay, log, metrics });
    const policy = await policySource.load(); // invalid at start: fatal, with every problem listed
    // Node.js internals (sidecar/src/protocol/http1/llhttp.ts): proven on this runtime before any connection.
    const parser = await checkParser(cfg.http1Parser);
    const fast = await checkFastPath(cfg.http1FastPath);
    metrics.http1Parser.labels('llhttp').set(parser.parser === 'llhttp' ? 1 : 0);
    metrics.http1Parser.labels('http-parser-js').set(parser.parser === 'http-parser-js' ? 1 : 0);
    metrics.http1FastPath.set(fast.inUse ? 1 : 0);
    if (parser.parser !== 'llhttp')
      log.warn(
        { reason: parser.reason, node: process.version },
        'HTTP/1.1 parser fallback: http-parser-js instead of llhttp, sockets read through stream events (slower)',
      );
    else if (!fast.inUse)
      log.warn({ reason: fast.reason, node: process.version }, 'HTTP/1.1 fast path off: sockets are read through stream events (slower)');
    const probes = parseAppProbes(cfg.appProbes);
    const tracingCfg = tracingEnv(env, cfg.service);
    // The SDK is only loaded when tracing is on: off costs nothing.
    const tracing =
      tracingCfg === undefined
        ? undefined
        : await (await import('./telemetry/tracing.js')).Tracing.create(tracingCfg, metrics, SIDEGATE_VERSION);
    // ioredis is loaded only by sidecars that use Redis (~18 MB of RSS otherwise).
    const redis =
      cfg.redisUrl === undefined
        ? undefined
        : (await import('./redis/connection.js')).RedisConnection.create(loadRedisConfig(cfg.redisUrl, env), {
            metrics,
            logger: log,
            clock,
            budgetMs: cfg.redisTimeoutMs,
            connectionName: `sidegate/${cfg.podName || cfg.service}`,
          });
    const identity = { namespace: cfg.namespace, service: cfg.service };
    // The durable revocation list: decides locally on every request, and is copied into Redis
    // whenever Redis lost it (restart without persistence, FLUSHALL) or the list changed.
    const ref: { self?: Proxy } = {};
    const revocations = new RevocationSource({
      file: cfg.revocationsFile,
      log,
      clock,
      onChange: () => {
        void ref.self?.s.seeder?.kick();
      },
    });
    await revocations.load();
    const seeder =
      redis === undefined || cfg.revocationsFile === undefined
        ? undefined
        : new RevocationSeeder({
            redis,
            list: () => revocations.list,
            namespace: cfg.namespace,
            clock,
            log,
            intervalMs: cfg.revocationsReseedMs,
          });
    metrics.revocationState = () => ({
      counts: revocations.list.counts(clock.now()),
      problems: revocations.problems.length,
      fileAge: revocations.ageSeconds(),
      redisAge: seeder?.ageSeconds(),
    });
    const s: Services = {
      config: cfg,
      metrics,
      log,
      clock,
      random: deps.random ?? Math.random,
      tracing,
      redis,
      auth: new AuthRuntime({
        metrics,
        logger: log,
        clock,
        revocation: redis === undefined ? undefined : new ConnectionRevocationStore(redis),
        revocations,
      }),
      limiter: new RateLimiter({
        redis,
        identity,
        metrics,
        logger: log,
        clock,
        fallbackReplicas: cfg.replicas,
        // Hot keys spend leased capacity locally; cold keys stay exact (issue 10, docs/benchmarks.md).
        lease:
          cfg.rateLimitLeasePeriodMs > 0
            ? { periodMs: cfg.rateLimitLeasePeriodMs, maxPeriodMs: cfg.rateLimitLeaseMaxPeriodMs, recorder: metricsLeaseRecorder(metrics) }
            : undefined,
        podId: cfg.podName === '' ? undefined : `${cfg.podName}/${process.pid}`,
      }),
      breakers: new BreakerRegistry({ metrics, clock, random: deps.random ?? Math.random, log }),
      maintenance: new MaintenanceNotice({ log, metrics, clock }),
      revocations,
      seeder,
    };

    // The fronts and the admin server call back into the proxy, which needs them to exist first.
    const tls =
      cfg.tlsCert !== undefined && cfg.tlsKey !== undefined
        ? { cert: readFileSync(cfg.tlsCert), key: readFileSync(cfg.tlsKey) }
        : undefined;
    const listener = new InboundListener(
      {
        host: cfg.listen.host,
        port: cfg.listen.port,
        tls,
        maxHeaderSize: cfg.maxHeaderSize,
        headersTimeoutMs: cfg.headersTimeoutMs,
        requestTimeoutMs: cfg.requestTimeoutMs,
        idleTimeoutMs: cfg.idleTimeoutMs,
        maxConcurrentStreams: cfg.maxConcurrentStreams,
        metrics,
        log,
      },
      {
        scheme: tls ? 'https' : 'http',
        clock,
        draining: () => ref.self?.drainer.stopping ?? false,
        dispatch: (ex) => ref.self!.dispatch(ex),
      },
    );
    const admin = new AdminServer({
      host: cfg.admin.host,
      port: cfg.admin.port,
      metrics,
      log,
      probes,
      checks: () => ref.self?.checks ?? [],
      drain: (delay) => {
        void ref.self?.shutdown(delay);
      },
      views: new Map<string, () => unknown>([
        ['/breaker', () => s.breakers.view()],
        [
          '/policy',
          () => ({
            name: policySource.policy?.name ?? null,
            version: policySource.policy?.version ?? null,
            upstream: ref.self?.upstream.origin,
            maintenance: policySource.policy?.maintenance?.enabled === true,
          }),
        ],
      ]),
      debugViews: new Map([
        ['/debug/revocations', () => revocationsView(revocations, seeder, clock.now())],
        [
          '/debug/policy',
          () =>
            debugPolicy(policySource.policy, {
              file: cfg.policyFile,
              defaults: (cfg.policyDefaults ?? '').trim() !== '',
              overlay: (cfg.policyOverlay ?? '').trim() !== '',
            }),
        ],
      ]),
    });
    const self = new Proxy(s, policySource, listener, admin, policy);
    ref.self = self;
    // Keys are fetched before the port opens; readiness stays false until every provider has some.
    // Without a policy yet (its file does not exist), every request is refused as not ready.
    self.handler = policy === undefined ? buildWaiting(self.pipelineServices()) : await self.build(policy);
    s.maintenance.update(policy);
    self.inboundAddr = await listener.listen();
    self.adminAddr = await admin.listen();
    policySource.watch((p) => {
      self.reloads = self.reloads.then(() => self.onPolicy(p));
    });
    revocations.watch();
    seeder?.start();
    metrics.ready.set(1);
    log.info(
      {
        listen: self.inboundAddr,
        admin: self.adminAddr,
        upstream: self.upstream.origin,
        policy: policy?.name ?? null,
        version: policy?.version ?? null,
      },
      'sidegate proxy started',
    );
    return self;
  }

  get port(): number {
    return this.inboundAddr?.port ?? 0;
  }
  get adminPort(): number {
    return this.adminAddr?.port ?? 0;
  }
  get ready(): boolean {
    return this.checks.every((c) => c.ready());
  }
  get policy(): CompiledPolicy | undefined {
    return this.policySource.policy;
  }
  get log(): Logger {
    return this.s.log;
  }
  get metrics(): Metrics {
    return this.s.metrics;
  }
  get breakers(): BreakerRegistry {
    return this.s.breakers;
  }
  get revocations(): RevocationSource {
    return this.s.revocations;
  }
  get seeder(): RevocationSeeder | undefined {
    return this.s.seeder;
  }

  /** The telemetry stage answers for every exchange (it catches what `respond` could not). */
  private dispatch(ex: Exchange): void {
    this.handler(ex).catch(this.unexpected);
  }

  private readonly unexpected = (err: unknown): void => {
    this.s.log.error({ err }, 'pipeline failed outside any exchange');
  };

  private createUpstream(policy: CompiledPolicy | undefined): Upstream {
    const { config, clock, metrics } = this.s;
    const origin = `http://${config.upstream.host}`;
    return upstreamProtocol(config, policy) === 'h2c' ? new H2cUpstream(origin, clock, metrics) : new Http1Upstream(origin, clock, metrics);
  }

  private pipelineServices(): PipelineServices {
    const { s } = this;
    return {
      metrics: s.metrics,
      log: s.log,
      clock: s.clock,
      random: s.random,
      logHeaders: s.config.logHeaders,
      tracing: s.tracing,
      limiter: s.limiter,
      identity: { namespace: s.config.namespace, service: s.config.service },
      breaker: { registry: s.breakers, upstream: s.config.upstream.host },
      forward: forward(this.upstream, s.clock, s.metrics, s.tracing),
    };
  }

  private async build(policy: CompiledPolicy): Promise<Handler> {
    const auth = await authStages(this.s.auth, policy);
    return buildPipeline(policy, this.pipelineServices(), auth);
  }

  private async onPolicy(policy: CompiledPolicy): Promise<void> {
    const wanted = upstreamProtocol(this.s.config, policy);
    const have = this.upstream instanceof H2cUpstream ? 'h2c' : 'http1';
    if (wanted !== have) {
      const old = this.upstream;
      this.upstream = this.createUpstream(policy);
      setTimeout(() => {
        void old.close();
      }, this.s.config.drainTimeoutMs).unref();
    }
    this.handler = await this.build(policy);
    this.s.maintenance.update(policy);
  }

  /**
   * Graceful shutdown: drain (with the configured delay unless `withDelay` is false), then close
   * upstream pools, Redis, key fetching, tracing and the admin server. Resolves when all is closed.
   */
  shutdown(withDelay = true): Promise<{ forced: boolean }> {
    this.shutdownDone ??= this.runShutdown(withDelay).then((r) => {
      this.onShutdown?.(r);
      return r;
    });
    return this.shutdownDone;
  }

  /** Settles when a shutdown, however it was started (signal, /drain, /quitquitquit), has finished. */
  whenShutDown(): Promise<{ forced: boolean }> {
    return this.shutDown;
  }

  private async runShutdown(withDelay: boolean): Promise<{ forced: boolean }> {
    const { s } = this;
    s.metrics.ready.set(0);
    s.metrics.draining.set(1);
    s.log.info({ delay_ms: withDelay ? s.config.drainDelayMs : 0, timeout_ms: s.config.drainTimeoutMs }, 'draining');
    const r = await this.drainer.start(withDelay);
    this.policySource.close();
    s.revocations.close();
    s.seeder?.close();
    s.maintenance.close();
    s.auth.close();
    await Promise.allSettled([this.upstream.close(), this.admin.close(), s.tracing?.shutdown(), s.limiter.close()]);
    await s.redis?.close();
    s.metrics.close();
    s.log.info({ forced: r.forced }, 'drained');
    await new Promise<void>((resolve) => s.log.flush(() => resolve()));
    return r;
  }
}
