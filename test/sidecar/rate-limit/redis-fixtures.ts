import { Redis } from 'ioredis';
import type { Clock } from '../../../sidecar/src/clock.js';
import { systemClock } from '../../../sidecar/src/clock.js';
import { RedisConnection } from '../../../sidecar/src/redis/connection.js';
import { loadRedisConfig } from '../../../sidecar/src/redis/config.js';
import type { RateLimitPolicy } from '../../../policies/src/types.js';
import { rateLimit } from '../../../sidecar/src/stages/rate-limit/stage.js';
import type { RateLimitDeps } from '../../../sidecar/src/stages/rate-limit/stage.js';
import { RateLimiter } from '../../../sidecar/src/stages/rate-limit/limiter.js';
import type { RateLimiterOptions } from '../../../sidecar/src/stages/rate-limit/limiter.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import type { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import type { SidecarError } from '../../../sidecar/src/errors.js';
import { captureLogger, forwardOnce, judged } from './fixtures.js';

/** A plain client for looking at what the sidecar did in Redis (never the one under test). */
export function inspector(url: string): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** `calls` of one command from INFO commandstats (0 if never called). */
export async function commandCalls(r: Redis, cmd: string): Promise<number> {
  const info = await r.info('commandstats');
  const m = new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

/** Resolves once the connection's breaker is closed (connected and probed). */
export async function waitAvailable(conn: RedisConnection, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!conn.available) {
    if (Date.now() > deadline) throw new Error('redis connection did not become available');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Rig {
  readonly conn: RedisConnection;
  readonly limiter: RateLimiter;
  readonly metrics: Metrics;
  readonly logger: ReturnType<typeof captureLogger>;
  /** Run one exchange through a fresh stage over `limits`; resolves to 'ok' or the thrown SidecarError. */
  stage(limits: readonly RateLimitPolicy[], extra?: Partial<RateLimitDeps>): (ex: Exchange) => Promise<'ok' | SidecarError>;
  close(): Promise<void>;
}

export async function rig(
  url: string,
  opts: { budgetMs?: number; clock?: Clock; limiter?: Partial<RateLimiterOptions> } = {},
): Promise<Rig> {
  const metrics = new Metrics({ processMetrics: false });
  const logger = captureLogger();
  const clock = opts.clock ?? systemClock;
  const conn = RedisConnection.create(loadRedisConfig(url, {}), { metrics, logger, clock: systemClock, budgetMs: opts.budgetMs ?? 100 });
  await waitAvailable(conn);
  const identity = { namespace: 'ns', service: 'svc' };
  const limiter = new RateLimiter({ redis: conn, identity, metrics, logger, clock: systemClock, heartbeat: false, ...opts.limiter });
  return {
    conn,
    limiter,
    metrics,
    logger,
    stage(limits, extra = {}) {
      const h = rateLimit(limits, { limiter, metrics, logger, clock, identity, trustedHops: 0, ...extra })(forwardOnce);
      return (ex) => judged(h, ex);
    },
    async close() {
      await limiter.close();
      await conn.close();
    },
  };
}

/** Value of one counter child, by labels. */
export async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
