import { type Duplex, Readable, Writable } from 'node:stream';
import { compilePolicy } from '../../../policies/src/compile.js';
import type { CompiledPolicy } from '../../../policies/src/types.js';
import type { Clock } from '../../../sidecar/src/clock.js';
import { Exchange, type ResponseSink, type UpgradeOffer } from '../../../sidecar/src/protocol/exchange.js';
import type { Handler } from '../../../sidecar/src/pipeline/stage.js';
import { compose } from '../../../sidecar/src/pipeline/stage.js';
import { InboundListener } from '../../../sidecar/src/inbound/listener.js';
import { breaker, BreakerRegistry, type RetryOptions } from '../../../sidecar/src/stages/breaker/index.js';
import { forward } from '../../../sidecar/src/stages/forward.js';
import { respond } from '../../../sidecar/src/stages/respond/index.js';
import { route } from '../../../sidecar/src/stages/route/index.js';
import { telemetry } from '../../../sidecar/src/stages/telemetry/index.js';
import { createLogger } from '../../../sidecar/src/telemetry/logger.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { Http1Upstream } from '../../../sidecar/src/upstream/http1.js';

/** Compile a policy `spec` (plain object, as in a policy file); throws with every problem. */
export function policyOf(spec: Record<string, unknown>): CompiledPolicy {
  const r = compilePolicy({ apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'breaker-test' }, spec });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return r.policy;
}

export interface MiniSidecar {
  readonly url: string;
  readonly metrics: Metrics;
  readonly registry: BreakerRegistry;
  readonly logs: Record<string, unknown>[];
  /** Rebuild the pipeline for a new policy version, as the proxy does on reload. */
  reload(policy: CompiledPolicy): void;
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

export const UPSTREAM = 'app';

/**
 * A real sidecar data path without the proxy assembly: the real inbound listener, then
 * telemetry → respond → route → breaker → forward (the real undici upstream) → the app. This is
 * the order build.ts uses; auth and rate limits are left out because they are not under test.
 */
export async function miniSidecar(
  appUrl: string,
  policy: CompiledPolicy,
  opts: { clock: Clock; retry?: RetryOptions; sleep?: (ms: number) => Promise<void>; random?: () => number },
): Promise<MiniSidecar> {
  const { clock } = opts;
  const random = opts.random ?? (() => 0.5);
  const metrics = new Metrics({ processMetrics: false });
  const logs: Record<string, unknown>[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const registry = new BreakerRegistry({ metrics, clock, random, log });
  const upstream = new Http1Upstream(appUrl, clock, metrics);
  const inner = forward(upstream, clock, metrics);
  const build = (p: CompiledPolicy): Handler =>
    compose(
      [
        telemetry(p.logging, { metrics, log, clock, random: () => 0, logHeaders: false }),
        respond,
        route(p),
        breaker(p, { registry, upstream: UPSTREAM, retry: opts.retry, sleep: opts.sleep }),
      ],
      inner,
    );
  let handler = build(policy);
  const listener = new InboundListener(
    {
      host: '127.0.0.1',
      port: 0,
      tls: undefined,
      maxHeaderSize: 16384,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
      maxConcurrentStreams: 1000,
      metrics,
      log,
    },
    {
      scheme: 'http',
      clock,
      draining: () => false,
      dispatch: (ex) => {
        void handler(ex);
      },
    },
  );
  const addr = await listener.listen();
  return {
    url: `http://127.0.0.1:${addr.port}`,
    metrics,
    registry,
    logs,
    reload: (p) => {
      handler = build(p);
    },
    metricsText: () => metrics.registry.metrics(),
    close: async () => {
      await listener.stopAccepting();
      listener.destroyAll();
      await upstream.close();
    },
  };
}

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('}');
    const got = line.slice(name.length + 1, close).split(',');
    if (want.every((w) => got.includes(w)) && got.length === want.length) return Number(line.slice(close + 2));
  }
  return undefined;
}

/** An exchange for stage-level tests that need no sockets: a sink that records nothing. */
export function fakeExchange(opts: { method?: string; hasBody?: boolean; upgrade?: boolean; closed?: boolean } = {}): Exchange {
  const sink: ResponseSink = {
    headersSent: false,
    closed: opts.closed ?? false,
    bytesOut: 0,
    writeHead: () => undefined,
    write: () => true,
    onDrain: () => undefined,
    end: () => undefined,
    abort: () => undefined,
    onClose: () => undefined,
  };
  const upgrade: UpgradeOffer | undefined =
    opts.upgrade === true
      ? { protocols: 'websocket', takeOver: () => ({ socket: new Writable() as unknown as Duplex, head: Buffer.alloc(0) }) }
      : undefined;
  const ex = Exchange.create(
    'http/1.1',
    opts.method ?? 'GET',
    '/x',
    'app',
    'http',
    {},
    '10.0.0.1',
    Readable.from([]),
    opts.hasBody ?? false,
    sink,
    'req-1',
    0,
  );
  ex.upgrade = upgrade;
  return ex;
}
