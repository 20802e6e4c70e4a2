import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { systemClock } from '../../../sidecar/src/clock.js';
import { RedisConnection } from '../../../sidecar/src/redis/connection.js';
import { PodHeartbeat, heartbeatKey } from '../../../sidecar/src/redis/heartbeat.js';
import { loadRedisConfig } from '../../../sidecar/src/redis/config.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { captureLogger, sleep } from '../rate-limit/fixtures.js';
import { inspector, waitAvailable } from '../rate-limit/redis-fixtures.js';

void t.test('live pods: each heartbeat counts, a silent pod ages out, a leaving pod drops at once', async (t) => {
  const redis = await RedisProcess.start();
  const conns = Array.from({ length: 3 }, () =>
    RedisConnection.create(loadRedisConfig(redis.url, {}), {
      metrics: new Metrics({ processMetrics: false }),
      logger: captureLogger(),
      clock: systemClock,
      budgetMs: 50,
    }),
  );
  const look = inspector(redis.url);
  t.teardown(async () => {
    for (const c of conns) await c.close();
    look.disconnect();
    await redis.stop();
  });
  for (const c of conns) await waitAvailable(c);
  const beats = conns.map((c, i) => new PodHeartbeat(c, { group: 'ns/svc', member: `pod-${i}`, intervalMs: 100, ttlMs: 300 }));
  for (const b of beats) await b.beat();
  await beats[0]!.beat();
  t.equal(beats[0]!.livePods(), 3);
  t.ok((await look.pttl(heartbeatKey('ns/svc'))) <= 300, 'the set expires when everyone goes quiet');
  // pod-2 goes silent (crash: no goodbye); pod-1 leaves cleanly.
  await beats[1]!.stop();
  await beats[0]!.beat();
  t.equal(beats[0]!.livePods(), 2, 'a clean leave counts at once');
  // pod-2's last beat, moved back past the TTL on Redis' clock (the one the script reads) instead
  // of waiting for it to get that old.
  const [sec, usec] = await look.time();
  await look.zadd(heartbeatKey('ns/svc'), Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - 301, 'pod-2');
  await beats[0]!.beat();
  t.equal(beats[0]!.livePods(), 1, 'a silent pod ages out after the TTL');
  t.same(await look.zrange(heartbeatKey('ns/svc'), '0', '-1'), ['pod-0']);
});

void t.test('after Redis comes back empty, a pod that beats first does not believe it is alone', async (t) => {
  const redis = await RedisProcess.start();
  const mk = () =>
    RedisConnection.create(loadRedisConfig(redis.url, {}), {
      metrics: new Metrics({ processMetrics: false }),
      logger: captureLogger(),
      clock: systemClock,
      budgetMs: 50,
    });
  const [ca, cb] = [mk(), mk()];
  const look = inspector(redis.url);
  t.teardown(async () => {
    await ca.close();
    await cb.close();
    look.disconnect();
    await redis.stop();
  });
  await waitAvailable(ca);
  await waitAvailable(cb);
  const a = new PodHeartbeat(ca, { group: 'ns/svc', member: 'a', intervalMs: 60_000, ttlMs: 180_000 });
  const b = new PodHeartbeat(cb, { group: 'ns/svc', member: 'b', intervalMs: 60_000, ttlMs: 180_000 });
  await a.beat();
  await b.beat();
  await a.beat();
  t.equal(a.livePods(), 2);
  // b stands for a pod elsewhere whose next beat has not come yet.
  await cb.close();
  await redis.kill();
  await sleep(100);
  await redis.restart();
  await waitAvailable(ca, 3000);
  await a.beat();
  t.same(await look.zrange(heartbeatKey('ns/svc'), '0', '-1'), ['a'], 'Redis lost the set: only a is in it');
  t.equal(a.livePods(), 2, 'a keeps counting b until b had time to beat');
});
