import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { SidecarError } from '../../../sidecar/src/errors.js';
import { exchange, limit, matcher } from './fixtures.js';
import { HOUR, leasePod } from './lease-fixtures.js';
import { counter } from './redis-fixtures.js';

/**
 * Redis goes away (SIGKILL) while a pod holds a lease: the slots Redis already granted are still
 * spent — exact decisions, source "lease" — and only once they run out does the limit's
 * onRedisError decide. A request that the leases cannot decide entirely falls back as a whole and
 * spends nothing from them.
 */
void t.test('with Redis down, a pod spends the lease it holds, then falls back to onRedisError', async (t) => {
  const redis = await RedisProcess.start();
  const clock = new ManualClock();
  // One pod and a fixed 10-minute period: 60 per hour gives leases of 10.
  const a = await leasePod(redis.url, clock, 1, { maxPeriodMs: 600_000 });
  t.teardown(async () => {
    await a.close();
    await redis.stop();
  });
  const hot = limit({ name: 'hot', requests: 60, perMs: HOUR, onRedisError: 'deny', match: matcher(['/api/']) });
  const cold = limit({
    name: 'cold',
    requests: 60,
    perMs: HOUR,
    onRedisError: 'deny',
    match: matcher(['/api/both/']),
    key: [{ kind: 'claim', name: 'sub' }],
  });
  const limits = [hot, cold];
  for (let i = 0; i < 3; i++) t.equal(await a.run(limits), 'ok');
  await a.store.settled();
  t.same(
    a.store.snapshot().map((s) => [s.granted, s.spent, s.next]),
    [[10, 3, 0]],
    'a lease of 10, 3 spent',
  );

  await redis.kill();
  for (let i = 0; i < 200 && a.conn.available; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(a.conn.available, false, 'the Redis breaker is open');

  // A request the leases cannot decide entirely (its `cold` key has no lease) falls back as a whole.
  const both = await a.run(limits, exchange({ path: '/api/both/x', claims: { sub: 'u1' } }));
  t.ok(both instanceof SidecarError && both.status === 503, 'cold limit: onRedisError deny');
  t.equal(a.store.snapshot()[0]!.spent, 3, "and nothing was spent from the hot key's lease for it");

  const results: string[] = [];
  for (let i = 0; i < 10; i++) {
    const ex = exchange();
    const r = await a.run(limits, ex);
    results.push(r === 'ok' ? `ok:${String(ex.notes?.ratelimit_source)}` : String(r.status));
  }
  t.same(results, [...Array<string>(7).fill('ok:lease'), '503', '503', '503'], 'the 7 unspent slots, then onRedisError deny');
  t.equal(
    await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'hot', result: 'allowed', source: 'lease' }),
    9,
    'counted as lease decisions (2 before the outage, 7 during)',
  );
  t.equal(
    await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'hot', result: 'unavailable', source: 'fallback' }),
    4,
    'and the fallback ones as such (the 3, and the request with the cold key)',
  );
});
