import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import type { CompiledPolicy, UpstreamProtocol } from '../../policies/src/types.js';
import { AdminServer, type ReadinessCheck } from './admin/server.js';
import { parseAppProbes } from './admin/probes.js';
import { systemClock, type Clock } from './clock.js';
import type { ProxyConfig } from './config.js';
import type { Exchange } from './exchange.js';
import { Drainer } from './lifecycle/drain.js';
import { buildPipeline } from './pipeline/build.js';
import type { Handler } from './pipeline/stage.js';
import { PolicySource } from './policy/source.js';
import { InboundListener } from './server/listener.js';
import { forward } from './stages/forward.js';
import { createLogger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import type { Tracing } from './telemetry/tracing.js';
import { tracingConfigFromEnv } from './telemetry/tracing-config.js';
import { H2cUpstream } from './upstream/h2c.js';
import { Http1Upstream } from './upstream/http1.js';
import type { Upstream } from './upstream/upstream.js';
import { BreakerRegistry } from './stages/breaker/index.js';

/** Reported in traces (service.version) and logs. */
export const SIDEGATE_VERSION = '0.1.0';

export interface ProxyDeps {
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Where JSON log lines go (tests capture them); stdout by default. */
  readonly logStream?: DestinationStream;
  /** Process metrics (CPU, memory, event loop) on /metrics; off in tests that start many proxies. */
  readonly processMetrics?: boolean;
  /** OTEL_* variables (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
}

function upstreamProtocol(cfg: ProxyConfig, policy: CompiledPolicy): UpstreamProtocol {
  return policy.upstream.protocol ?? (cfg.upstream.protocol === 'h2c:' ? 'h2c' : 'http1');
}

/**
 * The sidecar assembled: inbound listener → pipeline (rebuilt per policy version) → app, plus
 * the admin server, policy reloads and drain. Start with `Proxy.start()`.
 */
export class Proxy {
  private handler: Handler;
  private upstream: Upstream;
  private inflight = 0;
  private readonly drainer: Drainer;
  private inboundAddr: AddressInfo | undefined;
  private adminAddr: AddressInfo | undefined;
  private readonly checks: ReadinessCheck[];
  readonly breakers: BreakerRegistry;
  private shutdownDone: Promise<{ forced: boolean }> | undefined;
  private onShutdown: ((r: { forced: boolean }) => void) | undefined;
  private readonly shutDown = new Promise<{ forced: boolean }>((resolve) => { this.onShutdown = resolve; });

  private constructor(
    readonly config: ProxyConfig,
    readonly metrics: Metrics,
    readonly log: Logger,
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly policySource: PolicySource,
    private readonly listener: InboundListener,
    private readonly admin: AdminServer,
    policy: CompiledPolicy,
    private readonly tracing: Tracing | undefined,
  ) {
    this.upstream = this.createUpstream(policy);
    this.breakers = new BreakerRegistry({ metrics, clock, random, log });
    this.handler = this.build(policy);
    this.drainer = new Drainer({
      stopAccepting: () => { void listener.stopAccepting(); },
      closeIdle: () => listener.closeIdle(),
      busy: () => ({ inflight: this.inflight, connections: listener.openConnections }),
      destroyAll: () => listener.destroyAll(),
    }, config.drainDelayMs, config.drainTimeoutMs);
    this.checks = [
      { name: 'policy', ready: () => true },
      { name: 'draining', ready: () => !this.drainer.draining },
    ];
  }

  static async start(cfg: ProxyConfig, deps: ProxyDeps = {}): Promise<Proxy> {
    const clock = deps.clock ?? systemClock;
    const metrics = new Metrics({ processMetrics: deps.processMetrics });
    const log = createLogger(cfg.logLevel, deps.logStream);
    const policySource = new PolicySource({ file: cfg.policyFile, defaults: cfg.policyDefaults, overlay: cfg.policyOverlay, log, metrics });
    const policy = await policySource.load(); // invalid at start: fatal, with every problem listed
    const tracingCfg = tracingConfigFromEnv(deps.env ?? process.env, cfg.service);
    // The SDK is only loaded when tracing is on: off costs nothing.
    const tracing = tracingCfg.exporter === 'none' ? undefined
      : await (await import('./telemetry/tracing.js')).Tracing.create(tracingCfg, metrics, SIDEGATE_VERSION);
    const probes = parseAppProbes(cfg.appProbes);
    // The fronts and the admin server call back into the proxy, which needs them to exist first.
    const ref: { self?: Proxy } = {};
    const tls = cfg.tlsCert !== undefined && cfg.tlsKey !== undefined
      ? { cert: readFileSync(cfg.tlsCert), key: readFileSync(cfg.tlsKey) } : undefined;
    const listener = new InboundListener({
      host: cfg.listen.host, port: cfg.listen.port, tls,
      maxHeaderSize: cfg.maxHeaderSize, headersTimeoutMs: cfg.headersTimeoutMs, requestTimeoutMs: cfg.requestTimeoutMs,
      idleTimeoutMs: cfg.idleTimeoutMs, maxConcurrentStreams: cfg.maxConcurrentStreams, metrics, log,
    }, {
      scheme: tls ? 'https' : 'http',
      clock,
      draining: () => ref.self?.drainer.stopping ?? false,
      dispatch: (ex) => ref.self!.dispatch(ex),
    });
    const admin = new AdminServer({
      host: cfg.admin.host, port: cfg.admin.port, metrics, log, probes,
      checks: () => ref.self?.checks ?? [],
      drain: (delay) => { void ref.self?.shutdown(delay); },
      views: new Map<string, () => unknown>([
        ['/breaker', () => ref.self?.breakers.view() ?? { upstreams: [] }],
        ['/policy', () => ({ name: policySource.policy.name, version: policySource.policy.version, upstream: ref.self?.upstream.origin })],
      ]),
    });
    const self = new Proxy(cfg, metrics, log, clock, deps.random ?? Math.random, policySource, listener, admin, policy, tracing);
    ref.self = self;
    self.inboundAddr = await listener.listen();
    self.adminAddr = await admin.listen();
    policySource.watch((p) => self.onPolicy(p));
    metrics.ready.set(1);
    log.info({ listen: self.inboundAddr, admin: self.adminAddr, upstream: self.upstream.origin, policy: policy.name, version: policy.version }, 'sidegate proxy ready');
    return self;
  }

  get port(): number { return this.inboundAddr?.port ?? 0; }
  get adminPort(): number { return this.adminAddr?.port ?? 0; }
  get ready(): boolean { return this.checks.every((c) => c.ready()); }
  get policy(): CompiledPolicy { return this.policySource.policy; }

  private dispatch(ex: Exchange): void {
    this.inflight++;
    this.handler(ex).catch((err: unknown) => {
      this.log.error({ err, request_id: ex.requestId }, 'pipeline failed');
      if (!ex.sink.closed) ex.sink.abort();
    }).finally(() => { this.inflight--; });
  }

  private createUpstream(policy: CompiledPolicy): Upstream {
    const origin = `http://${this.config.upstream.host}`;
    return upstreamProtocol(this.config, policy) === 'h2c'
      ? new H2cUpstream(origin, this.clock, this.metrics)
      : new Http1Upstream(origin, this.clock, this.metrics);
  }

  private build(policy: CompiledPolicy): Handler {
    return buildPipeline(policy, {
      metrics: this.metrics, log: this.log, clock: this.clock, random: this.random,
      logHeaders: this.config.logHeaders, tracing: this.tracing,
      breaker: { registry: this.breakers, upstream: this.config.upstream.host }, forward: forward(this.upstream, this.clock, this.metrics, this.tracing),
    });
  }

  private onPolicy(policy: CompiledPolicy): void {
    const wanted = upstreamProtocol(this.config, policy);
    const have = this.upstream instanceof H2cUpstream ? 'h2c' : 'http1';
    if (wanted !== have) {
      const old = this.upstream;
      this.upstream = this.createUpstream(policy);
      setTimeout(() => { void old.close(); }, this.config.drainTimeoutMs).unref();
    }
    this.handler = this.build(policy);
  }

  /**
   * Graceful shutdown: drain (with the configured delay unless `withDelay` is false), then close
   * the upstream pools and the admin server. Resolves when everything is closed.
   */
  shutdown(withDelay = true): Promise<{ forced: boolean }> {
    this.shutdownDone ??= this.runShutdown(withDelay).then((r) => { this.onShutdown?.(r); return r; });
    return this.shutdownDone;
  }

  /** Settles when a shutdown, however it was started (signal, /drain, /quitquitquit), has finished. */
  whenShutDown(): Promise<{ forced: boolean }> { return this.shutDown; }

  private async runShutdown(withDelay: boolean): Promise<{ forced: boolean }> {
    {
      this.metrics.ready.set(0);
      this.metrics.draining.set(1);
      this.log.info({ delay_ms: withDelay ? this.config.drainDelayMs : 0, timeout_ms: this.config.drainTimeoutMs }, 'draining');
    }
    const r = await this.drainer.start(withDelay);
    this.policySource.close();
    await Promise.allSettled([this.upstream.close(), this.admin.close(), this.tracing?.shutdown()]);
    this.log.info({ forced: r.forced }, 'drained');
    await new Promise<void>((resolve) => this.log.flush(() => resolve()));
    return r;
  }
}
