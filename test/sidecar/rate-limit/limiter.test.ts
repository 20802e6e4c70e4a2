import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { RateLimiter } from '../../../sidecar/src/stages/rate-limit/limiter.js';
import { limitSpec } from '../../../sidecar/src/stages/rate-limit/types.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { captureLogger, limit } from './fixtures.js';

void t.test('without Redis: each limit decides by onRedisError, local shares use the configured replica count', async (t) => {
  const clock = new ManualClock();
  const metrics = new Metrics({ processMetrics: false });
  const logger = captureLogger();
  const limiter = new RateLimiter({
    redis: undefined,
    identity: { namespace: 'ns', service: 'svc' },
    metrics,
    logger,
    clock,
    fallbackReplicas: 4,
  });
  t.teardown(() => limiter.close());
  t.equal(limiter.degraded, true);
  t.equal((await metrics.rateLimitFallback.get()).values[0]?.value, 1, 'fallback gauge set');
  t.ok(
    logger.lines.some((l) => l.level === 'warn' && /no Redis configured/.test(l.msg)),
    'said so at warn',
  );
  t.equal(limiter.livePods(), 4);
  const item = (name: string, onRedisError: 'allow' | 'deny' | 'local') => ({
    key: name,
    tag: name,
    spec: limitSpec(limit({ name, requests: 40, perMs: 1000, onRedisError })),
  });
  const [allow, deny] = await limiter.decide([item('a', 'allow'), item('d', 'deny')]);
  t.equal(allow?.outcome, 'allowed');
  t.equal(deny?.outcome, 'unavailable');
  let admitted = 0;
  for (let i = 0; i < 100; i++) if ((await limiter.decide([item('l', 'local')]))[0]?.outcome === 'allowed') admitted++;
  t.equal(admitted, 10, '40/s over 4 replicas: a full share of 10 at once');
  clock.advance(1000);
  admitted = 0;
  for (let i = 0; i < 100; i++) if ((await limiter.decide([item('l', 'local')]))[0]?.outcome === 'allowed') admitted++;
  t.equal(admitted, 10, 'and 10 per second after that');
});
