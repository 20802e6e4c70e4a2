import { systemClock, type Clock } from '../../../sidecar/src/clock.js';
import type { SidecarError } from '../../../sidecar/src/errors.js';
import type { RateLimitPolicy } from '../../../policies/src/types.js';
import { loadRedisConfig } from '../../../sidecar/src/redis/config.js';
import { RedisConnection } from '../../../sidecar/src/redis/connection.js';
import { CountingLeaseRecorder } from '../../../sidecar/src/stages/rate-limit/lease/recorder.js';
import { LeasingStore } from '../../../sidecar/src/stages/rate-limit/lease/store.js';
import type { LeaseOptions } from '../../../sidecar/src/stages/rate-limit/lease/store.js';
import { RateLimiter } from '../../../sidecar/src/stages/rate-limit/limiter.js';
import { RedisRateStore } from '../../../sidecar/src/stages/rate-limit/redis-store.js';
import { rateLimit } from '../../../sidecar/src/stages/rate-limit/stage.js';
import type { RateLimitDeps } from '../../../sidecar/src/stages/rate-limit/stage.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { captureLogger, exchange, forwardOnce, judged } from './fixtures.js';
import { waitAvailable } from './redis-fixtures.js';

export const HOUR = 3_600_000;
const identity = { namespace: 'ns', service: 'svc' };

/**
 * One in-process "pod" with leasing on: its own connection, LeasingStore, limiter and stages. The
 * (shortest) lease period is 10 minutes so that keys refilling 60 per hour are hot (a lease carries
 * 10), and the seconds a test takes on Redis' own clock change no count. `options` override the
 * store's lease options.
 */
export interface Pod {
  readonly conn: RedisConnection;
  readonly store: LeasingStore;
  readonly recorder: CountingLeaseRecorder;
  readonly metrics: Metrics;
  run(limits: readonly RateLimitPolicy[], ex?: ReturnType<typeof exchange>, extra?: Partial<RateLimitDeps>): Promise<'ok' | SidecarError>;
  /** Leave gracefully: leases given back. */
  close(): Promise<void>;
}

export async function leasePod(url: string, clock: Clock, pods = 2, options: LeaseOptions = {}): Promise<Pod> {
  const metrics = new Metrics({ processMetrics: false });
  const logger = captureLogger();
  // The connection's budgets run on real time: the pods' manual clock moves by hours between calls.
  const conn = RedisConnection.create(loadRedisConfig(url, {}), { metrics, logger, clock: systemClock, budgetMs: 1000 });
  await waitAvailable(conn);
  const recorder = new CountingLeaseRecorder();
  const store = new LeasingStore({
    conn,
    exact: new RedisRateStore(conn),
    clock,
    pods: () => pods,
    periodMs: 600_000,
    recorder,
    sweepMs: HOUR,
    ...options,
  });
  const limiter = new RateLimiter({ redis: conn, identity, metrics, logger, clock, heartbeat: false, store });
  const stages = new Map<readonly RateLimitPolicy[], ReturnType<ReturnType<typeof rateLimit>>>();
  return {
    conn,
    store,
    recorder,
    metrics,
    async run(limits, ex = exchange(), extra = {}) {
      let h = stages.get(limits);
      if (!h) {
        h = rateLimit(limits, { limiter, metrics, logger, clock, identity, trustedHops: 0, ...extra })(forwardOnce);
        stages.set(limits, h);
      }
      return judged(h, ex);
    },
    async close() {
      await limiter.close();
      await conn.close();
    },
  };
}
